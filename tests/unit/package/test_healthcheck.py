"""The health check over a stage of tiny real programs, compiled here with the host's gcc."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.definitions.model import HealthCheckRules
from builder.package.healthcheck import check_stage, read_elf
from builder.package.stage import make_stage

ALLOWED = ("ld-linux", r"libc\.so", r"libm\.so")
LIB_C = 'const char *greet(void) { return "hi"; }\n'
MAIN_C = '#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); }\n'


def gcc(*args: str) -> None:
    subprocess.run(["gcc", *args], check=True, capture_output=True)


def program(tree: Path, name: str, library_dir: Path, rpath: str) -> None:
    """tree/bin/NAME, linked against libgreet.so from library_dir, with the given RUNPATH."""
    (tree / "bin").mkdir(parents=True, exist_ok=True)
    source = tree.parent / f"{name}.c"
    source.write_text(MAIN_C)
    gcc("-o", str(tree / "bin" / name), str(source), f"-L{library_dir}", "-lgreet",
        f"-Wl,-rpath,{rpath}", "-Wl,--enable-new-dtags")


def library(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    source = directory.parent / "greet.c"
    source.write_text(LIB_C)
    gcc("-shared", "-fPIC", "-o", str(directory / "libgreet.so"), str(source))


def check(tmp_path: Path, tree: Path, glibc: str = "2.36", rules=None):
    stage = make_stage([("toy", tree, ())], "/opt/toy", [], tmp_path / "stage")
    return check_stage(stage, ALLOWED, glibc, rules or {})


@pytest.fixture
def good(tmp_path) -> Path:
    """A correct tree: bin/hello needs libgreet.so from the install dir's embedded/lib."""
    tree = tmp_path / "tree"
    library(tree / "embedded" / "lib")
    program(tree, "hello", tree / "embedded" / "lib", "/opt/toy/embedded/lib")
    return tree


def test_a_correct_tree_passes_and_facts_are_read(tmp_path, good):
    assert check(tmp_path, good) == []
    facts = read_elf(str(good / "bin" / "hello"))
    assert facts is not None
    assert facts.needed == ("libgreet.so", "libc.so.6")
    assert facts.search_paths == ("/opt/toy/embedded/lib",)
    assert facts.glibc >= (2, 2)


def test_a_library_outside_the_install_dir_is_caught(tmp_path, good):
    outside = tmp_path / "elsewhere" / "lib"
    library(outside)
    program(good, "stray", outside, str(outside))
    (found,) = check(tmp_path, good)
    assert (found.path, found.owner, found.rule) == (
        "/opt/toy/bin/stray", "toy", "unresolved or disallowed library")
    assert f"searched RPATH/RUNPATH: {outside})" in found.detail


def test_a_broken_rpath_is_caught(tmp_path, good):
    (good / "embedded" / "lib" / "libgreet.so").rename(good / "embedded" / "libgreet.so")
    (found,) = check(tmp_path, good)
    assert found.path == "/opt/toy/bin/hello"
    assert "needs libgreet.so: not in the install dir" in found.detail


def test_a_library_allowed_for_one_software_passes(tmp_path, good):
    (good / "embedded" / "lib" / "libgreet.so").unlink()
    rules = {"toy": HealthCheckRules(allow_libs=(r"libgreet\.so",))}
    assert check(tmp_path, good, rules=rules) == []


def test_a_newer_glibc_than_the_platform_has_is_caught(tmp_path, good):
    needs = ".".join(map(str, read_elf(str(good / "bin" / "hello")).glibc))
    offences = check(tmp_path, good, glibc="2.1")
    assert {o.rule for o in offences} == {"glibc too new"}
    assert f"needs GLIBC_{needs}, the platform has glibc 2.1" in offences[0].detail


def test_modes_links_and_build_paths(tmp_path, good):
    (good / "share").mkdir()
    writable = good / "share" / "open"
    writable.write_text("x")
    os.chmod(writable, 0o666)
    setuid = good / "bin" / "su-tool"
    setuid.write_text("#!/bin/sh\n")
    os.chmod(setuid, 0o4755)
    os.symlink("missing", good / "share" / "dangling")
    os.symlink("/etc/passwd", good / "share" / "escape")
    os.symlink("/opt/toy/bin/hello", good / "share" / "inside")
    (good / "share" / "Makefile.global").write_text("CFLAGS = -I/src/postgresql-15.18/include\n")
    (good / "share" / "notes").write_text("see /usr/src/linux, ./src/x/ and doc/src/sgml/\n")
    found = {(o.path.rpartition("/")[2], o.rule) for o in check(tmp_path, good)}
    assert found == {("open", "world-writable"), ("su-tool", "setuid/setgid"),
                     ("dangling", "broken symlink"),
                     ("escape", "absolute symlink leaving the install dir"),
                     ("Makefile.global", "build path in text file")}
    rules = {"toy": HealthCheckRules(allow_files=("bin/su-tool",))}
    assert "su-tool" not in {o.path.rpartition("/")[2] for o in check(tmp_path, good,
                                                                     rules=rules)}
