"""The health check of a stage, before packaging: what would break on a user's host.

For every ELF file (found by its magic, never by name; never executed) each NEEDED library is
resolved through RPATH/RUNPATH ($ORIGIN expanded), inside the stage, as the dynamic loader
would find it on the host. A library found outside the install dir must match the platform's
`allowed_libs` (or the software's `health_check.allow_libs`); one found nowhere fails. The
highest GLIBC_ symbol version any binary needs must not exceed the platform's glibc. Also
refused: world-writable files, setuid/setgid files (unless the software's
`health_check.allow_files` names them), broken symlinks, absolute symlinks leaving the install
dir, build-directory paths left in RPATHs or text files, and ELF files of a software marked
platform_independent. One report lists every offender with the software that installed it.

What it learns on the way is kept for the packagers: the highest GLIBC_ symbol version the
shipped ELF files need, per ELF class, from which the packages' C library dependency is
computed (`libc_dependencies`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from builder.definitions.model import HealthCheckRules
from builder.errors import BuilderError
from builder.package.stage import Stage, StageEntry, glob_regex

ELF_MAGIC = b"\x7fELF"
#: A build tree's path: the builder mounts sources at /src/<name>-<version>. What stands
#: before it tells a leftover (` /src/x-1/`, `-I/src/x-1/`) from a path that only ends in
#: src (`/usr/src/x/`, `doc/src/sgml/`, `./src/x/`).
BUILD_PATH = re.compile(rb"([^\s'\"=:;,(]*)(/src/[\w.+\-]+/)")


def build_path(data: bytes) -> str | None:
    """The first build-tree path in `data`, or None."""
    for match in BUILD_PATH.finditer(data):
        before = match.group(1)
        if not before or (before.startswith(b"-") and b"/" not in before):
            return match.group(2).decode(errors="replace")
    return None
TEXT_SCAN_LIMIT = 1 << 20  # text files bigger than this are not scanned for build paths
PARALLEL_FROM = 64  # ELF files: fewer are parsed in this process


@dataclass(frozen=True)
class Offence:
    path: str  # absolute, as installed
    owner: str  # the software that installed it
    rule: str
    detail: str


@dataclass(frozen=True)
class ElfFacts:
    needed: tuple[str, ...]
    search_paths: tuple[str, ...]  # RPATH/RUNPATH entries, as written
    glibc: tuple[int, ...]  # the highest GLIBC_x.y it needs, () if none
    bits: int = 64  # the ELF class: 32 or 64


@dataclass(frozen=True)
class HealthReport:
    """The offences, and the highest GLIBC_ version the stage's ELF files need per ELF class
    (32 or 64; a class with no versioned need is absent)."""

    offences: list[Offence]
    glibc: dict[int, tuple[int, ...]]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _dynamic(section: DynamicSection, needed: list[str], paths: list[str]) -> None:
    for tag in section.iter_tags():
        kind = tag.entry.d_tag
        if kind not in ("DT_NEEDED", "DT_RPATH", "DT_RUNPATH"):
            continue
        # pyelftools sets these tags' strings with setattr (.needed, .rpath, .runpath), so its
        # type hints do not know the attributes.
        value: str = getattr(tag, kind[3:].lower())
        if kind == "DT_NEEDED":
            needed.append(value)
        else:
            paths += [p for p in value.split(":") if p]


def _highest_glibc(section: GNUVerNeedSection) -> tuple[int, ...]:
    versions = [_version_tuple(aux.name[6:]) for _file, auxiliaries in section.iter_versions()
                for aux in auxiliaries if aux.name.startswith("GLIBC_")]
    return max(versions, default=())


def _elf_facts(handle: BinaryIO, path: str) -> ElfFacts:
    needed: list[str] = []
    paths: list[str] = []
    glibc: tuple[int, ...] = ()
    try:
        elf = ELFFile(handle)
        bits = elf.elfclass
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                _dynamic(section, needed, paths)
            elif isinstance(section, GNUVerNeedSection):
                glibc = max(glibc, _highest_glibc(section))
    except (ELFError, ValueError, OSError) as error:
        raise BuilderError(f"{path}: unreadable ELF file: {error}",
                           hint="the build left a damaged binary; rebuild it") from error
    return ElfFacts(tuple(needed), tuple(paths), glibc, bits)


def read_file(path: str, limit: int = TEXT_SCAN_LIMIT) -> bool | bytes | None:
    """True for an ELF file; else a text file's contents (None when binary or too big)."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
        if head[:4] == ELF_MAGIC:
            return True
        if b"\0" in head:
            return None
        rest = handle.read(limit)
        return None if handle.read(1) else head + rest


