"""Reading what a yum repository's metadata needs from an .rpm file, without rpm itself.

An rpm is a 96-byte lead, the signature header (padded to 8 bytes), the main header and the
payload. A header is 16 bytes of magic and counts, an index of (tag, type, offset, count)
entries and a data store. Only the headers are read, never the payload: a GitLab package is
over a gigabyte, its headers a few megabytes. Values are decoded on demand, so a tag of a
type we never ask for cannot trip the reader.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from builder.errors import BuilderError
from builder.formats.rpm.rpmheader import (
    I18NSTRING,
    INT16,
    INT32,
    INT64,
    MAGIC,
    STRING,
    STRING_ARRAY,
)

LEAD_MAGIC = b"\xed\xab\xee\xdb"
LEAD_SIZE = 96
INTRO_SIZE = 16  # header magic (8 bytes), index entry count, store size
MAX_HEADER = 1 << 30  # rpm's own limit on a header's store, a sanity bound here
WIDTH = {INT16: 2, INT32: 4, INT64: 8}
UNPACK = {INT16: ">H", INT32: ">I", INT64: ">Q"}
FILE_GHOST = 1 << 6
S_IFMT, S_IFDIR = 0o170000, 0o040000
SIG_PAYLOADSIZE, SIG_LONGARCHIVESIZE = 1007, 271

#: Dependency kinds in the order createrepo writes them: (names, flags, versions) tags.
RELATION_TAGS = {
    "provides": (1047, 1112, 1113), "requires": (1049, 1048, 1050),
    "conflicts": (1054, 1053, 1055), "obsoletes": (1090, 1114, 1115),
    "suggests": (5049, 5051, 5050), "enhances": (5055, 5057, 5056),
    "recommends": (5046, 5048, 5047), "supplements": (5052, 5054, 5053),
}


@dataclass(frozen=True)
class Dependency:
    name: str
    flags: int  # rpmsenseFlags: comparison bits (LT 2, GT 4, EQ 8) and requirement kinds
    version: str  # "[epoch:]version[-release]" or ""


@dataclass(frozen=True)
class PackagedFile:
    path: str
    kind: str  # "" (file or symlink), "dir" or "ghost", as filelists.xml says it


@dataclass(frozen=True)
class ChangelogEntry:
    author: str
    date: int
    text: str


@dataclass(frozen=True)
class RpmInfo:
    """The header fields createrepo's metadata carries, and where the main header lies."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str
    summary: str
    description: str
    packager: str
    url: str
    license: str
    vendor: str
    group: str
    buildhost: str
    sourcerpm: str
    build_time: int
    installed_size: int
    archive_size: int
    header_start: int  # offset of the main header in the file
    header_end: int  # offset of the payload
    relations: Mapping[str, tuple[Dependency, ...]]
    files: tuple[PackagedFile, ...]
    changelog: tuple[ChangelogEntry, ...]  # as in the header: newest first

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"


class _Header:
    """One header's index and store; values decoded when asked for."""

    def __init__(self, blob: bytes, count: int, where: str) -> None:
        self.where = where
        self.store = blob[count * 16:]
        self.index: dict[int, tuple[int, int, int]] = {}
        for number in range(count):
            tag, kind, offset, items = struct.unpack_from(">iIiI", blob, number * 16)
            self.index[tag] = (kind, offset, items)

    def _raw(self, tag: int) -> tuple[int, int, int] | None:
        entry = self.index.get(tag)
        if entry is not None and not 0 <= entry[1] <= len(self.store):
            raise _malformed(f"{self.where}: tag {tag} points outside the header")
        return entry

    def strings(self, tag: int) -> list[str]:
        entry = self._raw(tag)
        if entry is None:
            return []
        kind, offset, items = entry
        if kind not in (STRING, STRING_ARRAY, I18NSTRING):
            raise _malformed(f"{self.where}: tag {tag} has type {kind}, not a string")
        values = []
        for _ in range(1 if kind == STRING else items):
            end = self.store.find(b"\0", offset)
            if end < 0:
                raise _malformed(f"{self.where}: tag {tag} runs past the header")
            values.append(self.store[offset:end].decode("utf-8", errors="replace"))
            offset = end + 1
        return values

    def string(self, tag: int) -> str:
        values = self.strings(tag)
        return values[0] if values else ""

    def numbers(self, tag: int) -> list[int]:
        entry = self._raw(tag)
        if entry is None:
            return []
        kind, offset, items = entry
        if kind not in UNPACK:
            raise _malformed(f"{self.where}: tag {tag} has type {kind}, not a number")
        if offset + items * WIDTH[kind] > len(self.store):
            raise _malformed(f"{self.where}: tag {tag} runs past the header")
        return list(struct.unpack_from(f">{items}{UNPACK[kind][1]}", self.store, offset))

    def number(self, *tags: int) -> int:
        """The first of `tags` present (e.g. SIZE, then LONGSIZE); 0 when none is."""
        for tag in tags:
            values = self.numbers(tag)
            if values:
                return values[0]
        return 0

    def has(self, tag: int) -> bool:
        return tag in self.index


