"""`gitlab-ctl check-config --version VER`: the gitlab.rb settings that GitLab VER no longer
reads, as omnibus-gitlab's check-config reports them before a package upgrade (its preinst
runs the installed gitlab-ctl with the new MAJOR.MINOR and stops the upgrade on exit 1).

The list is data (deprecations.json, from omnibus-gitlab's deprecations.rb). Unlike omnibus
-gitlab, which reads the attributes of the last reconfigure, this reads gitlab.rb itself (and
GITLAB_OMNIBUS_CONFIG), so each finding names the line to change."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.errors import GitlabCtlError

DATA = Path(__file__).with_name("deprecations.json")
#: omnibus-gitlab's last line when it found something.
CLOSING_LINE = "Deprecations found. Please correct them and try again."
#: MAJOR[.MINOR[.PATCH...]], then anything from '-' or '+' on (e.g. 18.0.0-ce.0) is ignored.
VERSION = re.compile(r"^(\d+(?:\.\d+)*)(?:[-+].*)?$")
Version = tuple[int, ...]


class VersionError(GitlabCtlError):
    """--version names no version gitlab-ctl can compare."""

    exit_code = 2


@dataclass(frozen=True)
class Removal:
    """One removed setting: `keys` as gitlab.rb names it; `when` what makes it a finding."""
    keys: tuple[str, ...]
    when: str  # set | equals | item_has
    deprecation: str
    removal: str
    note: str
    field: str = ""
    value: Any = None

    def label(self) -> str:
        """The setting as gitlab.rb writes it: name['key']['key']."""
        name, rest = self.keys[0], "".join(f"['{key}']" for key in self.keys[1:])
        if self.when == "item_has":
            return f"{name}{rest}[{{'{self.field}' => ...}}]"
        return name + rest


@dataclass(frozen=True)
class Finding:
    where: str  # FILE:LINE, or the file when no line is known
    removal: Removal

    def line(self) -> str:
        removal = self.removal
        return (f"* {self.where}: {removal.label()} has been deprecated since "
                f"{removal.deprecation} and was removed in {removal.removal}. {removal.note}")


def load_removals(path: Path = DATA) -> tuple[Removal, ...]:
    entries = json.loads(path.read_text())["removals"]
    return tuple(Removal(**{**entry, "keys": tuple(entry["keys"])}) for entry in entries)


def parse_version(text: str, argument: str = "--version") -> Version:
    match = VERSION.match(text.strip())
    if not match:
        raise VersionError(argument, f"'{text}' is not a version",
                           hint="give MAJOR.MINOR of the version to be installed, e.g. "
                                "--version=18.0")
    return tuple(int(part) for part in match.group(1).split("."))


def next_major(install_dir: Path) -> Version:
    """omnibus-gitlab's default for an empty --version: the installed major + 1."""
    manifest = install_dir / "version-manifest.json"
    try:
        build_version = json.loads(manifest.read_text())["build_version"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise VersionError(str(manifest), f"has no readable build_version ({error})",
                           hint="name the version to be installed: --version=MAJOR.MINOR",
                           exit_code=1) from error
    return (parse_version(str(build_version), str(manifest))[0] + 1,)


def at_or_before(version: Version, other: str) -> bool:
    """Is `other` (a version from the list) <= `version`? Missing parts count as 0."""
    parts = parse_version(other, str(DATA))
    width = max(len(parts), len(version))
    return parts + (0,) * (width - len(parts)) <= version + (0,) * (width - len(version))


def _dig(settings: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _applies(removal: Removal, settings: Mapping[str, Any]) -> bool:
    value = _dig(settings, removal.keys)
    if removal.when == "equals":
        return isinstance(value, Mapping) and value.get(removal.field) == removal.value
    if removal.when == "item_has":
        return isinstance(value, list) and any(
            isinstance(item, Mapping) and removal.field in item for item in value)
    return value is not None and not (isinstance(value, Mapping) and not value)


def _where(keys: tuple[str, ...], locations: Mapping[tuple[str, ...], str], config: Path) -> str:
    """The first line that sets the setting, a hash holding it or a key inside it."""
    for setting, where in locations.items():
        if setting[:len(keys)] == keys or keys[:len(setting)] == setting:
            return where
    return str(config)


def removed_settings(settings: Mapping[str, Any], locations: Mapping[tuple[str, ...], str],
                     config: Path, version: Version,
                     removals: tuple[Removal, ...] | None = None) -> list[Finding]:
    """Every setting gitlab.rb sets that was removed in `version` or before, in list order."""
    return [Finding(_where(removal.keys, locations, config), removal)
            for removal in (load_removals() if removals is None else removals)
            if at_or_before(version, removal.removal) and _applies(removal, settings)]
