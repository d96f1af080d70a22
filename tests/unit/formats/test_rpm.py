"""The .rpm writer, read back with rpm itself."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from builder.formats.rpm import writer as rpm
from builder.formats.rpm.rpmheader import decode_header
from tests.packaging_helpers import check_golden, toy_meta, toy_stage

NAMES = {100: "HEADERI18NTABLE", 1000: "NAME", 1001: "VERSION", 1002: "RELEASE",
         1004: "SUMMARY", 1005: "DESCRIPTION", 1006: "BUILDTIME", 1007: "BUILDHOST",
         1009: "SIZE", 1011: "VENDOR", 1014: "LICENSE", 1015: "PACKAGER", 1016: "GROUP",
         1020: "URL", 1021: "OS", 1022: "ARCH", 1023: "PREIN", 1024: "POSTIN"}


def query(package, *args: str) -> str:
    return subprocess.run(["rpm", "-qp", *args, str(package)], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def package(tmp_path):
    return rpm.build(toy_stage(tmp_path / "tree"), toy_meta("rpm"), tmp_path / "pkg")


def test_header_is_golden(package):
    data = package.read_bytes()
    signature, end = decode_header(data, 96)
    header, _ = decode_header(data, end + (-end % 8))
    lines = [f"{NAMES.get(tag, tag)} {value!r}" for tag, (_kind, value) in sorted(header.items())]
    check_golden("toy.rpm.header", "\n".join(lines) + "\n")
    assert sorted(signature) == [62, 269, 273, 1000, 1004, 1007, 1008]


def test_rpm_reads_name_scripts_and_relations(package):
    assert package.name == "toy-1.2.3-ce.0.el9.x86_64.rpm"
    info = query(package, "--queryformat",
                 "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{LICENSE}|%{VENDOR}|%{URL}")
    assert info == "toy|1.2.3|ce.0.el9|x86_64|MIT|Toy Inc.|https://example.test/toy"
    assert "echo preinst" in query(package, "--scripts")
    requires = query(package, "--requires").splitlines()
    assert {"perl", "libc6 >= 2.17", "/bin/sh", "rpmlib(PayloadIsZstd) <= 5.4.18-1"} <= \
        set(requires)
    assert query(package, "--conflicts").split() == ["toy-ee"]
    assert query(package, "--obsoletes").split() == ["toy-ee"]


def test_listing_has_root_owners_modes_and_sha256_digests(package, tmp_path):
    listing = query(package, "--queryformat",
                    "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]")
    check_golden("toy.rpm.files", listing)
    assert query(package, "--queryformat", "%{FILEDIGESTALGO}") == "8"
    digests = dict(zip(query(package, "--queryformat", "[%{FILENAMES}\n]").split(),
                       query(package, "--queryformat", "[%{FILEDIGESTS}.\n]").split(),
                       strict=True))
    table = (tmp_path / "tree/stage/opt/toy/share/data/table.txt").read_bytes()
    assert digests["/opt/toy/share/data/table.txt"] == hashlib.sha256(table).hexdigest() + "."


def test_rpm_checks_the_digests(package):
    checked = subprocess.run(["rpm", "-Kv", str(package)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for line in ("Header SHA256 digest: OK", "Payload SHA256 digest: OK", "MD5 digest: OK"):
        assert line in checked.stdout


def test_a_flipped_payload_byte_is_detected(package):
    data = bytearray(package.read_bytes())
    data[-100] ^= 0xFF
    package.write_bytes(bytes(data))
    checked = subprocess.run(["rpm", "-Kv", str(package)], capture_output=True, text=True)
    assert checked.returncode != 0
    assert "Payload SHA256 digest: BAD" in checked.stdout


def test_installs_into_an_empty_root_with_modes_and_hard_links(package, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["rpm", "--root", str(root), "--nodeps", "--noscripts", "-i", str(package)],
                   check=True, capture_output=True)
    tool, alias = root / "opt/toy/bin/tool", root / "opt/toy/bin/tool-alias"
    assert tool.read_text() == "#!/bin/sh\necho tool\n"
    assert os.stat(tool).st_ino == os.stat(alias).st_ino
    notes, notes_link = root / "opt/toy/bin/notes.txt", root / "opt/toy/doc/notes"
    assert notes_link.read_text() == "notes\n"
    assert os.stat(notes).st_ino == os.stat(notes_link).st_ino
    assert os.readlink(root / "opt/toy/bin/tool-link") == "tool"
    assert (root / "opt/toy/share/data/table.txt").stat().st_mode & 0o7777 == 0o640
    verify = subprocess.run(["rpm", "--root", str(root), "-V", "--nodeps", "toy"],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout


@pytest.mark.parametrize("compression", ["xz", "gzip"])
def test_other_payload_compressions_install(tmp_path, compression):
    package = rpm.build(toy_stage(tmp_path / "tree"), toy_meta("rpm", compression),
                        tmp_path / "pkg")
    subprocess.run(["rpm", "--root", str(tmp_path / "root"), "--nodeps", "--noscripts", "-i",
                    str(package)], check=True, capture_output=True)
    assert (tmp_path / "root/opt/toy/bin/tool").is_file()


def test_two_builds_are_bit_identical(tmp_path):
    first = rpm.build(toy_stage(tmp_path / "a"), toy_meta("rpm"), tmp_path / "one")
    second = rpm.build(toy_stage(tmp_path / "b"), toy_meta("rpm", threads=1), tmp_path / "two")
    assert first.read_bytes() == second.read_bytes()


def test_sizes_between_2_and_4_gib_fit_rpm_s_unsigned_int32():
    from builder.formats.rpm.rpmheader import INT32, _encode_value

    assert _encode_value(INT32, 3 * 1024**3) == ((3 * 1024**3).to_bytes(4, "big"), 1)
    assert _encode_value(INT32, [-1]) == (b"\xff\xff\xff\xff", 1)  # as before: two's complement