def _malformed(problem: str) -> BuilderError:
    return BuilderError(f"not a readable rpm package: {problem}",
                        hint="check the file (rpm -K FILE); only binary rpm v3/v4 packages "
                        "can be published")


def _read_exactly(handle: BinaryIO, size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise _malformed(f"{what} is cut short")
    return data


def _read_header(handle: BinaryIO, where: str) -> tuple[_Header, int]:
    """The header at the current position and its length in bytes."""
    intro = _read_exactly(handle, INTRO_SIZE, where)
    if intro[:8] != MAGIC:
        raise _malformed(f"no header magic at the {where}")
    count, size = struct.unpack(">II", intro[8:])
    if count * 16 + size > MAX_HEADER:
        raise _malformed(f"the {where} claims {count} entries and {size} bytes")
    blob = _read_exactly(handle, count * 16 + size, where)
    return _Header(blob, count, where), INTRO_SIZE + len(blob)


def _relations(header: _Header) -> dict[str, tuple[Dependency, ...]]:
    relations = {}
    for kind, (names_tag, flags_tag, versions_tag) in RELATION_TAGS.items():
        names = header.strings(names_tag)
        flags = header.numbers(flags_tag) or [0] * len(names)
        versions = header.strings(versions_tag) or [""] * len(names)
        if not len(names) == len(flags) == len(versions):
            raise _malformed(f"the {kind} tags disagree on how many entries there are")
        relations[kind] = tuple(Dependency(*entry) for entry in zip(names, flags, versions,
                                                                     strict=True))
    return relations


def _files(header: _Header) -> tuple[PackagedFile, ...]:
    basenames = header.strings(1117)
    dirnames = header.strings(1118)
    indexes = header.numbers(1116)
    modes = header.numbers(1030) or [0] * len(basenames)
    flags = header.numbers(1037) or [0] * len(basenames)
    if not len(basenames) == len(indexes) == len(modes) == len(flags) or \
            any(index >= len(dirnames) for index in indexes):
        raise _malformed("the file tags disagree on how many files there are")
    files = []
    for base, index, mode, flag in zip(basenames, indexes, modes, flags, strict=True):
        kind = "dir" if mode & S_IFMT == S_IFDIR else "ghost" if flag & FILE_GHOST else ""
        files.append(PackagedFile(dirnames[index] + base, kind))
    return tuple(files)


def _changelog(header: _Header) -> tuple[ChangelogEntry, ...]:
    entries = zip(header.strings(1081), header.numbers(1080), header.strings(1082),
                  strict=False)
    return tuple(ChangelogEntry(author, date, text) for author, date, text in entries)


def _info(main: _Header, signature: _Header, start: int, end: int) -> RpmInfo:
    # A source package has no SOURCERPM of its own; createrepo lists it with arch "src".
    source = not main.has(1044)
    return RpmInfo(
        name=main.string(1000), epoch=main.number(1003), version=main.string(1001),
        release=main.string(1002), arch="src" if source else main.string(1022),
        summary=main.string(1004), description=main.string(1005), packager=main.string(1015),
        url=main.string(1020), license=main.string(1014), vendor=main.string(1011),
        group=main.string(1016), buildhost=main.string(1007), sourcerpm=main.string(1044),
        build_time=main.number(1006), installed_size=main.number(1009, 5009),
        # rpm keeps the payload's size in the signature header; old packages in the main one.
        archive_size=signature.number(SIG_PAYLOADSIZE, SIG_LONGARCHIVESIZE)
        or main.number(1046, SIG_LONGARCHIVESIZE),
        header_start=start, header_end=end, relations=_relations(main), files=_files(main),
        changelog=_changelog(main),
    )


def _parse(handle: BinaryIO) -> RpmInfo:
    lead = _read_exactly(handle, LEAD_SIZE, "lead")
    if lead[:4] != LEAD_MAGIC:
        raise _malformed("the file does not start with the rpm lead")
    signature, length = _read_header(handle, "signature header")
    padding = -length % 8
    _read_exactly(handle, padding, "signature header padding")
    start = LEAD_SIZE + length + padding
    main, length = _read_header(handle, "main header")
    if not main.string(1000) or not main.string(1001):
        raise _malformed("the header has no name or version")
    return _info(main, signature, start, start + length)


def read_rpm(path: Path) -> RpmInfo:
    """The metadata of the package at `path`; BuilderError when it is not an rpm."""
    try:
        with path.open("rb") as handle:
            return _parse(handle)
    except OSError as error:
        raise BuilderError(f"cannot read {path}: {error}",
                           hint="check that the package file exists and is readable") from error
    except BuilderError as error:
        raise BuilderError(f"{path}: {error.message}", hint=error.hint) from error
