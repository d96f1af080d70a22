"""A deterministic tar stream (GNU format, as dpkg-deb writes) of package members."""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterable

from builder.packaging.compress import Writer
from builder.packaging.members import Member

BLOCK = 512
CHUNK = 1 << 20


def _header(member: Member, name: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.mode = member.mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = member.mtime
    if member.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif member.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, member.target
    elif member.link_to:
        info.type, info.linkname = tarfile.LNKTYPE, "./" + member.link_to
    else:
        info.size = member.size
    return info.tobuf(format=tarfile.GNU_FORMAT, encoding="utf-8", errors="strict")


def _copy(member: Member, out: Writer) -> str:
    """Write a regular member's contents; return their md5 (what DEBIAN/md5sums lists)."""
    digest = hashlib.md5(usedforsecurity=False)
    if member.data is not None:
        digest.update(member.data)
        out.write(member.data)
        written = len(member.data)
    else:
        assert member.source is not None
        written = 0
        with member.source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
    if written != member.size:
        raise OSError(f"{member.source} changed size while packaging")
    padding = -written % BLOCK
    if padding:
        out.write(b"\0" * padding)
    return digest.hexdigest()


def write_tar(members: Iterable[Member], out: Writer, root_mtime: int) -> dict[str, str]:
    """Stream `./` and `members` as a tar into `out`; return {path: md5} of regular files."""
    sums: dict[str, str] = {}
    out.write(_header(Member("", "dir", 0o755, 0, root_mtime), "./"))
    for member in members:
        name = f"./{member.path}/" if member.kind == "dir" else f"./{member.path}"
        out.write(_header(member, name))
        if member.kind == "file":
            if member.link_to:
                sums[member.path] = sums[member.link_to]
            else:
                sums[member.path] = _copy(member, out)
    out.write(b"\0" * (2 * BLOCK))
    return sums
