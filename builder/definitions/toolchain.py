"""Parser for toolchain files (`platforms/toolchains/<name>.yml`): Go, Node.js, yarn.

A toolchain is data: a version, the files it is unpacked from per arch (each pinned by its
checksum), where builds see it and what it adds to their environment. See docs/toolchains.md.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path, PurePosixPath
from typing import Any

from builder.definitions.model import ARCHES, Toolchain, ToolchainFile, frozen_map
from builder.definitions.software import check_name, read_license
from builder.definitions.spdx import LicenseChecker
from builder.definitions.strict import Section, section_of

TOOLCHAIN_KEYS = frozenset({"name", "version", "description", "license", "mount", "root",
                            "path", "env", "requires", "files"})
FILE_KINDS = ("debian", "npm")
SHA256 = re.compile(r"[0-9a-f]{64}")
NPM_SPEC = re.compile(r"(@[a-z0-9._-]+/)?[a-z0-9._-]+@[0-9][0-9A-Za-z.+-]*")
POOL_PATH = re.compile(r"pool/[a-z-]+/[a-z0-9+.-]+/[a-z0-9+.-]+/[^/\s]+\.deb")


def parse_toolchain(file: Path, data: Any, licenses: LicenseChecker) -> Toolchain:
    section = Section(file, data)
    section.allow(TOOLCHAIN_KEYS)
    mount = section.str("mount", required=True)
    if not PurePosixPath(mount).is_absolute() or ".." in PurePosixPath(mount).parts:
        raise section.error("mount", f"'{mount}' is not an absolute path",
                            hint="where builds see the toolchain, e.g. /usr/local/go")
    return Toolchain(
        name=check_name(section, "name", section.str("name", default=file.stem)),
        version=section.str("version", required=True),
        license=read_license(section, licenses),
        file=file,
        description=section.str("description", default=""),
        mount=mount,
        root=_relative(section, "root", section.str("root", default=".")),
        path=tuple(_relative(section, "path", p) for p in section.str_list("path") or ("bin",)),
        env=frozen_map(section.str_map("env")),
        requires=tuple(check_name(section, "requires", n) for n in section.str_list("requires")),
        files=frozen_map(_read_files(section)),
    )


def _relative(section: Section, key: str, value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise section.error(key, f"'{value}' must be a path inside the toolchain",
                            hint="write it relative to the unpacked files, without ..")
    return path.as_posix()


def _read_files(section: Section) -> dict[str, tuple[ToolchainFile, ...]]:
    files = section.section("files", required=True)
    files.allow(frozenset((*ARCHES, "all")))
    result = {}
    for arch in files.data:
        entries = []
        for item, location in files.items(arch):
            entries.append(_read_file(section_of(item, location)))
        if not entries:
            raise files.error(arch, "lists no files", hint="list at least one pinned file")
        result[str(arch)] = tuple(entries)
    if not result:
        raise section.error("files", "names no arch", hint=f"use {', '.join(ARCHES)} or all")
    return result


def _read_file(entry: Section) -> ToolchainFile:
    entry.allow(frozenset((*FILE_KINDS, "sha256", "integrity")))
    kinds = [kind for kind in FILE_KINDS if entry.has(kind)]
    if len(kinds) != 1:
        raise entry.error(None, "a file is either `debian: <pool path>` or `npm: <name@version>`",
                          hint="e.g. {debian: pool/main/g/golang-1.24/golang-1.24-go_1.24.4-1_"
                          "amd64.deb, sha256: ...}")
    kind = kinds[0]
    location = entry.str(kind, required=True)
    if kind == "debian":
        if not POOL_PATH.fullmatch(location):
            raise entry.error(kind, f"'{location}' is not a Debian pool path",
                              hint="the Filename field of the archive's Packages index")
        sha256 = entry.str("sha256", required=True)
        if not SHA256.fullmatch(sha256):
            raise entry.error("sha256", "is not 64 hex digits", hint="sha256sum of the .deb")
        return ToolchainFile(kind, location, sha256=sha256)
    if not NPM_SPEC.fullmatch(location):
        raise entry.error(kind, f"'{location}' is not name@version", hint="e.g. yarn@1.22.22")
    integrity = entry.str("integrity", required=True)
    _check_integrity(entry, integrity)
    return ToolchainFile(kind, location, integrity=integrity)


def _check_integrity(entry: Section, integrity: str) -> None:
    algorithm, _, digest = integrity.partition("-")
    try:
        raw = base64.b64decode(digest, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if algorithm != "sha512" or len(raw) != 64:
        raise entry.error("integrity", f"'{integrity}' is not a sha512 integrity string",
                          hint="copy dist.integrity from `npm view <name>@<version> dist`")
