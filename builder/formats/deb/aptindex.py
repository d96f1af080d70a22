"""The index files of an apt repository: Packages stanzas and the Release file.

Everything here is a pure function of the pool's entries (and the date), so the same pool
always gives the same bytes: that is what lets a re-publish see that nothing changed.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import lzma
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from builder.errors import BuilderError
from builder.formats.deb import debfile
from builder.formats.deb.debfile import Fields

COMPONENT = "main"
#: Release's checksum sections, weakest first, with the hashlib name of each. apt fetches
#: by-hash with the strongest one it knows, so every one listed gets its by-hash copy.
HASHES = (("MD5Sum", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"), ("SHA512", "sha512"))
#: The fields a Packages stanza adds to the control file, in this order.
FILE_FIELDS = ("Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512")
#: Packages and its compressed forms; apt picks the one it likes best among those listed.
COMPRESSED: Mapping[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    ".gz": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    ".xz": lambda data: lzma.compress(data, preset=6, check=lzma.CHECK_CRC64),
}
DECOMPRESS: Mapping[str, Callable[[bytes], bytes]] = {
    "": lambda data: data, ".gz": gzip.decompress, ".xz": lzma.decompress,
}


@dataclass(frozen=True)
class Entry:
    """One package in the pool: its control fields, then where it is and its checksums."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def make(cls, control: Fields, filename: str, size: int,
             digests: Mapping[str, str]) -> Entry:
        kept = [(name, value) for name, value in control if name not in FILE_FIELDS]
        added = [("Filename", filename), ("Size", str(size)), ("MD5sum", digests["md5"]),
                 ("SHA1", digests["sha1"]), ("SHA256", digests["sha256"]),
                 ("SHA512", digests["sha512"])]
        return cls(tuple(kept + added))

    def get(self, name: str) -> str:
        return debfile.field(list(self.fields), name) or ""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.get("Package"), self.get("Version"), self.get("Architecture")

    def describe(self) -> str:
        return "{} {} ({})".format(*self.key)


def check_control(control: Fields, where: str) -> None:
    missing = [name for name in ("Package", "Version", "Architecture")
               if not debfile.field(control, name)]
    if missing:
        raise BuilderError(f"{where} has no {', '.join(missing)} in its control file",
                           hint="every .deb names its package, version and architecture")


DIGITS = re.compile(r"[0-9]*")


def _digits_at(text: str, index: int) -> str:
    """The run of digits starting at `index` ("" when there is none: the pattern matches
    empty runs too)."""
    found = DIGITS.match(text, index)
    return found.group() if found else ""


def _order(char: str) -> int:
    """dpkg's weight of a non-digit: '~' before the end of the string, letters before
    other characters."""
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _is_digit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


def _weight(text: str, index: int) -> int:
    return 0 if index >= len(text) or _is_digit(text, index) else _order(text[index])


def _compare_part(left: str, right: str) -> int:
    """dpkg's verrevcmp: alternate runs of non-digits (compared by weight) and digits
    (compared as numbers)."""
    i = j = 0
    while i < len(left) or j < len(right):
        while (i < len(left) and not _is_digit(left, i)) or \
                (j < len(right) and not _is_digit(right, j)):
            difference = _weight(left, i) - _weight(right, j)
            if difference:
                return -1 if difference < 0 else 1
            i, j = i + 1, j + 1
        l_run, r_run = _digits_at(left, i), _digits_at(right, j)
        if int(l_run or 0) != int(r_run or 0):
            return -1 if int(l_run or 0) < int(r_run or 0) else 1
        i, j = i + len(l_run), j + len(r_run)
    return 0


def compare_versions(left: str, right: str) -> int:
    """Debian version order (epoch, upstream, revision), as `dpkg --compare-versions`."""
    def split(version: str) -> tuple[int, str, str]:
        epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, revision

    l_epoch, l_upstream, l_revision = split(left)
    r_epoch, r_upstream, r_revision = split(right)
    if l_epoch != r_epoch:
        return -1 if l_epoch < r_epoch else 1
    return _compare_part(l_upstream, r_upstream) or _compare_part(l_revision, r_revision)


def _sort_key(entry: Entry) -> tuple:
    name, version, arch = entry.key
    # The raw version breaks ties between versions dpkg holds equal (1.0 and 1.00).
    return (name, functools.cmp_to_key(compare_versions)(version), version, arch)


def index_arches(entries: Iterable[Entry], platform_arches: Iterable[str]) -> list[str]:
    """Arches that get a Packages index: those with packages; with an `all` package, the
    platform's arches too (it is listed in each)."""
    present = {entry.key[2] for entry in entries}
    arches = present - {"all"}
    if "all" in present:
        arches |= set(platform_arches)
    return sorted(arches)


def packages_text(entries: Iterable[Entry], arch: str) -> bytes:
    chosen = sorted((e for e in entries if e.key[2] in (arch, "all")), key=_sort_key)
    return "\n".join(debfile.render(list(e.fields)) for e in chosen).encode()


def index_files(entries: Iterable[Entry], arches: Iterable[str],
                existing: Callable[[str], bytes | None]) -> dict[str, bytes]:
    """Each index file, by its path under dists/<codename>/. A compressed file already
    there that decompresses to the same Packages is kept as it is: another machine's gzip
    or xz may write other bytes for the same text, and that is no reason for a new Release."""
    entries = list(entries)
    files = {}
    for arch in arches:
        directory = f"{COMPONENT}/binary-{arch}"
        plain = packages_text(entries, arch)
        for suffix, compress in COMPRESSED.items():
            path = f"{directory}/Packages{suffix}"
            files[path] = _kept(existing(path), suffix, plain) or compress(plain)
    return files


def _kept(current: bytes | None, suffix: str, plain: bytes) -> bytes | None:
    if current is None or not suffix:
        return None
    try:
        return current if DECOMPRESS[suffix](current) == plain else None
    except (OSError, EOFError, lzma.LZMAError):
        return None


def by_hash_paths(path: str, data: bytes) -> list[str]:
    """Where apt fetches `path` by each of its hashes (Acquire-By-Hash)."""
    directory = path.rpartition("/")[0]
    return [f"{directory}/by-hash/{section}/{hashlib.new(algorithm, data).hexdigest()}"
            for section, algorithm in HASHES]


def release_date(seconds: int) -> str:
    """RFC 2822 in UTC, as Debian's archive writes it (apt wants the UTC zone)."""
    return email.utils.formatdate(seconds, usegmt=True).removesuffix("GMT") + "UTC"


def release_text(name: str, codename: str, date: int, arches: Iterable[str],
                 files: Mapping[str, bytes]) -> str:
    lines = [f"Origin: {name}", f"Label: {name}", f"Suite: {codename}", f"Codename: {codename}",
             f"Date: {release_date(date)}", f"Architectures: {' '.join(arches)}",
             f"Components: {COMPONENT}", "Acquire-By-Hash: yes"]
    for section, algorithm in HASHES:
        lines.append(f"{section}:")
        lines += [f" {hashlib.new(algorithm, data).hexdigest()} {len(data):>16} {path}"
                  for path, data in sorted(files.items())]
    return "\n".join(lines) + "\n"


def without_date(release: str) -> str:
    """Release minus its Date: two Release files that differ only there say the same."""
    return "".join(line for line in release.splitlines(keepends=True)
                   if not line.startswith("Date:"))
