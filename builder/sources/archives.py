"""Reading source archives as one stream of members, whatever the format.

tar (plain, gzip, bzip2, xz, zstd) and zip are read strictly forward, member by member; a
damaged or truncated archive raises instead of passing for a shorter one. Safety checks and
writing are `extract`'s job.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum, auto
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

import zstandard

from builder.errors import BuilderError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1 << 20
MAX_LINK_TARGET = 4096  # PATH_MAX: a longer zip "symlink" is not one
# Compressed bytes handed to zstd per call: one call's output is not bounded, and a hostile
# stream can expand 32768-fold, so this keeps the worst case near 128 MiB.
_ZSTD_PIECE = 4096

# PK\5\6 starts an empty zip: nothing but the end-of-central-directory record.
_MAGIC = ((b"\x1f\x8b", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zst"), (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"))
_SUPPORTED = "tar, tar.gz, tar.bz2, tar.xz, tar.zst or zip"
CACHE_HINT = "delete it from the download cache so the next fetch downloads it again"


class Kind(StrEnum):
    FILE = auto()
    DIR = auto()
    SYMLINK = auto()
    HARDLINK = auto()
    DEVICE = auto()
    FIFO = auto()
    OTHER = auto()


_TAR_KINDS = {
    tarfile.DIRTYPE: Kind.DIR, tarfile.SYMTYPE: Kind.SYMLINK, tarfile.LNKTYPE: Kind.HARDLINK,
    tarfile.CHRTYPE: Kind.DEVICE, tarfile.BLKTYPE: Kind.DEVICE, tarfile.FIFOTYPE: Kind.FIFO,
}
_ZIP_KINDS = {
    stat.S_IFDIR: Kind.DIR, stat.S_IFLNK: Kind.SYMLINK, stat.S_IFCHR: Kind.DEVICE,
    stat.S_IFBLK: Kind.DEVICE, stat.S_IFIFO: Kind.FIFO, stat.S_IFSOCK: Kind.OTHER,
}


@dataclass(frozen=True)
class Member:
    """One archive entry, whatever the format. `target` is a link's target as stored."""

    name: str
    kind: Kind
    mode: int
    mtime: float
    target: str = ""
    open: Callable[[], IO[bytes]] | None = None


class _CorruptTar(Exception):
    """A damaged tar header, which tarfile would otherwise take for the end of the archive."""


class _StrictTarInfo(tarfile.TarInfo):
    """Tells a damaged header from the end of the archive.

    tarfile stops quietly at a truncated or garbled header after the first one, which would
    leave a partial tree that looks complete. Only a zero block is a proper end.
    """

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
        offset = tarfile_.fileobj.tell() if tarfile_.fileobj else 0
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # not in typeshed's tarfile
            raise
        except tarfile.HeaderError as error:
            raise _CorruptTar(f"bad tar header at byte {offset}: {error}") from None


class _ZstdStream(io.RawIOBase):
    """Zstandard decompression as a stream that raises when the input stops inside a frame.

    zstandard's own stream_reader and read_to_iter end quietly at a cut, which would pass a
    truncated tarball off as a shorter one. Reads across frames, as the zstd tool does.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame: zstandard.ZstdDecompressionObj | None = None
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._out:
            if not self._refill():
                return 0
        with memoryview(buffer) as view:
            count = min(len(view), len(self._out))
            view[:count] = self._out[:count]
        self._out = self._out[count:]
        return count

    def _refill(self) -> bool:
        data = self._raw.read(_ZSTD_PIECE)
        if not data:
            if self._frame is not None and not self._frame.eof:
                raise zstandard.ZstdError("input ends inside a frame (truncated)")
            return False
        pieces = []
        while data:
            if self._frame is None or self._frame.eof:
                self._frame = self._decompressor.decompressobj()
            pieces.append(self._frame.decompress(data))
            data = self._frame.unused_data if self._frame.eof else b""
        self._out = memoryview(b"".join(pieces))
        return True


# Each wraps the open archive file; _tar_members closes the wrapper with `with`.
_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], IO[bytes] | io.BufferedIOBase]] = {
    "tar": lambda raw: raw,
    "gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bz2": lambda raw: bz2.BZ2File(raw),
    "xz": lambda raw: lzma.LZMAFile(raw),  # noqa: SIM115
    "zst": lambda raw: io.BufferedReader(_ZstdStream(raw), CHUNK),
}
# What decompressors and archive readers raise for damaged input. OSError without an errno
# (gzip's BadGzipFile, bz2's "Invalid data stream") is damage too; see _extract_all.
DAMAGED = (
    EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError, tarfile.TarError,
    zipfile.BadZipFile, NotImplementedError, _CorruptTar,
)


def _extract_regular(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(info)
    assert stream is not None  # None is only for members that are not regular files
    return stream


def _tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Member:
    kind = Kind.FILE if info.isreg() else _TAR_KINDS.get(info.type, Kind.OTHER)
    opener = partial(_extract_regular, tar, info) if kind is Kind.FILE else None
    return Member(info.name, kind, info.mode, info.mtime, info.linkname, opener)


def _tar_members(archive: Path, compression: str) -> Generator[Member, None, None]:
    with archive.open("rb") as raw, _DECOMPRESSORS[compression](raw) as stream:
        # "r|" reads strictly forward: the archive is never held in memory or seeked.
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo) as tar:
            for info in tar:
                yield _tar_member(tar, info)
        # Read to the end so the decompressor checks its trailer (CRC, length) as well.
        while stream.read(CHUNK):
            pass


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    # Unix modes sit in the high 16 bits when the zip was made on Unix (create_system 3).
    unix = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = Kind.DIR if info.is_dir() else _ZIP_KINDS.get(stat.S_IFMT(unix), Kind.FILE)
    mode = stat.S_IMODE(unix) or (0o755 if kind is Kind.DIR else 0o644)
    mtime = time.mktime((*info.date_time, 0, 0, -1))
    target = ""
    if kind is Kind.SYMLINK:  # a zip symlink stores its target as the member's data
        with zf.open(info) as source:
            target = os.fsdecode(source.read(MAX_LINK_TARGET + 1))
    opener = partial(zf.open, info) if kind is Kind.FILE else None
    return Member(info.filename, kind, mode, mtime, target, opener)


def _zip_members(archive: Path) -> Generator[Member, None, None]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.flag_bits & 0x1:
                raise BuilderError(f"cannot extract {archive}: member '{info.filename}' is "
                                   "encrypted", hint="source archives must not need a password")
            yield _zip_member(zf, info)


def detect_format(archive: Path) -> str:
    """The archive's format from its first bytes; the name only breaks a tie for old tars."""
    try:
        with archive.open("rb") as file:
            head = file.read(512)
    except OSError as error:
        raise BuilderError(f"cannot read {archive}: {error.strerror or error}",
                           hint="check that the download finished and the path is right") from None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    # POSIX and GNU tars say "ustar" at byte 257; pre-POSIX tars have no magic at all.
    if head[257:262] == b"ustar" or (head and archive.name.endswith(".tar")):
        return "tar"
    what = "the file is empty" if not head else f"starts with bytes {head[:8].hex()}"
    raise BuilderError(f"cannot extract {archive}: not a {_SUPPORTED} archive ({what})",
                       hint=CACHE_HINT)




def read_members(archive: Path, kind: str) -> Generator[Member, None, None]:
    """The members of an archive of a `detect_format` kind, in archive order."""
    return _zip_members(archive) if kind == "zip" else _tar_members(archive, kind)
