"""Cache keys: chained through direct dependencies, and only through them."""

from __future__ import annotations

from builder.definitions.loader import load_catalog
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys


def keys_of(root, project="demo", platform="debian-12", arch="amd64"):
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects[project], catalog.platforms[platform], arch)
    return {name: record.key for name, record in compute_keys(graph, root.path).items()}, graph


def build_chain(root):
    """A layered graph where every software has dependents at different depths."""
    root.software("zlib")
    root.software("openssl", ["zlib"])
    root.software("pcre2")
    root.software("curl", ["openssl", "zlib"])
    root.software("git", ["curl", "pcre2"])
    root.software("nginx", ["openssl", "pcre2", "zlib"])
    root.software("runit")
    root.project("demo", ["git", "nginx", "runit"])


def test_changing_each_software_changes_exactly_it_and_its_dependents(root):
    build_chain(root)
    before, graph = keys_of(root)
    assert len(set(before.values())) == len(before)
    for name in graph.order:
        path = root.path / f"software/{name}.yml"
        original = path.read_text()
        path.write_text(original.replace('version: "1.0"', 'version: "1.1"'))
        after, _ = keys_of(root)
        changed = {n for n in before if before[n] != after[n]}
        assert changed == {name} | graph.dependents(name), name
        path.write_text(original)
    assert keys_of(root)[0] == before


def test_reordering_dependency_lists_changes_no_key(root):
    build_chain(root)
    before, _ = keys_of(root)
    root.project("demo", ["runit", "nginx", "git"])
    root.software("nginx", ["zlib", "pcre2", "openssl"])
    assert keys_of(root)[0] == before


def test_key_follows_canonical_form_not_file_text(root):
    build_chain(root)
    before, _ = keys_of(root)
    path = root.path / "software/zlib.yml"
    path.write_text("# a comment\n" + path.read_text().replace("license: MIT", "license: 'MIT'")
                    + "description: a new description\n")
    assert keys_of(root)[0] == before


def test_source_checksum_counts_but_mirror_url_does_not(root):
    digest = "a" * 64
    source = "source: {url: https://one.example.test/z.tgz, sha256: %s}\n"
    root.software("zlib", extra=source % digest)
    root.project("demo", ["zlib"])
    first, _ = keys_of(root)
    root.software("zlib", extra=(source % digest).replace("one.", "two."))
    assert keys_of(root)[0] == first
    root.software("zlib", extra=source % ("b" * 64))
    assert keys_of(root)[0] != first


def test_patch_and_template_contents_count(root):
    root.write("software/patches/zlib/fix.patch", "one\n")
    root.write("templates/zlib/conf.j2", "x={{ a }}\n")
    root.software("zlib", extra="patches: [fix.patch]\ntemplates: [zlib/conf.j2]\n")
    root.software("app", ["zlib"])
    root.project("demo", ["app"])
    first, _ = keys_of(root)
    root.write("software/patches/zlib/fix.patch", "two\n")
    second, _ = keys_of(root)
    assert second["zlib"] != first["zlib"] and second["app"] != first["app"]
    root.write("templates/zlib/conf.j2", "y={{ a }}\n")
    assert keys_of(root)[0]["zlib"] != second["zlib"]


def test_path_source_contents_count(root):
    root.write("src/hello/main.c", "int main(void){return 0;}\n")
    root.software("hello", extra="source: {path: src/hello}\n")
    root.project("demo", ["hello"])
    first, _ = keys_of(root)
    root.write("src/hello/main.c", "int main(void){return 1;}\n")
    assert keys_of(root)[0] != first


def test_platform_and_arch_count_but_edition_and_project_do_not(root):
    build_chain(root)
    root.project("demo-ee", ["git", "nginx", "runit"], edition="ee")
    ce, _ = keys_of(root)
    assert keys_of(root, project="demo-ee")[0] == ce
    assert set(keys_of(root, arch="arm64")[0].values()).isdisjoint(ce.values())
    assert set(keys_of(root, platform="el-9")[0].values()).isdisjoint(ce.values())


def test_packaging_only_platform_facts_do_not_count(root):
    build_chain(root)
    before, _ = keys_of(root)
    path = root.path / "platforms/debian-12.yml"
    path.write_text(path.read_text().replace("level: 6", "level: 9").replace("2.36", "2.41"))
    assert keys_of(root)[0] == before
    path.write_text(path.read_text().replace('cflags: "-O2"', 'cflags: "-O3"'))
    assert set(keys_of(root)[0].values()).isdisjoint(before.values())


def test_builder_recipe_counts(root):
    build_chain(root)
    before, _ = keys_of(root)
    root.write("Dockerfile.builder", "FROM x\n")
    first, _ = keys_of(root)
    assert set(first.values()).isdisjoint(before.values())
    root.write("Dockerfile.builder", "FROM y\n")
    assert set(keys_of(root)[0].values()).isdisjoint(first.values())


def test_network_builds_key_apart_and_offline_keys_stay_as_they_were(root):
    build_chain(root)
    before, _ = keys_of(root)
    path = root.path / "software/pcre2.yml"
    path.write_text(path.read_text().replace("license: MIT", "license: MIT\nnetwork: false"))
    assert keys_of(root)[0] == before  # saying the default changes nothing
    path.write_text(path.read_text().replace("network: false", "network: true"))
    after, _ = keys_of(root)
    assert {n for n in before if before[n] != after[n]} == {"pcre2", "git", "nginx"}


def test_a_substitute_changes_the_keys_of_what_depends_on_it_only(root):
    build_chain(root)
    root.software("zlib-compat")
    before, _ = keys_of(root)
    root.project("demo", ["git", "nginx", "runit"], extra="substitutes: {zlib: zlib-compat}\n")
    after, _ = keys_of(root)
    assert "zlib" not in after and after["zlib-compat"] != before["zlib"]
    assert after["pcre2"] == before["pcre2"] and after["runit"] == before["runit"]
    assert after["openssl"] != before["openssl"]  # its dependency is another software now
