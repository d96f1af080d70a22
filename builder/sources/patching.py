"""Applying a software's patches to its extracted source tree, in order, with GNU patch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from builder.errors import BuilderError, PatchError

_FLAGS = ("-p1", "--batch", "--forward", "--no-backup-if-mismatch")
# The lines of patch's output worth repeating: failed hunks, skipped patches, fatal errors.
_PROBLEM = re.compile(r"FAILED|Reversed \(or previously applied\)|ignored|Skipping patch|"
                      r"can't find file|No file to patch|malformed|Only garbage|\*\*\*\*")
_FILE_LINE = re.compile(r"^(checking|patching) file ")
_ALREADY_APPLIED = "Reversed (or previously applied) patch detected"
_TAIL_LINES = 10


def _patch_program() -> str:
    program = shutil.which("patch")
    if program is None:
        raise BuilderError("cannot apply patches: the 'patch' program is not installed",
                           hint="apt-get install patch")
    return program


def _run(command: list[str], source_dir: Path) -> subprocess.CompletedProcess[str]:
    # The C locale keeps patch's messages in the English this module reads.
    env = dict(os.environ, LC_ALL="C")
    env.pop("POSIXLY_CORRECT", None)  # changes how patch treats backups and file names
    return subprocess.run(command, cwd=source_dir, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", check=False)


def _failure_details(output: str, position: str, command: str = "patch --dry-run") -> str:
    """The failing hunks from patch's output, each under the file it belongs to."""
    kept: list[str] = []
    current_file = None
    for line in output.splitlines():
        if _FILE_LINE.match(line):
            current_file = line
        elif _PROBLEM.search(line):
            if current_file is not None:
                kept.append(current_file)
                current_file = None
            kept.append(line)
    if not kept:  # an unexpected failure: show the end of what patch said
        kept = output.splitlines()[-_TAIL_LINES:] or ["patch gave no output"]
    if _ALREADY_APPLIED in output:
        headline = f"{position}: already applied to this source tree (or reversed); patch says:"
    else:
        headline = f"{position}; {command} says:"
    return "\n".join([headline, *(f"  {line}" for line in kept)])


def _apply_one(program: str, source_dir: Path, patch: Path, software: str,
               position: str) -> None:
    # An absolute path, because patch runs inside the source tree.
    command = [program, *_FLAGS, f"--input={patch.absolute()}"]
    # The dry run keeps a failing patch from leaving the tree half patched.
    dry_run = _run([*command, "--dry-run"], source_dir)
    if dry_run.returncode != 0:
        output = dry_run.stdout + dry_run.stderr
        raise PatchError(software, patch.name, _failure_details(output, position))
    applied = _run(command, source_dir)
    if applied.returncode != 0:
        output = applied.stdout + applied.stderr
        raise PatchError(software, patch.name,
                         _failure_details(output, position, "patch, after a clean dry run,"))


def apply_patches(source_dir: Path, patches: Sequence[Path], software: str) -> None:
    """Apply `patches` to `source_dir` in order, as `patch -p1`.

    Each patch is first tried with --dry-run; if any hunk fails, or the patch is already
    applied, PatchError names the patch, lists the failing hunks with their files, says which
    patch of how many it is, and the tree is as the earlier patches left it.
    """
    if not patches:
        return
    program = _patch_program()
    for number, patch in enumerate(patches, start=1):
        _apply_one(program, source_dir, patch, software, f"patch {number} of {len(patches)}")
