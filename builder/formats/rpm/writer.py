"""The .rpm writer, writing the format itself: lead, signature header, main header and a
compressed cpio payload, laid out as rpmbuild 4.18 lays them out.

Why not rpmbuild: it copies the tree into its BUILDROOT and classifies every file with
libmagic even under `AutoReqProv: no` (about 1 ms per file); this streams the payload once,
on every core. `rpm -K`, `rpm -qlvp` and rpmlint read what it writes (tests check).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from builder.digests import sha256_file
from builder.formats import signing
from builder.formats.compress import compressing
from builder.formats.members import (
    Member,
    package_members,
    payload_order,
    with_link_sets_together,
)
from builder.formats.meta import PackageMeta, parse_dependency, wrap_paragraphs
from builder.formats.rpm.cpio import CountingWriter, link_sets, write_cpio
from builder.formats.rpm.rpmheader import (
    BIN,
    I18NSTRING,
    INT16,
    INT32,
    INT64,
    REGION_IMMUTABLE,
    REGION_SIGNATURES,
    STRING,
    STRING_ARRAY,
    encode_header,
    lead,
)
from builder.package.stage import Stage

# Tags (rpmtag.h).
SIG_SIZE, SIG_MD5, SIG_PAYLOADSIZE, SIG_RESERVED = 1000, 1004, 1007, 1008
SIG_RSA, SIG_SHA1, SIG_LONGSIZE, SIG_LONGARCHIVESIZE, SIG_SHA256 = 268, 269, 270, 271, 273
SENSE = {"": 0, "<<": 2, "<": 2, ">>": 4, ">": 4, "=": 8, "<=": 10, ">=": 12}
SENSE_RPMLIB, SENSE_INTERP = 1 << 24, 1 << 8
SCRIPT_TAGS = {  # script: (tag, interpreter tag, requirement flag)
    "preinst": (1023, 1085, 1 << 9), "postinst": (1024, 1086, 1 << 10),
    "prerm": (1025, 1087, 1 << 11), "postrm": (1026, 1088, 1 << 12),
    "posttrans": (1152, 1154, 1 << 5),
}
FILE_FLAGS = {"": 0, "doc": 2, "license": 128}
#: rpm's names of the platforms' arches (rpm's %_arch); a platform may say otherwise (armv6hl).
ARCH_NAMES = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7hl"}
EXTENSION = ".rpm"
ARCHNUM = {"x86_64": 1, "aarch64": 19, "armv7hl": 12, "armv6hl": 12}
RESERVED_SPACE = 4128  # lets `rpmsign --addsign` add a signature in place later
UINT32_MAX = 0xFFFFFFFF


def file_name(meta: PackageMeta) -> str:
    return f"{meta.name}-{_version(meta)}-{_release(meta)}.{meta.arch}{EXTENSION}"


def _version(meta: PackageMeta) -> str:
    return meta.version.version.replace("-", "~")


def _release(meta: PackageMeta) -> str:
    return meta.version.iteration.replace("-", "~") + meta.dist_tag


def _dependencies(texts: tuple[str, ...]) -> tuple[list[str], list[int], list[str]]:
    names, flags, versions = [], [], []
    for text in texts:
        name, op, version = parse_dependency(text)
        names.append(name)
        flags.append(SENSE[op])
        versions.append(version)
    return names, flags, versions


def _requirements(meta: PackageMeta) -> dict[int, tuple[int, Any]]:
    names, flags, versions = _dependencies(meta.depends)
    script_flags = 0
    for script, (_tag, _prog, flag) in SCRIPT_TAGS.items():
        if script in meta.scripts:
            script_flags |= flag
    if script_flags:
        names.insert(0, "/bin/sh")
        flags.insert(0, SENSE_INTERP | script_flags)
        versions.insert(0, "")
    rpmlib = [("CompressedFileNames", "3.0.4-1"), ("FileDigests", "4.6.0-1"),
              ("PayloadFilesHavePrefix", "4.0-1")]
    if meta.compression.type == "zstd":
        rpmlib.append(("PayloadIsZstd", "5.4.18-1"))
    elif meta.compression.type == "xz":
        rpmlib.append(("PayloadIsXz", "5.2-1"))
    for feature, version in rpmlib:
        names.append(f"rpmlib({feature})")
        flags.append(SENSE_RPMLIB | SENSE["<="])
        versions.append(version)
    return {1049: (STRING_ARRAY, names), 1048: (INT32, flags), 1050: (STRING_ARRAY, versions)}


def _relations(meta: PackageMeta) -> dict[int, tuple[int, Any]]:
    evr = f"{_version(meta)}-{_release(meta)}"
    tags: dict[int, tuple[int, Any]] = {
        1047: (STRING_ARRAY, [meta.name]), 1112: (INT32, [SENSE["="]]),
        1113: (STRING_ARRAY, [evr]),
    }
    tags.update(_requirements(meta))
    for (names_tag, flags_tag, versions_tag), texts in (((1054, 1053, 1055), meta.conflicts),
                                                         ((1090, 1114, 1115), meta.replaces)):
        if texts:
            names, flags, versions = _dependencies(texts)
            tags[names_tag] = (STRING_ARRAY, names)
            tags[flags_tag] = (INT32, flags)
            tags[versions_tag] = (STRING_ARRAY, versions)
    return tags


#: A message catalog's language, from where it is installed (.../share/locale/LANG/...).
LOCALE_FILE = re.compile(r"/share/locale/([^/]+)/LC_MESSAGES/[^/]+\.mo$")


def file_lang(member: Member) -> str:
    """What rpmbuild's %find_lang marks a file with (%lang(LANG)): the language of a message
    catalog, so rpm can leave out languages a host does not install (%_install_langs)."""
    match = LOCALE_FILE.search(f"/{member.path}") if member.kind == "file" else None
    return match[1] if match else ""


def _file_tags(members: list[Member], digests: list[str], inodes: list[int]) -> dict[int, Any]:
    dirnames: list[str] = []
    dir_index: dict[str, int] = {}
    indexes, basenames = [], []
    for member in members:
        parent, _, base = f"/{member.path}".rpartition("/")
        parent += "/"
        if parent not in dir_index:
            dir_index[parent] = len(dirnames)
            dirnames.append(parent)
        indexes.append(dir_index[parent])
        basenames.append(base)
    sizes = [m.size if m.kind == "file" else len(m.target.encode()) for m in members]
    count = len(members)
    large = any(size > UINT32_MAX for size in sizes)
    return {
        5008 if large else 1028: (INT64 if large else INT32, sizes),
        1030: (INT16, [m.st_mode for m in members]),
        1033: (INT16, [0] * count),
        1034: (INT32, [m.mtime for m in members]),
        1035: (STRING_ARRAY, digests),
        1036: (STRING_ARRAY, [m.target for m in members]),
        1037: (INT32, [FILE_FLAGS[m.role] for m in members]),
        1039: (STRING_ARRAY, ["root"] * count),
        1040: (STRING_ARRAY, ["root"] * count),
        1045: (INT32, [-1] * count),
        1095: (INT32, [1] * count),
        1096: (INT32, inodes),
        1097: (STRING_ARRAY, [file_lang(m) for m in members]),
        1116: (INT32, indexes),
        1117: (STRING_ARRAY, basenames),
        1118: (STRING_ARRAY, dirnames),
        5011: (INT32, [8]),  # file digests are SHA256
    }


def _main_header(meta: PackageMeta, members: list[Member], digests: list[str],
                 inodes: list[int], payload: dict[str, str]) -> bytes:
    total = sum(m.size for m in members if m.kind == "file")
    evr = f"{_version(meta)}-{_release(meta)}"
    tags: dict[int, tuple[int, Any]] = {
        100: (STRING_ARRAY, ["C"]),
        1000: (STRING, meta.name), 1001: (STRING, _version(meta)), 1002: (STRING, _release(meta)),
        1004: (I18NSTRING, meta.summary),
        1005: (I18NSTRING, "\n".join(wrap_paragraphs(meta.description))),
        1006: (INT32, [meta.epoch]), 1007: (STRING, "omnibus-builder"),
        1011: (STRING, meta.vendor), 1014: (STRING, meta.license),
        1015: (STRING, meta.maintainer), 1016: (I18NSTRING, "Applications/System"),
        1020: (STRING, meta.homepage), 1021: (STRING, "linux"), 1022: (STRING, meta.arch),
        1044: (STRING, f"{meta.name}-{_version(meta)}-{_release(meta)}.src.rpm"),
        1124: (STRING, "cpio"), 1125: (STRING, meta.compression.type),
        1126: (STRING, str(meta.compression.level)),
        5062: (STRING, "utf-8"),
        # One changelog entry naming the build, as rpmbuild would write from %changelog.
        1080: (INT32, [meta.epoch]), 1081: (STRING_ARRAY, [f"{meta.maintainer} - {evr}"]),
        1082: (STRING_ARRAY, [f"- {meta.name} {evr}, built by omnibus"]),
        5092: (STRING_ARRAY, [payload["compressed"]]), 5093: (INT32, [8]),
        5097: (STRING_ARRAY, [payload["uncompressed"]]),
    }
    tags[5009 if total > UINT32_MAX else 1009] = (INT64 if total > UINT32_MAX else INT32, [total])
    for script, (tag, prog_tag, _flag) in SCRIPT_TAGS.items():
        if script in meta.scripts:
            tags[tag] = (STRING, _script_body(meta.scripts[script]))
            tags[prog_tag] = (STRING, "/bin/sh")
    tags.update(_relations(meta))
    if members:
        tags.update(_file_tags(members, digests, inodes))
    return encode_header(tags, REGION_IMMUTABLE)


def _script_body(text: str) -> str:
    """rpm runs a scriptlet with its interpreter; the shebang line is dropped."""
    return text.split("\n", 1)[1] if text.startswith("#!") else text


def _signature_header(meta: PackageMeta, header: bytes, payload_path: Path,
                      uncompressed: int) -> bytes:
    md5 = hashlib.md5(header, usedforsecurity=False)
    with payload_path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            md5.update(chunk)
    size = len(header) + payload_path.stat().st_size
    tags: dict[int, tuple[int, Any]] = {
        SIG_SHA1: (STRING, hashlib.sha1(header, usedforsecurity=False).hexdigest()),
        SIG_SHA256: (STRING, hashlib.sha256(header).hexdigest()),
        SIG_MD5: (BIN, md5.digest()),
        SIG_RESERVED: (BIN, bytes(RESERVED_SPACE)),
    }
    if size > UINT32_MAX or uncompressed > UINT32_MAX:
        tags[SIG_LONGSIZE] = (INT64, [size])
        tags[SIG_LONGARCHIVESIZE] = (INT64, [uncompressed])
    else:
        tags[SIG_SIZE] = (INT32, [size])
        tags[SIG_PAYLOADSIZE] = (INT32, [uncompressed])
    if meta.signing is not None:
        tags[SIG_RSA] = (BIN, signing.sign_bytes(meta.signing, header, signed_at=meta.epoch))
    signature = encode_header(tags, REGION_SIGNATURES)
    return signature + b"\0" * (-len(signature) % 8)


def build(stage: Stage, meta: PackageMeta, out_dir: Path) -> Path:
    """Write the .rpm into out_dir (through a temporary name) and return its path."""
    members = [m for m in package_members(stage, meta.extra_files, meta.epoch) if m.owned]
    inodes, nlinks = link_sets(members)
    target = out_dir / file_name(meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".rpm-") as scratch:
        payload_path = Path(scratch) / "payload"
        with payload_path.open("wb") as raw, \
                compressing(meta.compression, raw, meta.threads) as compressed:
            counter = CountingWriter(compressed)
            order = with_link_sets_together(members, payload_order(members), inodes)
            digests = write_cpio(members, inodes, nlinks, order, counter)
        payload = {"compressed": sha256_file(payload_path),
                   "uncompressed": counter.sha256.hexdigest()}
        header = _main_header(meta, members, digests, inodes, payload)
        signature = _signature_header(meta, header, payload_path, counter.size)
        partial = Path(scratch) / "package.rpm"
        with partial.open("wb") as out, payload_path.open("rb") as source:
            out.write(lead(f"{meta.name}-{_version(meta)}-{_release(meta)}",
                           ARCHNUM.get(meta.arch, 0)))
            out.write(signature)
            out.write(header)
            while chunk := source.read(1 << 20):
                out.write(chunk)
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    return target
