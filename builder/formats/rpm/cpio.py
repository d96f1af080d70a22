"""The "new ASCII" (070701) cpio archive that rpm payloads hold, streamed with digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from builder.formats.compress import Writer
from builder.formats.members import Member

CHUNK = 1 << 20
TRAILER = "TRAILER!!!"


def _header(name: str, ino: int, mode: int, nlink: int, mtime: int, size: int) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
    return header + b"\0" * (-len(header) % 4)


class CountingWriter:
    """Counts what passes through (the uncompressed payload size) and hashes it."""

    def __init__(self, out: Writer) -> None:
        self.out = out
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.sha256.update(data)
        return self.out.write(data)


def _contents(member: Member, out: Writer) -> str:
    digest = hashlib.sha256()
    if member.data is not None:
        digest.update(member.data)
        out.write(member.data)
    else:
        assert member.source is not None
        with member.source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    if member.size % 4:
        out.write(b"\0" * (-member.size % 4))
    return digest.hexdigest()


def write_cpio(members: list[Member], inodes: list[int], nlinks: list[int],
               order: list[int], out: Writer) -> list[str]:
    """Stream the members in `order`; return the sha256 of each regular file ('' for the
    rest), indexed like `members`.

    Hard-linked files share an inode; their contents go with the last link, as rpm expects.
    """
    last_of_inode = {inodes[index]: index for index in order}
    digests = [""] * len(members)
    known: dict[int, str] = {}
    for index in order:
        member = members[index]
        size = member.size if member.kind == "file" else len(member.target.encode())
        carries = member.kind == "symlink" or (member.kind == "file" and (
            nlinks[index] == 1 or last_of_inode[inodes[index]] == index))
        out.write(_header(f"./{member.path}", inodes[index], member.st_mode, nlinks[index],
                          member.mtime, size if carries else 0))
        if member.kind == "symlink":
            target = member.target.encode()
            out.write(target + b"\0" * (-len(target) % 4))
        elif member.kind == "file" and carries:
            digests[index] = known[inodes[index]] = _contents(member, out)
    for index, member in enumerate(members):  # earlier links: the digest of their contents
        if member.kind == "file" and not digests[index]:
            digests[index] = known[inodes[index]]
    out.write(_header(TRAILER, 0, 0, 1, 0, 0))
    return digests


def link_sets(members: Iterable[Member]) -> tuple[list[int], list[int]]:
    """Inode numbers (1..n, shared within a hard-link set) and link counts."""
    members = list(members)
    inodes: list[int] = []
    by_path: dict[str, int] = {}
    next_inode = 1
    for member in members:
        if member.link_to:
            inodes.append(inodes[by_path[member.link_to]])
        else:
            inodes.append(next_inode)
            next_inode += 1
        by_path[member.path] = len(inodes) - 1
    counts: dict[int, int] = {}
    for inode in inodes:
        counts[inode] = counts.get(inode, 0) + 1
    return inodes, [counts[inode] for inode in inodes]
