"""Readers of the values of a software file (and the parts projects share with it); the
field table in `fields` says which key each reads, and `fields.parse_software` runs them.

Each reader checks the keys of every mapping it reads, the type of every value, and what can
be checked inside one file (SPDX licenses, checksum formats, template syntax). Checks that
need the whole catalog (dependencies exist, names are unique) live in `loader`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from builder.definitions.model import (
    CONDITION_FACTS,
    Condition,
    DebianOrig,
    Dependency,
    GitSource,
    HealthCheckRules,
    PathSource,
    Software,
    Source,
    UrlSource,
    Vendored,
    VersionFrom,
    frozen_map,
)
from builder.definitions.overrides import read_channels
from builder.definitions.spdx import LicenseChecker
from builder.definitions.strict import Section, section_of
from builder.definitions.templating import PLATFORM_VARIABLES, check_step, variables_used
from builder.errors import DefinitionError

SOURCE_KINDS = ("url", "pypi", "git", "path")
#: A file pinned by checksum may live only in Debian's archive (a repacked or native tarball).
SOURCE_KEYS = {
    "url": frozenset({"url", "sha256", "sha512", "debian"}),
    "pypi": frozenset({"pypi", "sha256", "debian"}),
    "git": frozenset({"git", "ref", "channels"}),
    "path": frozenset({"path"}),
}
VERSION_FROM_KEYS = frozenset({"file", "env", "tag_prefix"})
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "sha512": re.compile(r"[0-9a-f]{128}")}
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._+-]*")
PYPI_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")  # PEP 508


def check_name(section: Section, key: str, value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise section.error(
            key, f"'{value}' is not a valid name",
            hint="use lower-case letters, digits and . _ + - (starting with a letter or digit)",
        )
    return value


def read_name(section: Section, file: Path) -> str:
    return check_name(section, "name", section.str("name", default=file.stem))


def read_license(section: Section, licenses: LicenseChecker) -> str:
    expression = section.str("license", required=True)
    normalised, problem = licenses.normalise(expression)
    if normalised is None:
        raise section.error(
            "license", f"'{expression}' is not a valid SPDX license expression: {problem}",
            hint="use SPDX identifiers (https://spdx.org/licenses/) joined by AND, OR, WITH; "
            "a license SPDX does not list can be named LicenseRef-<name>",
        )
    return normalised


def _condition_values(section: Section, fact: str,
                      facts: Mapping[str, tuple[str, ...] | None]) -> tuple[str, ...]:
    raw = section.data[fact]
    values = (raw,) if isinstance(raw, str) else section.str_list(fact)
    if not values:
        raise section.error(fact, "needs at least one value")
    allowed = facts[fact]
    for value in values:
        if allowed is not None and value not in allowed:
            raise section.error(
                fact, f"'{value}' is not a known {fact}", hint=f"use one of: {', '.join(allowed)}"
            )
    return values


def _read_condition_part(item: Section, key: str,
                         facts: Mapping[str, tuple[str, ...] | None]) -> dict[str, tuple[str, ...]]:
    part = item.section(key)
    if part is None:
        return {}
    part.allow(frozenset(facts))
    if not part.data:
        raise item.error(key, "is empty", hint="name at least one fact, e.g. {edition: fips}")
    return {fact: _condition_values(part, fact, facts) for fact in part.data}


def read_dependencies(section: Section, key: str,
                      facts: Mapping[str, tuple[str, ...] | None] = CONDITION_FACTS,
                      ) -> tuple[Dependency, ...]:
    """Items are names, or mappings {name, when, unless} whose conditions test `facts`."""
    result: list[Dependency] = []
    seen: dict[str, int | None] = {}
    for item, location in section.items(key):
        if isinstance(item, str):
            dependency = Dependency(check_name(section, key, item), line=location.line)
        else:
            entry = section_of(item, location)
            entry.allow(frozenset({"name", "when", "unless"}))
            condition = Condition(
                when=frozen_map(_read_condition_part(entry, "when", facts)),
                unless=frozen_map(_read_condition_part(entry, "unless", facts)),
            )
            name = check_name(entry, "name", entry.str("name", required=True))
            dependency = Dependency(name, condition, line=location.line)
        if dependency.name in seen:
            raise DefinitionError(
                location, f"'{dependency.name}' is listed twice (first on line "
                f"{seen[dependency.name]})", hint="merge the two entries into one",
            )
        seen[dependency.name] = location.line
        result.append(dependency)
    return tuple(result)


def _read_url_source(section: Section) -> UrlSource:
    sums = [key for key in ("sha256", "sha512") if section.has(key)]
    if len(sums) != 1:
        raise section.error(
            None, "a url source needs exactly one of sha256 or sha512",
            hint="the checksum decides whether downloaded bytes are trusted",
        )
    digest = section.str(sums[0]).lower()
    if not _HEX[sums[0]].fullmatch(digest):
        raise section.error(sums[0], f"is not a {sums[0]} hex digest")
    debian = section.section("debian")
    orig = None
    if debian is not None:
        debian.allow(frozenset({"package", "version"}))
        orig = DebianOrig(debian.str("package", required=True), debian.str("version"))
    return UrlSource(section.str("url"), **{sums[0]: digest}, debian=orig,
                     pypi=_read_pypi_name(section) if section.has("pypi") else None)


def _read_pypi_name(section: Section) -> str:
    name = section.str("pypi")
    if not PYPI_NAME.fullmatch(name):
        raise section.error("pypi", f"'{name}' is not a Python project name",
                            hint="use the name as the package index spells it, e.g. PyYAML")
    return name


def read_literal_version(section: Section) -> str:
    """A literal version, or "" for {file, env, tag_prefix}: the loader fills that one in."""
    if not isinstance(section.data.get("version"), dict):
        return section.str("version", required=True)
    return ""


def read_version_from(section: Section) -> VersionFrom | None:
    """Where a version written as {file, env, tag_prefix} is read from; None for a literal."""
    if not isinstance(section.data.get("version"), dict):
        return None
    spec = section.section("version", True)
    spec.allow(VERSION_FROM_KEYS)
    origin = VersionFrom(spec.str("file", required=True), spec.str("env"),
                         spec.str("tag_prefix", default=""))
    if "/" in origin.file or origin.file.startswith("."):
        raise spec.error("file", f"'{origin.file}' is not a file name at the definitions root",
                         hint="name a file such as VERSION or GITALY_SERVER_VERSION")
    return origin


def read_source(section: Section, version_from: VersionFrom | None = None) -> Source | None:
    source = section.section("source")
    if source is None:
        return None
    kinds = [kind for kind in SOURCE_KINDS if source.has(kind)]
    if not kinds and source.has("debian"):
        kinds = ["url"]  # a tarball that only Debian's archive carries
    if len(kinds) != 1:
        raise section.error(
            "source", "must name exactly one of url (or debian), pypi, git or path",
            hint="omit 'source' entirely for software with nothing to fetch",
        )
    source.allow(SOURCE_KEYS[kinds[0]])
    if kinds[0] in ("url", "pypi"):
        return _read_url_source(source)
    if kinds[0] == "git":
        # a version read from a file names the ref; the loader fills it in
        return GitSource(source.str("git"), source.str("ref", required=version_from is None)
                         or "", channels=read_channels(source))
    return _read_path_source(source)


def _read_path_source(source: Section) -> PathSource:
    """One directory (its contents are the source root), or a list of directories, each
    copied to the same relative path: those must be plain relative paths that do not nest."""
    if not isinstance(source.data.get("path"), list):
        return PathSource(source.str("path"))
    entries: list[str] = []
    for item, location in source.items("path"):
        if not isinstance(item, str) or not item.strip():
            raise DefinitionError(location, "must be a directory of this repository (a string)")
        parts = PurePosixPath(item).parts
        if item.startswith("/") or item.endswith("/") or any(p in (".", "..") for p in parts) \
                or "/".join(parts) != item:
            raise DefinitionError(
                location, f"'{item}' is not a plain relative path",
                hint="name the directory from the repository root, such as gitlab_ctl or "
                "templates/config (no leading or trailing /, no . or ..)",
            )
        for other in entries:
            if item == other or item.startswith(other + "/") or other.startswith(item + "/"):
                raise DefinitionError(location, f"'{item}' overlaps '{other}', listed before",
                                      hint="list each directory once, and none inside another")
        entries.append(item)
    if not entries:
        raise source.error("path", "must name at least one directory")
    return PathSource(tuple(entries))


def read_steps(section: Section, key: str) -> tuple[str, ...]:
    steps = []
    for item, location in section.items(key):
        if isinstance(item, dict):
            raise DefinitionError(
                location, "a build step must be a string, but YAML read this one as a mapping",
                hint="a ': ' inside an unquoted step starts a mapping: quote the whole step",
            )
        if not isinstance(item, str) or not item.strip():
            raise DefinitionError(location, "a build step must be a non-empty string")
        check_step(item, location)
        steps.append(item)
    return tuple(steps)


def read_health_check(section: Section) -> HealthCheckRules:
    rules = section.section("health_check")
    if rules is None:
        return HealthCheckRules()
    rules.allow(frozenset({"allow_files", "allow_libs"}))
    for pattern, location in rules.items("allow_libs"):
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            raise DefinitionError(location, f"is not a regular expression: {error}") from error
    return HealthCheckRules(rules.str_list("allow_files"), rules.str_list("allow_libs"))


def check_platform_independent(section: Section, software: Software) -> None:
    """A platform-independent build must be the same on every platform: no family overrides,
    no step or env value reading a platform or arch variable."""
    if software.platforms:
        raise section.error("platforms", "a platform_independent software cannot have "
                            "per-family overrides", hint="drop the overrides, or the flag")
    texts = [("build", step) for step in software.build] + \
        [("env", value) for value in software.env.values()]
    for key, text in texts:
        used = variables_used(text, section.location(key)) & PLATFORM_VARIABLES
        if used:
            raise section.error(
                key, f"uses {', '.join(sorted(used))}, which differ between platforms, but "
                "the software is platform_independent",
                hint="its artifact is shared by every platform and arch: drop the variable, "
                "or drop platform_independent")


VENDORED_KEYS = frozenset({"yarn_lock", "go_modules", "go_modules_txt"})


def read_vendored(section: Section) -> Vendored | None:
    vendored = section.section("vendored")
    if vendored is None:
        return None
    vendored.allow(VENDORED_KEYS)
    paths = {}
    for key in VENDORED_KEYS:
        value = vendored.str(key)
        if value is not None:
            path = PurePosixPath(value)
            if path.is_absolute() or ".." in path.parts:
                raise vendored.error(key, f"'{value}' must be a path in the definitions root",
                                     hint="e.g. software/<name>/yarn.lock")
            paths[key] = value
    if ("go_modules" in paths) != ("go_modules_txt" in paths):
        raise vendored.error(None, "go_modules and go_modules_txt go together",
                             hint="the module list and the vendor/modules.txt that lists them")
    if not paths:
        raise vendored.error(None, "names nothing", hint=f"use {', '.join(sorted(VENDORED_KEYS))}")
    return Vendored(**paths)
