"""rpm's header structure: an index of (tag, type, offset, count) over a data store.

Entries are written sorted by tag, each value aligned to its type, and wrapped in a region
(tag 62 for the signature header, 63 for the main header) whose trailer lets rpm check that
nothing was added to the signed part, exactly as rpmbuild lays it out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
INT16, INT32, INT64, STRING, BIN, STRING_ARRAY, I18NSTRING = 3, 4, 5, 6, 7, 8, 9
ALIGN = {INT16: 2, INT32: 4, INT64: 8}
PACK = {INT16: ">H", INT32: ">I", INT64: ">q"}
REGION_SIGNATURES, REGION_IMMUTABLE = 62, 63


def _encode_value(kind: int, value: Any) -> tuple[bytes, int]:
    """The bytes of one value and its count."""
    if kind in PACK:
        values = list(value) if isinstance(value, Sequence) else [value]
        fmt = PACK[kind]
        if kind == INT16:
            values = [v & 0xFFFF for v in values]
        if kind == INT32:  # rpm reads sizes as unsigned: 2-4 GiB (GitLab's tree) must fit
            values = [v & 0xFFFFFFFF for v in values]
        return b"".join(struct.pack(fmt, v) for v in values), len(values)
    if kind in (STRING, I18NSTRING):
        return value.encode() + b"\0", 1
    if kind == STRING_ARRAY:
        return b"".join(v.encode() + b"\0" for v in value), len(value)
    if kind == BIN:
        return bytes(value), len(value)
    raise ValueError(f"unknown rpm tag type {kind}")


def encode_header(entries: dict[int, tuple[int, Any]], region: int) -> bytes:
    """A header blob (magic, counts, index, store) of {tag: (type, value)}."""
    index = []
    store = bytearray()
    for tag in sorted(entries):
        kind, value = entries[tag]
        data, count = _encode_value(kind, value)
        store += b"\0" * (-len(store) % ALIGN.get(kind, 1))
        index.append(struct.pack(">iIiI", tag, kind, len(store), count))
        store += data
    entry_count = len(index) + 1
    trailer = struct.pack(">iIiI", region, BIN, -entry_count * 16, 16)
    region_entry = struct.pack(">iIiI", region, BIN, len(store), 16)
    store += trailer
    return (MAGIC + struct.pack(">II", entry_count, len(store)) + region_entry
            + b"".join(index) + bytes(store))


def lead(name: str, archnum: int) -> bytes:
    """The 96-byte legacy lead that still starts every rpm."""
    return (b"\xed\xab\xee\xdb" + struct.pack(">BBhh", 3, 0, 0, archnum)
            + name.encode()[:65].ljust(66, b"\0") + struct.pack(">hh", 1, 5) + b"\0" * 16)


def decode_header(blob: bytes, offset: int = 0) -> tuple[dict[int, tuple[int, Any]], int]:
    """({tag: (type, value)}, end offset): for tests and `omnibus` inspection."""
    if blob[offset:offset + 8] != MAGIC:
        raise ValueError(f"no rpm header at offset {offset}")
    count, size = struct.unpack(">II", blob[offset + 8:offset + 16])
    store = offset + 16 + count * 16
    result = {}
    for i in range(count):
        tag, kind, where, items = struct.unpack(
            ">iIiI", blob[offset + 16 + i * 16:offset + 32 + i * 16])
        result[tag] = (kind, _decode_value(blob, store + where, kind, items))
    return result, store + size


def _decode_value(blob: bytes, at: int, kind: int, count: int) -> Any:
    if kind in PACK:
        width = ALIGN[kind]
        values = [struct.unpack(PACK[kind], blob[at + i * width:at + (i + 1) * width])[0]
                  for i in range(count)]
        return values
    if kind == BIN:
        return blob[at:at + count]
    strings = []
    for _ in range(count):
        end = blob.index(b"\0", at)
        strings.append(blob[at:end].decode())
        at = end + 1
    return strings[0] if kind in (STRING, I18NSTRING) and count == 1 else strings
