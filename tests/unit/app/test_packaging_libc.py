"""The C library dependency a package gets from the health check (computed from the GLIBC_
symbol versions its ELF files need), and the modes of what packaging writes beside the
packages: a real program compiled here, packaged through `package_project` as `omnibus
package` does, read back with dpkg-deb and rpm."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from builder.app.package import (
    PackageSettings,
    package_project,
    with_dependencies,
)
from builder.compile.artifacts import store
from builder.compile.cache import ArtifactCache
from builder.definitions.loader import load_catalog
from builder.package.healthcheck import inspect_stage, libc_dependencies, read_elf
from builder.package.stage import make_stage
from builder.package.version import BuildIdentity
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from tests.conftest import REPO
from tests.packaging_helpers import EPOCH, check_golden

#: getrandom bound to the version node it was added in (glibc 2.25) whatever the host's glibc
#: is, so the highest version the library needs, and so the golden, is the same everywhere.
NEEDS_2_25 = """\
#include <stddef.h>
#include <sys/types.h>
__asm__(".symver getrandom,getrandom@GLIBC_2.25");
ssize_t getrandom(void *buffer, size_t length, unsigned int flags);
long draw(void) { long value = 0; getrandom(&value, sizeof value, 0); return value; }
"""
ALLOWED = ("ld-linux", r"libc\.so")


def compile_library(directory: Path, name: str = "libdraw.so") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = directory.parent / "draw.c"
    source.write_text(NEEDS_2_25)
    library = directory / name
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source)],
                   check=True, capture_output=True)
    return library


def test_a_real_library_needs_the_version_its_symbol_is_bound_to(tmp_path):
    library = compile_library(tmp_path / "tree" / "lib")
    facts = read_elf(str(library))
    assert facts is not None and facts.glibc == (2, 25) and facts.bits == 64
    stage = make_stage([("draw", tmp_path / "tree", ())], "/opt/toy", [], tmp_path / "stage")
    health = inspect_stage(stage, ALLOWED, "2.36", {})
    assert health.offences == [] and health.glibc == {64: (2, 25)}
    assert libc_dependencies(health.glibc, "deb") == ["libc6 (>= 2.25)"]
    assert libc_dependencies(health.glibc, "rpm") == ["libc.so.6(GLIBC_2.25)(64bit)"]


def test_libc_dependencies_per_format_and_elf_class():
    assert libc_dependencies({}, "deb") == [] and libc_dependencies({}, "rpm") == []
    # armhf: 32-bit ELF files, so the soname's requirement has no (64bit) mark
    assert libc_dependencies({32: (2, 34)}, "rpm") == ["libc.so.6(GLIBC_2.34)"]
    assert libc_dependencies({32: (2, 4)}, "deb") == ["libc6 (>= 2.4)"]
    assert libc_dependencies({64: (2, 2, 5)}, "deb") == ["libc6 (>= 2.2.5)"]
    # versions compare as numbers: 2.35 is above 2.4
    both = {32: (2, 4), 64: (2, 35)}
    assert libc_dependencies(both, "deb") == ["libc6 (>= 2.35)"]
    assert libc_dependencies(both, "rpm") == ["libc.so.6(GLIBC_2.4)",
                                              "libc.so.6(GLIBC_2.35)(64bit)"]


def test_a_computed_dependency_takes_the_place_of_a_plain_declaration():
    assert with_dependencies(("perl", "libc6", "git"), ["libc6 (>= 2.35)"]) == (
        "perl", "libc6 (>= 2.35)", "git")
    assert with_dependencies(("libc6", "perl", "libc6"), ["libc6 (>= 2.35)"]) == (
        "libc6 (>= 2.35)", "perl")
    assert with_dependencies(("perl",), ["libc6 (>= 2.35)"]) == ("perl", "libc6 (>= 2.35)")
    # a versioned declaration is the project's own, and stays
    assert with_dependencies(("libc6 (>= 2.17)",), ["libc6 (>= 2.35)"]) == (
        "libc6 (>= 2.17)", "libc6 (>= 2.35)")
    assert with_dependencies(("perl",), []) == ("perl",)


PROJECT = """\
name: demo
description: |-
  Demonstration package
  A library compiled by the tests.
maintainer: Test <t@example.test>
homepage: https://example.test/
license: MIT
edition: ce
version: {value: 1.2.3}
install_dir: /opt/demo
dependencies: [draw]
runtime_dependencies:
  - perl
  - {name: libc6, when: {format: deb}}
"""


@pytest.fixture
def packaged(root, tmp_path):
    """`package_project` over a real library, under umask 022, as `omnibus package` runs."""
    root.write("software/draw.yml", 'name: draw\nversion: "1.0"\nlicense: MIT\n'
               "build:\n  - make install\n")
    root.write("projects/demo.yml", PROJECT)
    shutil.copy(REPO / "platforms" / "debian-12.yml", root.path / "platforms")
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"],
                    "amd64")
    keys = compute_keys(graph, root.path)
    cache = ArtifactCache(tmp_path / "cache")
    upper = tmp_path / "upper"
    compile_library(upper / "embedded" / "lib")
    store(cache, keys["draw"].key, upper, {"name": "draw"}, EPOCH)
    settings = PackageSettings(root.path, cache.root, tmp_path / "pkg", ("deb", "rpm"),
                               BuildIdentity(), EPOCH, threads=1)
    previous = os.umask(0o022)
    try:
        packages = package_project(graph, keys, {}, settings)
    finally:
        os.umask(previous)
    return {path.suffix: path for path in packages}


def field(package: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(package), name], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed")
def test_packages_depend_on_the_c_library_their_binaries_need_golden(packaged):
    requires = subprocess.run(["rpm", "-qp", "--requires", str(packaged[".rpm"])], check=True,
                              capture_output=True, text=True).stdout
    check_golden("demo-libc.dependencies",
                 f"deb Depends: {field(packaged['.deb'], 'Depends')}rpm Requires:\n{requires}")
    assert field(packaged[".deb"], "Depends") == "perl, libc6 (>= 2.25)\n"
    assert "libc.so.6(GLIBC_2.25)(64bit)" in requires.splitlines()


def test_everything_written_into_pkg_is_world_readable_under_umask_022(packaged):
    out = packaged[".deb"].parent
    written = sorted(path.name for path in out.iterdir())
    assert written == [
        "demo-1.2.3-ce.0.x86_64.rpm", "demo-1.2.3-ce.0.x86_64.rpm.metadata.json",
        "demo-1.2.3-ce.0.x86_64.rpm.sha256", "demo-1.2.3-ce.0.x86_64.rpm.size",
        "demo_1.2.3-ce.0.license-status.json", "demo_1.2.3-ce.0.licenses.html",
        "demo_1.2.3-ce.0.spdx.json", "demo_1.2.3-ce.0_amd64.deb",
        "demo_1.2.3-ce.0_amd64.deb.metadata.json", "demo_1.2.3-ce.0_amd64.deb.sha256",
        "demo_1.2.3-ce.0_amd64.deb.size"]
    modes = {name: stat.S_IMODE((out / name).stat().st_mode) for name in written}
    assert modes == dict.fromkeys(written, 0o644)
