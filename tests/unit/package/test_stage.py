"""Staging: the union of artifacts, exclusions, conflicts, and atomic replacement."""

from __future__ import annotations

import os

import pytest

from builder.errors import BuilderError
from builder.package.stage import add_generated, glob_regex, make_stage
from tests.packaging_helpers import toy_layers, toy_stage


def test_stage_is_the_union_minus_exclusions(tmp_path):
    stage = toy_stage(tmp_path)
    paths = [entry.path for entry in stage.entries]
    assert paths == sorted(paths)
    assert "opt/toy/bin/tool" in paths and "opt/toy/share/data/table.txt" in paths
    assert "opt/toy/lib/libtool.a" not in paths  # project exclusion
    assert "opt/toy/etc/secret" not in paths  # the software's package_excludes
    assert not any(".git" in path for path in paths)  # version control leftovers
    assert paths[:2] == ["opt", "opt/toy"]
    owners = {entry.path: entry.owner for entry in stage.entries}
    assert owners["opt/toy/share/data/table.txt"] == "second"


def test_stage_keeps_modes_links_and_hard_links(tmp_path):
    stage = toy_stage(tmp_path)
    entries = {entry.path: entry for entry in stage.entries}
    assert entries["opt/toy/bin/tool"].mode == 0o755
    assert entries["opt/toy/share/data/table.txt"].mode == 0o640
    assert entries["opt/toy/bin/tool-link"].kind == "symlink"
    assert entries["opt/toy/bin/tool-link"].target == "tool"
    tool = os.stat(stage.root / "opt/toy/bin/tool")
    alias = os.stat(stage.root / "opt/toy/bin/tool-alias")
    assert (tool.st_dev, tool.st_ino) == (alias.st_dev, alias.st_ino)


def test_two_software_installing_different_contents_at_one_path_is_refused(tmp_path):
    layers = toy_layers(tmp_path)
    clash = tmp_path / "clash" / "bin"
    clash.mkdir(parents=True)
    (clash / "tool").write_text("something else\n")
    with pytest.raises(BuilderError) as error:
        make_stage([*layers, ("third", clash.parent, ())], "/opt/toy", [], tmp_path / "stage")
    assert "first and third both install bin/tool" in error.value.message
    assert "package_excludes" in error.value.hint
    assert not (tmp_path / "stage").exists()
    assert not list(tmp_path.glob(".stage.new-*"))


def test_identical_files_from_two_software_are_fine(tmp_path):
    layers = toy_layers(tmp_path)
    same = tmp_path / "same" / "bin"
    same.mkdir(parents=True)
    (same / "tool").write_text("#!/bin/sh\necho tool\n")
    stage = make_stage([*layers, ("third", same.parent, ())], "/opt/toy", [], tmp_path / "stage")
    assert [e.owner for e in stage.entries if e.path == "opt/toy/bin/tool"] == ["first"]


def test_restaging_replaces_the_old_stage_whole(tmp_path):
    toy_stage(tmp_path)
    (tmp_path / "stage" / "opt/toy/stray").write_text("left over")
    stage = toy_stage(tmp_path / "again")
    restaged = make_stage(toy_layers(tmp_path / "third"), "/opt/toy", [], tmp_path / "stage")
    assert not (restaged.root / "opt/toy/stray").exists()
    assert len(restaged.entries) > len(stage.entries)  # no exclusions this time


def test_generated_files_never_write_through_a_hard_link(tmp_path):
    stage = toy_stage(tmp_path)
    original = tmp_path / "first" / "bin" / "tool"
    before = original.read_text()
    os.link(original, stage.root / "opt/toy/manifest.json")
    stage = add_generated(stage, "manifest.json", b"{}\n")
    assert original.read_text() == before
    assert (stage.root / "opt/toy/manifest.json").read_bytes() == b"{}\n"
    assert [e.size for e in stage.entries if e.path == "opt/toy/manifest.json"] == [3]


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("embedded/lib/**/*.a", "embedded/lib/libz.a", True),
    ("embedded/lib/**/*.a", "embedded/lib/x/y/libz.a", True),
    ("embedded/lib/**/*.a", "embedded/lib/libz.so", False),
    ("**/.git", "a/b/.git", True),
    ("**/.git", ".git", True),
    ("embedded/share/doc", "embedded/share/doc", True),
    ("embedded/*.txt", "embedded/a/b.txt", False),
])
def test_exclusion_globs(pattern, path, matches):
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


def test_leftovers_of_killed_runs_are_removed(tmp_path):
    dead = tmp_path / ".stage.new-999999999"
    (dead / "opt").mkdir(parents=True)
    alive = tmp_path / ".stage.old-1"  # pid 1 is always alive
    alive.mkdir()
    toy_stage(tmp_path)
    assert not dead.exists()
    assert alive.exists()  # a live run's is left to it
