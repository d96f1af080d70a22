"""The .deb writer, read back with dpkg-deb."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from builder.formats import PACKAGERS, tarstream
from builder.formats.deb import writer as deb
from builder.formats.members import Member, package_members
from tests.packaging_helpers import check_golden, toy_meta, toy_stage


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def stage(tmp_path):
    return toy_stage(tmp_path / "tree")


def test_control_file_is_golden(stage, tmp_path):
    package = deb.build(stage, toy_meta(), tmp_path / "pkg")
    assert package.name == "toy_1.2.3-ce.0_amd64.deb"
    check_golden("toy.deb.control", dpkg_deb("--field", str(package)))


def test_contents_owners_modes_and_links(stage, tmp_path):
    package = deb.build(stage, toy_meta(), tmp_path / "pkg")
    listing = dpkg_deb("--contents", str(package))
    check_golden("toy.deb.contents", listing)
    assert all(" root/root " in line for line in listing.splitlines())


def test_md5sums_match_the_files(stage, tmp_path):
    package = deb.build(stage, toy_meta(), tmp_path / "pkg")
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(package), str(control)], check=True)
    sums = dict(line.split("  ")[::-1] for line in control.joinpath("md5sums").read_text()
                .splitlines())
    assert set(sums) == {"opt/toy/bin/tool", "opt/toy/bin/tool-alias", "opt/toy/bin/notes.txt",
                         "opt/toy/doc/notes",
                         "opt/toy/share/data/table.txt", "usr/share/doc/toy/copyright"}
    table = (stage.root / "opt/toy/share/data/table.txt").read_bytes()
    assert sums["opt/toy/share/data/table.txt"] == hashlib.md5(table).hexdigest()
    assert (control / "preinst").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("compression", ["zstd", "xz", "gzip"])
def test_every_compression_extracts_to_the_stage(stage, tmp_path, compression):
    package = deb.build(stage, toy_meta(compression=compression), tmp_path / "pkg")
    extracted = tmp_path / "extracted"
    subprocess.run(["dpkg-deb", "--extract", str(package), str(extracted)], check=True)
    for entry in stage.entries:
        path = extracted / entry.path
        assert path.is_symlink() if entry.kind == "symlink" else path.exists(), entry.path
        if entry.kind == "file":
            assert path.read_bytes() == stage.source(entry).read_bytes()
            assert path.stat().st_nlink == entry.inode[2]
            assert path.stat().st_mode & 0o7777 == entry.mode


def test_two_builds_are_bit_identical(tmp_path):
    first = deb.build(toy_stage(tmp_path / "a"), toy_meta(), tmp_path / "one")
    second = deb.build(toy_stage(tmp_path / "b"), toy_meta(threads=1), tmp_path / "two")
    assert hashlib.sha256(first.read_bytes()).digest() == \
        hashlib.sha256(second.read_bytes()).digest()


def test_installed_size_counts_like_dpkg(stage):
    members = package_members(stage, toy_meta().extra_files, 0)
    table = next(m for m in members if m.path.endswith("table.txt"))
    assert table.size == 8000
    assert deb.installed_size(members) == sum(
        (m.size + 1023) // 1024 if m.kind == "file" else 1 for m in members)


def test_packagers_share_one_interface():
    for packager in PACKAGERS.values():
        assert callable(packager.build) and callable(packager.file_name)
    assert PACKAGERS["deb"].file_name(toy_meta()) == "toy_1.2.3-ce.0_amd64.deb"
    assert PACKAGERS["rpm"].file_name(toy_meta("rpm")) == "toy-1.2.3-ce.0.el9.x86_64.rpm"


@pytest.mark.parametrize("member", [
    Member("opt/toy/bin/tool", "file", 0o755, 1234, 1704067200),
    Member("opt/toy/share", "dir", 0o750, 0, 1704067200),
    Member("opt/toy/bin/link", "symlink", 0o777, 0, 0, target="tool"),
    Member("opt/toy/bin/alias", "file", 0o755, 20, 5, link_to="opt/toy/bin/tool"),
    Member("opt/" + "long/" * 30 + "file", "file", 0o644, 1, 1),
    Member("opt/toy/bin/far", "symlink", 0o777, 0, 1, target="../" * 40 + "target"),
])
def test_tar_headers_are_what_tarfile_writes(member):
    name = f"./{member.path}/" if member.kind == "dir" else f"./{member.path}"
    assert tarstream._header(member, name) == tarstream._slow_header(member, name)
