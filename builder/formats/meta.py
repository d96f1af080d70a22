"""What a packager needs to know besides the staged tree: one frozen record per package."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.definitions.model import Compression, frozen_map
from builder.package.version import PackageVersion

#: `name`, or `name (OP version)` as in a deb Depends field.
DEPENDENCY = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9+.\-_()/:]*?)"
                        r"(?:\s*\((?P<op><<|<=|=|>=|>>)\s*(?P<version>[^)\s]+)\))?")


@dataclass(frozen=True)
class ExtraFile:
    """A file a packager adds outside the stage (docs, lintian overrides)."""

    path: str  # relative to /, e.g. usr/share/doc/gitlab-ce/copyright
    data: bytes
    mode: int = 0o644
    role: str = ""  # "", "doc" or "license": rpm marks these as %doc / %license


@dataclass(frozen=True)
class Signing:
    """A GPG key to sign with: its id or e-mail, the GnuPG home, an optional passphrase."""

    key: str
    gnupg_home: Path | None = None
    passphrase: str | None = None


@dataclass(frozen=True)
class PackageMeta:
    name: str
    version: PackageVersion
    arch: str  # in the format's own naming: amd64 / x86_64
    maintainer: str
    vendor: str
    homepage: str
    license: str
    summary: str
    description: str
    compression: Compression
    epoch: int  # SOURCE_DATE_EPOCH: every timestamp in the package
    platform: str = ""
    dist_tag: str = ""  # rpm release suffix, e.g. .el9
    depends: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    scripts: Mapping[str, str] = field(default_factory=frozen_map)  # preinst, postinst, ...
    extra_files: tuple[ExtraFile, ...] = ()
    signing: Signing | None = None
    threads: int = 0  # compression threads; 0: one per CPU


def wrap_paragraphs(text: str, width: int = 78) -> list[str]:
    """Long descriptions wrapped for both formats' 80-column conventions; "" between
    paragraphs."""
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if lines:
            lines.append("")
        lines += textwrap.wrap(" ".join(paragraph.split()), width, break_on_hyphens=False)
    return lines


def parse_dependency(text: str) -> tuple[str, str, str]:
    """(name, operator, version) of `name` or `name (>= 1.2)`; operator and version may be ''."""
    match = DEPENDENCY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a dependency (name, or name (>= version))")
    return match["name"], match["op"] or "", match["version"] or ""
