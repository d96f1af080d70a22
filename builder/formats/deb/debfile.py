"""A .deb's control file, read without dpkg, and Debian control paragraphs (deb822).

A .deb is an ar archive whose `control.tar[.gz|.xz|.zst]` member holds `./control`. Reading
it here, rather than with dpkg-deb, lets a repository be published from any machine: Debian
12's dpkg-deb reads zstd members, older ones do not. zstd is decoded in-process with the
library the packager compresses with (builder/formats/compress.py).
"""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from pathlib import Path

import zstandard

from builder.errors import BuilderError

Fields = list[tuple[str, str]]
AR_MAGIC = b"!<arch>\n"
#: A control.tar is a few KiB; anything near this is not a package we should trust.
MAX_CONTROL_TAR = 64 << 20


def _not_a_deb(path: Path, why: str) -> BuilderError:
    return BuilderError(f"{path} is not a readable .deb: {why}",
                        hint="publish .deb files made by `omnibus package` (dpkg-deb --info "
                        "FILE shows what is wrong)")


def read_control(path: Path) -> str:
    """The text of the `control` file inside the .deb at `path`."""
    with path.open("rb") as handle:
        if handle.read(len(AR_MAGIC)) != AR_MAGIC:
            raise _not_a_deb(path, "no ar archive header")
        while header := handle.read(60):
            if len(header) < 60 or header[58:60] != b"`\n":
                raise _not_a_deb(path, "truncated ar member header")
            name = header[:16].decode(errors="replace").strip().rstrip("/")
            size = int(header[48:58].decode(errors="replace").strip() or "0")
            if name.startswith("control.tar"):
                if size > MAX_CONTROL_TAR:
                    raise _not_a_deb(path, f"{name} is {size} bytes")
                return _control_from_tar(path, name, handle.read(size))
            handle.seek(size + (size & 1), io.SEEK_CUR)  # members are padded to even sizes
    raise _not_a_deb(path, "no control.tar member")


def _decompress(path: Path, name: str, data: bytes) -> bytes:
    try:
        if name == "control.tar":
            return data
        if name == "control.tar.gz":
            return gzip.decompress(data)
        if name == "control.tar.xz":
            return lzma.decompress(data)
        if name == "control.tar.zst":
            # A stream reader, not decompress(): frames written as streams carry no size.
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                return reader.read()
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as error:
        raise _not_a_deb(path, f"{name} does not decompress ({error})") from error
    raise _not_a_deb(path, f"unknown control member compression '{name}'")


def _control_from_tar(path: Path, name: str, data: bytes) -> str:
    raw = _decompress(path, name, data)
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if member.isfile() and member.name in ("./control", "control"):
                    extracted = tar.extractfile(member)
                    assert extracted is not None  # a regular file always has contents
                    return extracted.read().decode()
    except (tarfile.TarError, UnicodeDecodeError) as error:
        raise _not_a_deb(path, f"{name} is unreadable ({error})") from error
    raise _not_a_deb(path, f"{name} has no ./control")


def parse_paragraph(text: str, where: str) -> Fields:
    """One deb822 paragraph as (name, value) pairs in order; a continued value keeps its
    continuation lines (each starting with a space) after a newline."""
    fields: Fields = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            if not fields:
                raise BuilderError(f"{where}: a continuation line comes before any field",
                                   hint="control paragraphs start with 'Field: value'")
            name, value = fields[-1]
            fields[-1] = (name, f"{value}\n{line}")
        elif line.strip():
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise BuilderError(f"{where}: '{line}' is not a 'Field: value' line",
                                   hint="control paragraphs hold 'Field: value' lines")
            fields.append((name.strip(), value.strip()))
    return fields


def paragraphs(text: str, where: str) -> list[Fields]:
    """Every paragraph of a deb822 file (a Packages index), split at blank lines."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return [parse_paragraph(block, where) for block in blocks]


def render(fields: Fields) -> str:
    """The paragraph as text, each line ending in a newline."""
    lines = []
    for name, value in fields:
        lines.append(f"{name}:{value}" if value.startswith("\n") else f"{name}: {value}")
    return "\n".join(lines) + "\n"


def field(fields: Fields, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in fields if key.lower() == wanted), None)
