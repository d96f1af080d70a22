"""Applying patches with the real GNU patch, on a small tree in tmp_path."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from builder.errors import BuilderError, PatchError
from builder.sources.patching import apply_patches

ORIGINAL = "".join(f"line {n}\n" for n in range(1, 31))


def edited(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert f"{old}\n" in text
        text = text.replace(f"{old}\n", f"{new}\n")
    return text


def write_patch(path: Path, before: str, after: str, name: str = "f.txt") -> Path:
    diff = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                f"a/{name}", f"b/{name}")
    path.write_text("".join(diff))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "f.txt").write_text(ORIGINAL)
    return tree


def tree_files(tree: Path) -> list[str]:
    return sorted(p.name for p in tree.iterdir())


def test_good_patch_applies_without_leftovers(source, tmp_path):
    after = edited(ORIGINAL, ("line 3", "line three"), ("line 20", "line twenty"))
    patch = write_patch(tmp_path / "fix.patch", ORIGINAL, after)
    apply_patches(source, [patch], "demo")
    assert (source / "f.txt").read_text() == after
    assert tree_files(source) == ["f.txt"]  # no .orig, no .rej


def test_failing_hunk_names_patch_and_hunk_and_leaves_the_tree_alone(source, tmp_path):
    # The tree's line 20 differs from what the patch expects, around hunk 2 only.
    (source / "f.txt").write_text(edited(ORIGINAL, ("line 19", "changed 19"), ("line 20", "x"),
                                         ("line 21", "changed 21")))
    before = (source / "f.txt").read_text()
    after = edited(ORIGINAL, ("line 3", "line three"), ("line 20", "line twenty"))
    patch = write_patch(tmp_path / "fix.patch", ORIGINAL, after)
    with pytest.raises(PatchError) as raised:
        apply_patches(source, [patch], "demo")
    error = raised.value
    assert (error.software, error.patch) == ("demo", "fix.patch")
    message = str(error)
    assert message.startswith("demo: patch fix.patch does not apply\n"
                              "patch 1 of 1; patch --dry-run says:\n")
    assert "checking file f.txt" in message
    assert "Hunk #2 FAILED at 17." in message
    assert "Hunk #1" not in message  # hunk 1 would apply: only failures are listed
    assert error.hint == "refresh software/patches/demo/fix.patch against the new source"
    assert (source / "f.txt").read_text() == before  # hunk 1 was not applied either
    assert tree_files(source) == ["f.txt"]


def test_patch_already_applied_is_refused(source, tmp_path):
    after = edited(ORIGINAL, ("line 3", "line three"))
    patch = write_patch(tmp_path / "fix.patch", ORIGINAL, after)
    apply_patches(source, [patch], "demo")
    with pytest.raises(PatchError) as raised:
        apply_patches(source, [patch], "demo")
    message = str(raised.value)
    assert "patch 1 of 1: already applied to this source tree" in message
    assert "Reversed (or previously applied) patch detected" in message
    assert (source / "f.txt").read_text() == after
    assert tree_files(source) == ["f.txt"]


def test_patches_apply_in_order(source, tmp_path):
    first = edited(ORIGINAL, ("line 3", "line three"))
    second = edited(first, ("line three", "LINE THREE"))  # only applies after the first
    one = write_patch(tmp_path / "01-one.patch", ORIGINAL, first)
    two = write_patch(tmp_path / "02-two.patch", first, second)
    apply_patches(source, [one, two], "demo")
    assert (source / "f.txt").read_text() == second


def test_out_of_order_patch_fails_and_names_its_position(source, tmp_path):
    first = edited(ORIGINAL, ("line 3", "line three"))
    one = write_patch(tmp_path / "01-one.patch", ORIGINAL, first)
    two = write_patch(tmp_path / "02-two.patch", first, edited(first, ("line three", "3")))
    with pytest.raises(PatchError) as raised:
        apply_patches(source, [two, one], "demo")
    assert raised.value.patch == "02-two.patch"
    assert "patch 1 of 2; patch --dry-run says:" in str(raised.value)
    assert (source / "f.txt").read_text() == ORIGINAL


def test_failure_in_a_later_patch_keeps_the_earlier_ones(source, tmp_path):
    first = edited(ORIGINAL, ("line 3", "line three"))
    one = write_patch(tmp_path / "01-one.patch", ORIGINAL, first)
    stale = write_patch(tmp_path / "02-stale.patch", edited(ORIGINAL, ("line 9", "nine")),
                        edited(ORIGINAL, ("line 9", "NINE")))
    with pytest.raises(PatchError) as raised:
        apply_patches(source, [one, stale], "demo")
    assert raised.value.patch == "02-stale.patch"
    assert "patch 2 of 2" in str(raised.value)
    assert "Hunk #1 FAILED" in str(raised.value)
    assert (source / "f.txt").read_text() == first


def test_patch_for_a_missing_file_fails(source, tmp_path):
    patch = write_patch(tmp_path / "new.patch", "a\n", "b\n", name="missing.c")
    with pytest.raises(PatchError, match="can't find file to patch"):
        apply_patches(source, [patch], "demo")
    assert tree_files(source) == ["f.txt"]


def test_relative_patch_path_is_found_from_the_callers_directory(source, tmp_path,
                                                                  monkeypatch):
    after = edited(ORIGINAL, ("line 3", "line three"))
    (tmp_path / "patches").mkdir()
    write_patch(tmp_path / "patches" / "fix.patch", ORIGINAL, after)
    monkeypatch.chdir(tmp_path)
    apply_patches(source, [Path("patches/fix.patch")], "demo")
    assert (source / "f.txt").read_text() == after


def test_missing_patch_program_says_how_to_install_it(source, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    apply_patches(source, [], "demo")  # nothing to apply: patch is not needed
    with pytest.raises(BuilderError) as raised:
        apply_patches(source, [tmp_path / "fix.patch"], "demo")
    assert "'patch' program is not installed" in str(raised.value)
    assert raised.value.hint == "apt-get install patch"
