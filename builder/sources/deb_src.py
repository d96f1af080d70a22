"""Enable Debian source packages in apt, from the mirrors apt already uses.

The debian mirror kind runs `apt-get source`, which needs `deb-src` entries. This writes
them to one file of its own: a `deb-src` twin of every `deb` entry apt has (same URIs,
components and keys, so no host name is ever written by us), plus the same entries for any
extra release codenames asked for (definitions may pin versions from a newer release).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuilderError

SOURCES_DIR = Path("/etc/apt/sources.list.d")
OUR_FILE = "omnibus-deb-src.sources"


@dataclass(frozen=True)
class Entry:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


def _parse_deb822(text: str) -> list[Entry]:
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        current = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and current:
                fields[current] += "\n" + line
                continue
            current, _, value = line.partition(":")
            fields[current.strip()] = value.strip()
        if fields.get("Enabled", "yes") == "no" or "URIs" not in fields:
            continue
        entries.append(Entry(tuple(fields.get("Types", "").split()), tuple(fields["URIs"].split()),
                             tuple(fields.get("Suites", "").split()),
                             tuple(fields.get("Components", "").split()),
                             fields.get("Signed-By", "")))
    return entries


def _parse_one_line(text: str) -> list[Entry]:
    entries = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] in ("deb", "deb-src"):
            entries.append(Entry((words[0],), (words[1],), (words[2],), tuple(words[3:])))
    return entries


def configured_entries(etc_apt: Path) -> list[Entry]:
    entries = []
    for path in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        if path.name != OUR_FILE:
            entries += _parse_deb822(path.read_text())
    for path in [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            entries += _parse_one_line(path.read_text())
    return entries


def _renamed(suite: str, old: str, new: str) -> str:
    return new + suite[len(old):] if suite == old or suite.startswith(old + "-") else suite


def deb_src_stanzas(entries: Iterable[Entry], codename: str, extra: Iterable[str]) -> str:
    """deb-src stanzas mirroring every deb entry, for its suites and the extra codenames."""
    entries = list(entries)
    have = {(u, s) for e in entries if "deb-src" in e.types for u in e.uris for s in e.suites}
    stanzas = []
    for entry in (e for e in entries if "deb" in e.types):
        suites = list(entry.suites)
        suites += [_renamed(s, codename, new) for new in extra for s in entry.suites
                   if _renamed(s, codename, new) != s]
        wanted = [s for s in dict.fromkeys(suites) if all((u, s) not in have for u in entry.uris)]
        if not wanted:
            continue
        lines = ["Types: deb-src", f"URIs: {' '.join(entry.uris)}", f"Suites: {' '.join(wanted)}",
                 f"Components: {' '.join(entry.components)}"]
        if entry.signed_by:
            lines.append(f"Signed-By: {entry.signed_by}")
        stanzas.append("\n".join(lines))
    return "\n\n".join(stanzas) + ("\n" if stanzas else "")


def deb_stanzas_for(entries: Iterable[Entry], codename: str, target: str) -> str:
    """apt's deb entries as deb822 stanzas for release `target` (for a bootstrapped image)."""
    stanzas = []
    for entry in (e for e in entries if "deb" in e.types):
        suites = list(dict.fromkeys(_renamed(s, codename, target) for s in entry.suites))
        lines = ["Types: deb", f"URIs: {' '.join(entry.uris)}", f"Suites: {' '.join(suites)}",
                 f"Components: {' '.join(entry.components)}"]
        if entry.signed_by:
            lines.append(f"Signed-By: {entry.signed_by}")
        stanzas.append("\n".join(lines))
    return "\n\n".join(stanzas) + "\n"


def host_codename(etc: Path = Path("/etc")) -> str:
    for line in (etc / "os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise BuilderError("cannot tell this machine's release codename from /etc/os-release")


def write_deb_src(extra: Iterable[str], etc: Path = Path("/etc")) -> tuple[Path | None, bool]:
    """Write our deb-src file. Returns (the file, or None when apt already has every entry;
    whether anything changed, so the caller knows if apt's indexes need an update)."""
    text = deb_src_stanzas(configured_entries(etc / "apt"), host_codename(etc), extra)
    target = etc / "apt" / "sources.list.d" / OUR_FILE
    if not text:
        existed = target.exists()
        target.unlink(missing_ok=True)
        return None, existed
    text = "# Written by `omnibus setup-deb-src`: deb-src twins of apt's deb entries.\n" + text
    if target.is_file() and target.read_text() == text:
        return target, False
    target.write_text(text)
    return target, True