def read_elf(path: str) -> ElfFacts | None:
    """NEEDED, RPATH/RUNPATH and the highest GLIBC_ version of an ELF file; None if not ELF."""
    with open(path, "rb") as handle:
        if handle.read(4) != ELF_MAGIC:
            return None
        handle.seek(0)
        return _elf_facts(handle, path)


def _read_elves(paths: list[str]) -> list[ElfFacts | None]:
    """pyelftools takes about 2 ms a file: many files are parsed on every CPU."""
    workers = min(os.cpu_count() or 1, 8)
    if workers == 1 or len(paths) < PARALLEL_FROM:
        return [read_elf(path) for path in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(read_elf, paths, chunksize=32))


@dataclass
class _Checker:
    stage: Stage
    allowed_libs: tuple[re.Pattern[str], ...]
    glibc: tuple[int, ...]
    rules: Mapping[str, HealthCheckRules]
    offences: list[Offence]

    @property
    def install_dir(self) -> str:
        return self.stage.install_dir

    def offend(self, entry: StageEntry, rule: str, detail: str) -> None:
        self.offences.append(Offence(f"/{entry.path}", entry.owner or "(generated)", rule,
                                     detail))

    def in_stage(self, absolute: str) -> str:
        return f"{self.stage.root}{absolute}"  # absolute paths start with /

    def check_elf(self, entry: StageEntry, facts: ElfFacts) -> None:
        origin = os.path.dirname(f"/{entry.path}")
        directories = []
        for raw in facts.search_paths:
            expanded = raw.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
            expanded = os.path.normpath(expanded)
            if build_path(expanded.encode() + b"/"):
                self.offend(entry, "build path in rpath", f"RPATH/RUNPATH has {raw}")
            directories.append(expanded)
        owner_rules = self.rules.get(entry.owner, HealthCheckRules())
        extra = tuple(re.compile(p) for p in owner_rules.allow_libs)
        for library in facts.needed:
            if any(os.path.exists(self.in_stage(f"{d}/{library}")) for d in directories
                   if d == self.install_dir or d.startswith(self.install_dir + "/")):
                continue
            if any(p.search(library) for p in self.allowed_libs + extra):
                continue
            self.offend(entry, "unresolved or disallowed library",
                        f"needs {library}: not in the install dir (searched RPATH/RUNPATH: "
                        f"{', '.join(directories) or 'none'}) and not an allowed system "
                        "library")
        if self.glibc and facts.glibc > self.glibc:
            wanted = ".".join(map(str, facts.glibc))
            have = ".".join(map(str, self.glibc))
            self.offend(entry, "glibc too new",
                        f"needs GLIBC_{wanted}, the platform has glibc {have}")

    def check_modes(self, entry: StageEntry) -> None:
        allowed = self.rules.get(entry.owner, HealthCheckRules()).allow_files
        relative = entry.path[len(self.install_dir.strip("/")) + 1:]
        exempt = any(glob_regex(p).fullmatch(relative) for p in allowed)
        if entry.kind != "symlink" and entry.mode & 0o002 and not (
                entry.kind == "dir" and entry.mode & 0o1000):
            self.offend(entry, "world-writable", f"mode {entry.mode:04o}")
        if entry.kind == "file" and entry.mode & 0o6000 and not exempt:
            self.offend(entry, "setuid/setgid", f"mode {entry.mode:04o}; list it in the "
                        "software's health_check.allow_files if it must be")

    def check_symlink(self, entry: StageEntry) -> None:
        if entry.target.startswith("/"):
            if not (entry.target == self.install_dir
                    or entry.target.startswith(self.install_dir + "/")):
                self.offend(entry, "absolute symlink leaving the install dir",
                            f"points to {entry.target}")
                return
            resolved = self.in_stage(entry.target)
        else:
            resolved = os.path.join(os.path.dirname(f"{self.stage.root}/{entry.path}"),
                                    entry.target)
        if not os.path.exists(resolved):
            self.offend(entry, "broken symlink", f"points to {entry.target}, which is missing")

    def check_text(self, entry: StageEntry, data: bytes) -> None:
        if b"/src/" not in data:  # a plain search first: the regex is 10x slower
            return
        found = build_path(data)
        if found:
            self.offend(entry, "build path in text file", f"contains {found}")


