"""`path` sources: one directory (its contents are the source root) or a list of directories
(each at its relative path), digested for the cache key without Python's bytecode."""

from __future__ import annotations

import pytest

from builder.app.build import check_path_sources
from builder.definitions.loader import load_catalog
from builder.definitions.model import PathSource
from builder.errors import BuilderError, DefinitionError, FetchError
from builder.formats.scripts import manifest_text
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from builder.sources.fetchers import FetchContext
from builder.sources.fetchers.path import fetch
from builder.sources.workspace import unpack_source

LISTED = "source: {path: [gitlab_ctl, templates/config]}\n"


def two_dirs(root):
    root.write("gitlab_ctl/__init__.py", "")
    root.write("gitlab_ctl/cli.py", "print('hi')\n")
    root.write("gitlab_ctl/defaults.yml", "a: 1\n")
    root.write("templates/config/nginx/nginx.conf.j2", "worker_processes {{ n }};\n")
    root.write("templates/other.txt", "not listed\n")
    root.software("ctl", extra=LISTED)
    root.project("demo", ["ctl"])


def key_of(root, name="ctl"):
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    return compute_keys(graph, root.path)[name].key


def fetched(root, name="ctl"):
    software = load_catalog(root.path).software[name]
    return fetch(software, FetchContext(root=root.path, cache_dir=root.path / "cache", mirrors=()))


def test_list_form_loads_as_a_tuple_and_a_string_stays_a_string(root):
    two_dirs(root)
    root.write("src/hello/main.c", "int main(void) { return 0; }\n")
    root.software("hello", extra="source: {path: src/hello}\n")
    software = load_catalog(root.path).software
    assert software["ctl"].source == PathSource(("gitlab_ctl", "templates/config"))
    assert software["hello"].source == PathSource("src/hello")
    assert software["hello"].source.identity() == "path:src/hello"


def test_list_form_copies_each_directory_to_its_relative_path(root, tmp_path):
    two_dirs(root)
    (root.path / "gitlab_ctl/__pycache__").mkdir()
    root.write("gitlab_ctl/__pycache__/cli.cpython-313.pyc", "bytecode")
    root.write("gitlab_ctl/stray.pyc", "bytecode")
    source_root = unpack_source(fetched(root), tmp_path / "src")
    files = sorted(p.relative_to(source_root).as_posix()
                   for p in source_root.rglob("*") if p.is_file())
    assert files == ["gitlab_ctl/__init__.py", "gitlab_ctl/cli.py", "gitlab_ctl/defaults.yml",
                     "templates/config/nginx/nginx.conf.j2"]


def test_single_directory_contents_become_the_source_root(root, tmp_path):
    root.write("src/hello/main.c", "int main(void) { return 0; }\n")
    root.write("src/hello/__pycache__/x.cpython-313.pyc", "bytecode")
    root.software("hello", extra="source: {path: src/hello}\n")
    root.project("demo", ["hello"])
    source_root = unpack_source(fetched(root, "hello"), tmp_path / "src")
    assert sorted(p.name for p in source_root.iterdir()) == ["main.c"]


@pytest.mark.parametrize("changed", ["gitlab_ctl/cli.py", "templates/config/nginx/nginx.conf.j2"])
def test_key_changes_when_a_file_in_either_directory_changes(root, changed):
    two_dirs(root)
    before = key_of(root)
    (root.path / changed).write_text("changed\n")
    assert key_of(root) != before


def test_key_changes_when_a_file_is_added_or_made_executable(root):
    two_dirs(root)
    before = key_of(root)
    root.write("templates/config/new.j2", "x\n")
    added = key_of(root)
    assert added != before
    (root.path / "templates/config/new.j2").chmod(0o755)
    assert key_of(root) != added


def test_key_ignores_bytecode_and_unlisted_directories(root):
    two_dirs(root)
    before = key_of(root)
    root.write("gitlab_ctl/__pycache__/cli.cpython-313.pyc", "bytecode")
    root.write("templates/config/__pycache__/x.pyc", "bytecode")
    root.write("gitlab_ctl/cli.pyc", "bytecode")
    root.write("templates/other.txt", "changed, but not listed\n")
    assert key_of(root) == before


def test_key_depends_on_which_directories_are_listed(root):
    two_dirs(root)
    before = key_of(root)
    root.software("ctl", extra="source: {path: [gitlab_ctl, templates]}\n")
    assert key_of(root) != before


def test_a_missing_entry_names_the_definition_and_the_entry(root):
    two_dirs(root)
    root.software("ctl", extra="source: {path: [gitlab_ctl, templates/confg]}\n")
    with pytest.raises(FetchError) as error:
        fetched(root)
    assert "'templates/confg' is not a directory" in error.value.message
    assert "software/ctl.yml" in error.value.hint


@pytest.mark.parametrize(("entries", "problem"), [
    ("[]", "at least one directory"),
    ("[../outside]", "not a plain relative path"),
    ("[/abs]", "not a plain relative path"),
    ("[templates/]", "not a plain relative path"),
    ("[./gitlab_ctl]", "not a plain relative path"),
    ("[templates, templates/config]", "overlaps 'templates'"),
    ("[gitlab_ctl, gitlab_ctl]", "overlaps 'gitlab_ctl'"),
    ("[{a: b}]", "must be a directory"),
])
def test_bad_lists_are_refused_with_the_line(root, entries, problem):
    root.software("ctl", extra=f"source:\n  path: {entries}\n")
    with pytest.raises(DefinitionError) as error:
        load_catalog(root.path)
    assert problem in str(error.value)
    assert "software/ctl.yml" in str(error.value)


def test_version_manifest_text_names_every_listed_directory():
    manifest = {"build_version": "1", "software": {"ctl": {
        "locked_version": "1", "locked_source": {"path": ["gitlab_ctl", "templates/config"]}}}}
    assert b"path:gitlab_ctl,templates/config" in manifest_text(manifest, "demo")


def test_the_build_uses_the_snapshot_taken_when_fetching(root, tmp_path):
    two_dirs(root)
    source = fetched(root)
    assert source.path == root.path / "cache" / "path-sources" / source.locked_version
    keys = {"ctl": compute_keys(*_graph_and_root(root))["ctl"]}
    check_path_sources({"ctl": source}, keys)  # unchanged: fine
    root.write("gitlab_ctl/cli.py", "print('edited during the build')\n")
    source_root = unpack_source(source, tmp_path / "src")
    assert (source_root / "gitlab_ctl/cli.py").read_text() == "print('hi')\n"
    edited = {"ctl": compute_keys(*_graph_and_root(root))["ctl"]}
    with pytest.raises(BuilderError, match="ctl: its source files changed"):
        check_path_sources({"ctl": source}, edited)


def _graph_and_root(root):
    catalog = load_catalog(root.path)
    return (resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64"),
            root.path)
