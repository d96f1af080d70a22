"""Shared by the packaging tests: a small staged tree, a package meta, golden files, a key."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

from builder.definitions.model import Compression
from builder.formats.meta import ExtraFile, PackageMeta
from builder.package.stage import Stage, make_stage
from builder.package.version import PackageVersion

GOLDEN = Path(__file__).resolve().parent / "golden"
EPOCH = 1704067200  # 2024-01-01


def toy_layers(base: Path) -> list[tuple[str, Path, tuple[str, ...]]]:
    """Two software: one with a program, a hard link, a symlink and a .git dir; one with data."""
    first = base / "first"
    (first / "bin").mkdir(parents=True)
    (first / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    os.chmod(first / "bin" / "tool", 0o755)
    os.link(first / "bin" / "tool", first / "bin" / "tool-alias")
    os.symlink("tool", first / "bin" / "tool-link")
    # A hard link that the payload order puts before the file it links to (by extension).
    (first / "bin" / "notes.txt").write_text("notes\n")
    (first / "doc").mkdir()
    os.link(first / "bin" / "notes.txt", first / "doc" / "notes")
    (first / ".git").mkdir()
    (first / ".git" / "HEAD").write_text("ref\n")
    (first / "lib").mkdir()
    (first / "lib" / "libtool.a").write_bytes(b"archive")
    second = base / "second"
    (second / "share" / "data").mkdir(parents=True)
    (second / "share" / "data" / "table.txt").write_text("row\n" * 2000)
    os.chmod(second / "share" / "data" / "table.txt", 0o640)
    (second / "etc").mkdir()
    (second / "etc" / "secret").write_text("s\n")
    os.chmod(second / "etc" / "secret", 0o600)
    return [("first", first, ()), ("second", second, ("etc/secret",))]


def toy_stage(base: Path) -> Stage:
    return make_stage(toy_layers(base), "/opt/toy", ["lib/*.a"], base / "stage")


def toy_meta(package_format: str = "deb", compression: str = "zstd", **changes) -> PackageMeta:
    meta = PackageMeta(
        name="toy", version=PackageVersion("1.2.3", "ce.0", "1.2"),
        arch="amd64" if package_format == "deb" else "x86_64",
        maintainer="Toy Maintainers <toy@example.test>", vendor="Toy Inc.",
        homepage="https://example.test/toy", license="MIT",
        summary="Small package made by the tests",
        description="A small package made by the tests.\n\nIt has two paragraphs.",
        compression=Compression(compression, 9 if compression == "zstd" else 6), epoch=EPOCH,
        platform="debian-12", dist_tag="" if package_format == "deb" else ".el9",
        depends=("perl", "libc6 (>= 2.17)"), conflicts=("toy-ee",), replaces=("toy-ee",),
        scripts={"preinst": "#!/bin/sh\nset -e\necho preinst \"$@\"\n",
                 "postinst": "#!/bin/sh\nset -e\necho postinst \"$@\"\n"},
        extra_files=(ExtraFile("usr/share/doc/toy/copyright", b"MIT\n", role="license"),),
        threads=2,
    )
    return dataclasses.replace(meta, **changes)


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden file"


def make_gpg_key(home: Path) -> str:
    """A throwaway RSA signing key without passphrase; returns its fingerprint."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "",
                    "--quick-gen-key", "Test Signer <signer@example.test>", "rsa2048", "sign",
                    "never"], check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--with-colons",
                              "--list-secret-keys"], check=True, capture_output=True, text=True)
    return next(line.split(":")[9] for line in listing.stdout.splitlines()
                if line.startswith("fpr:"))