def check_stage(stage: Stage, allowed_libs: Iterable[str], glibc: str,
                rules: Mapping[str, HealthCheckRules],
                platform_independent: frozenset[str] = frozenset()) -> list[Offence]:
    """Every offence in the stage, in path order (see inspect_stage)."""
    return inspect_stage(stage, allowed_libs, glibc, rules, platform_independent).offences


def inspect_stage(stage: Stage, allowed_libs: Iterable[str], glibc: str,
                  rules: Mapping[str, HealthCheckRules],
                  platform_independent: frozenset[str] = frozenset()) -> HealthReport:
    """Every offence in the stage, in path order, and the GLIBC_ versions it needs. Software
    named in `platform_independent` share one artifact across platforms, so an ELF file of
    theirs is an offence."""
    checker = _Checker(stage, tuple(re.compile(p) for p in allowed_libs),
                       _version_tuple(glibc), rules, [])
    elves: list[StageEntry] = []
    for entry in stage.entries:
        checker.check_modes(entry)
        if entry.kind == "symlink":
            checker.check_symlink(entry)
        elif entry.kind == "file":
            found = read_file(f"{stage.root}/{entry.path}")
            if found is True:
                elves.append(entry)
                if entry.owner in platform_independent:
                    checker.offend(entry, "compiled code in a platform-independent software",
                                   "an ELF file, but its artifact is shared by every platform "
                                   "and arch; drop platform_independent from its definition")
            elif isinstance(found, bytes):
                checker.check_text(entry, found)
    facts = _read_elves([f"{stage.root}/{entry.path}" for entry in elves])
    needs: dict[int, tuple[int, ...]] = {}
    for entry, elf in zip(elves, facts, strict=True):
        if elf is not None:
            checker.check_elf(entry, elf)
            if elf.glibc:
                needs[elf.bits] = max(needs.get(elf.bits, ()), elf.glibc)
    return HealthReport(sorted(checker.offences, key=lambda o: (o.path, o.rule)),
                        dict(sorted(needs.items())))


#: The C library's package (deb) and soname (rpm), as dpkg-shlibdeps and rpm's elfdeps name
#: them on every arch we build for.
LIBC_DEB = "libc6"
LIBC_SONAME = "libc.so.6"


def libc_dependencies(glibc: Mapping[int, tuple[int, ...]], package_format: str) -> list[str]:
    """What a package needs of the C library so that it installs only where its binaries
    run: deb `libc6 (>= X)`, rpm `libc.so.6(GLIBC_X)(64bit)` (`libc.so.6(GLIBC_X)` for 32-bit
    ELF files), X the highest GLIBC_ version its ELF files need; none without such files."""
    if not glibc:
        return []
    if package_format == "deb":
        return [f"{LIBC_DEB} (>= {'.'.join(map(str, max(glibc.values())))})"]
    return [f"{LIBC_SONAME}(GLIBC_{'.'.join(map(str, version))})"
            + ("(64bit)" if bits == 64 else "") for bits, version in sorted(glibc.items())]


def format_offences(offences: list[Offence]) -> str:
    lines = [f"  {o.path} ({o.owner}): {o.rule}: {o.detail}" for o in offences]
    return "\n".join(lines)
