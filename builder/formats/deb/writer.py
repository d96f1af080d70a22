"""The .deb writer, writing the format itself: an ar archive of debian-binary,
control.tar.* and data.tar.*, compressed as the platform says.

Why not dpkg-deb: it needs the tree copied under a DEBIAN/ directory and does not write
md5sums; here the data tar is streamed once from the stage, hashing as it goes, and
compressed on every core (bench/package_speed.py compares the two).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from builder.formats import signing
from builder.formats.compress import SUFFIX, compress_bytes, compressing
from builder.formats.members import Member, in_payload_order, package_members
from builder.formats.meta import PackageMeta, wrap_paragraphs
from builder.formats.tarstream import write_tar
from builder.package.stage import Stage

SCRIPTS = ("preinst", "postinst", "prerm", "postrm")
#: Debian's names of the platforms' arches (dpkg --print-architecture).
ARCH_NAMES = {"amd64": "amd64", "arm64": "arm64", "armhf": "armhf"}
EXTENSION = ".deb"


def file_name(meta: PackageMeta) -> str:
    return f"{meta.name}_{meta.version.full}_{meta.arch}{EXTENSION}"


def installed_size(members: list[Member]) -> int:
    """KiB, counted as dpkg-gencontrol does: each file rounded up, 1 for anything else."""
    return sum((m.size + 1023) // 1024 if m.kind == "file" else 1 for m in members)


def _description(meta: PackageMeta) -> str:
    """The synopsis, then the long description wrapped to 80 columns, "." between paragraphs."""
    lines = [f" {line}" if line else " ." for line in wrap_paragraphs(meta.description)]
    return "\n".join([meta.summary, *lines])


def control_text(meta: PackageMeta, size_kib: int) -> str:
    fields = [
        ("Package", meta.name), ("Version", meta.version.full), ("License", meta.license),
        ("Vendor", meta.vendor), ("Architecture", meta.arch), ("Maintainer", meta.maintainer),
        ("Installed-Size", str(size_kib)), ("Depends", ", ".join(meta.depends)),
        ("Conflicts", ", ".join(meta.conflicts)), ("Replaces", ", ".join(meta.replaces)),
        ("Section", "misc"), ("Priority", "optional"), ("Homepage", meta.homepage),
        ("Description", _description(meta)),
    ]
    return "".join(f"{name}: {value}\n" for name, value in fields if value)


def _tar_bytes(files: list[tuple[str, bytes, int]], mtime: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = tarfile.TarInfo("./")
        root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, mtime
        root.uname = root.gname = "root"
        tar.addfile(root)
        for name, data, mode in files:
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode, info.mtime = len(data), mode, mtime
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def control_members(meta: PackageMeta, members: list[Member],
                    sums: dict[str, str]) -> list[tuple[str, bytes, int]]:
    md5sums = "".join(f"{sums[m.path]}  {m.path}\n" for m in members if m.path in sums)
    files = [("control", control_text(meta, installed_size(members)).encode(), 0o644),
             ("md5sums", md5sums.encode(), 0o644)]
    files += [(name, meta.scripts[name].encode(), 0o755) for name in SCRIPTS
              if name in meta.scripts]
    return files


def _ar_header(name: str, size: int, mtime: int) -> bytes:
    header = f"{name:<16}{mtime:<12}{0:<6}{0:<6}{'100644':<8}{size:<10}`\n"
    assert len(header) == 60
    return header.encode()


def _ar_member(out, name: str, data: bytes | Path, mtime: int) -> None:
    size = len(data) if isinstance(data, bytes) else data.stat().st_size
    out.write(_ar_header(name, size, mtime))
    if isinstance(data, bytes):
        out.write(data)
    else:
        with data.open("rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
    if size % 2:
        out.write(b"\n")


def build(stage: Stage, meta: PackageMeta, out_dir: Path) -> Path:
    """Write the .deb into out_dir (through a temporary name) and return its path."""
    members = package_members(stage, meta.extra_files, meta.epoch)
    suffix = SUFFIX[meta.compression.type]
    target = out_dir / file_name(meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".deb-") as scratch:
        data_path = Path(scratch) / f"data.tar{suffix}"
        with data_path.open("wb") as raw, compressing(meta.compression, raw, meta.threads) as out:
            sums = write_tar(in_payload_order(members), out, meta.epoch)
        control = compress_bytes(meta.compression,
                                 _tar_bytes(control_members(meta, members, sums), meta.epoch))
        parts: list[tuple[str, bytes | Path]] = [
            ("debian-binary", b"2.0\n"), (f"control.tar{suffix}", control),
            (f"data.tar{suffix}", data_path)]
        if meta.signing is not None:
            parts.append(("_gpgorigin", signing.sign_parts(meta.signing, parts, armor=True,
                                                                signed_at=meta.epoch)))
        partial = Path(scratch) / "package.deb"
        with partial.open("wb") as out:
            out.write(b"!<arch>\n")
            for name, data in parts:
                _ar_member(out, name, data, meta.epoch)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    return target
