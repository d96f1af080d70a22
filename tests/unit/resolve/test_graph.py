"""Dependency graphs: conditions, closure, levels and a deterministic order."""

from __future__ import annotations

import pytest

from builder.cycles import find_cycle
from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError, DependencyCycleError, UsageError
from builder.resolve.graph import resolve


def graph_of(root, project="demo", platform="debian-12", arch="amd64"):
    catalog = load_catalog(root.path)
    return resolve(catalog, catalog.projects[project], catalog.platforms[platform], arch)


def test_closure_levels_and_order(root):
    root.diamond()
    root.software("unused", ["zlib"])
    graph = graph_of(root)
    assert set(graph.software) == {"app", "liba", "libb", "zlib", "leaf"}
    assert graph.levels == (("leaf", "zlib"), ("liba", "libb"), ("app",))
    assert graph.order == ("leaf", "zlib", "liba", "libb", "app")
    assert graph.dependents("zlib") == {"liba", "libb", "app"}
    assert graph.dependents("app") == set()


def test_order_does_not_depend_on_listing_order(root):
    root.diamond()
    first = graph_of(root)
    root.software("app", ["libb", "liba"])
    root.project("demo", ["leaf", "app"])
    second = graph_of(root)
    assert first.order == second.order
    assert first.levels == second.levels


def test_conditions_follow_edition_family_and_arch(root):
    root.software("openssl")
    root.software("libatomic")
    root.software("selinux")
    root.software("curl", extra="""\
        dependencies:
          - {name: openssl, unless: {edition: fips}}
          - {name: libatomic, when: {arch: [arm64, armhf]}}
          - {name: selinux, when: {family: rhel}}
        """)
    root.project("demo", ["curl"])
    root.project("demo-fips", ["curl"], edition="fips")
    assert set(graph_of(root).software) == {"curl", "openssl"}
    assert set(graph_of(root, arch="arm64").software) == {"curl", "openssl", "libatomic"}
    assert set(graph_of(root, "demo-fips", "el-9").software) == {"curl", "selinux"}


def test_family_override_replaces_build_and_merges_env(root):
    root.software("zlib", extra="""\
        env: {A: "1", B: "2"}
        platforms:
          rhel:
            env: {B: "3"}
            build: [echo rhel]
        """)
    root.project("demo", ["zlib"])
    debian = graph_of(root).software["zlib"]
    rhel = graph_of(root, platform="el-9").software["zlib"]
    assert dict(debian.env) == {"A": "1", "B": "2"} and debian.build[0].startswith("make")
    assert dict(rhel.env) == {"A": "1", "B": "3"} and rhel.build == ("echo rhel",)


def test_unsupported_arch_or_edition_is_a_usage_error(root):
    root.diamond()
    with pytest.raises(UsageError, match="does not support arch 'armhf'"):
        graph_of(root, arch="armhf")
    path = root.path / "platforms/el-9.yml"
    path.write_text(path.read_text().replace("editions: [ce, ee, fips]", "editions: [ee]"))
    with pytest.raises(UsageError, match="does not build the ce edition"):
        graph_of(root, platform="el-9")


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": ["x"]}) == ["x", "x"]
    assert find_cycle({"a": ["b"], "b": ["c", "d"], "c": [], "d": ["b"]}) == ["b", "d", "b"]


def test_graph_cycle_check_reports_the_cycle(root):
    # load_catalog refuses cycles too; resolve re-checks what conditions leave in place.
    root.software("a", ["b"])
    root.software("b", ["a"])
    root.project("demo", ["a"])
    with pytest.raises(DependencyCycleError, match="a -> b -> a"):
        graph_of(root)


def test_project_substitutes_replace_a_dependency_everywhere(root):
    root.diamond()
    root.software("zlib-compat")
    root.project("demo", ["app", "zlib"], extra="substitutes: {zlib: zlib-compat}\n")
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    assert "zlib" not in graph.software
    assert graph.edges["liba"] == ("zlib-compat",) and "zlib-compat" in graph.roots


def test_substitute_without_definition_is_refused(root):
    root.diamond()
    root.project("demo", ["app"], extra="substitutes: {zlib: nowhere}\n")
    with pytest.raises(DefinitionError, match="'nowhere'"):
        load_catalog(root.path)


def test_project_leave_out_drops_a_dependency_everywhere(root):
    root.diamond()
    root.project("demo", ["app", "leaf"], extra="leave_out: [libb]\n")
    graph = graph_of(root)
    assert "libb" not in graph.software and graph.edges["app"] == ("liba",)
