"""Load a definitions root into a validated, frozen `Catalog`.

The root holds `software/`, `projects/`, `platforms/`, `templates/` and `licenses/`. Every file
is parsed strictly (see `fields` and `project`), then the catalog is checked as a
whole: unique names, dependencies that exist, patch and template files that exist, no cycles.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from builder.cycles import find_cycle
from builder.definitions.fields import parse_software
from builder.definitions.model import (
    FAMILIES,
    Catalog,
    Dependency,
    GitSource,
    Platform,
    Project,
    Software,
    Toolchain,
    VersionFrom,
    frozen_map,
)
from builder.definitions.overrides import apply_overrides
from builder.definitions.project import parse_platform, parse_project
from builder.definitions.spdx import LicenseChecker
from builder.definitions.templating import PLATFORM_VARIABLES, variables_used
from builder.definitions.toolchain import parse_toolchain
from builder.definitions.yamlfile import YamlMap, load_yaml_file
from builder.errors import BuilderError, DefinitionError, DependencyCycleError, Location

T = TypeVar("T", Software, Project, Platform, Toolchain)
PATCHES_DIR = Path("software") / "patches"
TOOLCHAINS_DIR = Path("platforms") / "toolchains"


def definition_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def _load_kind(
    directory: Path, parse: Callable[[Path, object], T], name_of: Callable[[T], str],
    prepare: Callable[[Path, object], object] = lambda _file, data: data,
) -> dict[str, T]:
    result: dict[str, T] = {}
    for file in definition_files(directory):
        data = prepare(file, load_yaml_file(file))
        item = parse(file, data)
        name = name_of(item)
        if name in result:
            raise DefinitionError(
                Location(file, getattr(data, "key_lines", {}).get("name"), "name"),
                f"duplicate name '{name}': {result[name].file} defines it too",
                hint="each definition needs a unique name; rename or delete one of the files",
            )
        result[name] = item
    return result


def _extended(file: Path, data: object, seen: tuple[Path, ...] = ()) -> object:
    """A project that `extends: OTHER` is OTHER's keys with its own on top (one level deep).

    OTHER is projects/OTHER.yml; it is loaded and checked as a project of its own too, so a
    problem in an inherited key is reported against OTHER's file first.
    """
    if not isinstance(data, YamlMap) or "extends" not in data:
        return data
    base_name = data["extends"]
    where = Location(file, data.key_lines.get("extends"), "extends")
    base_file = file.parent / f"{base_name}.yml"
    if not isinstance(base_name, str) or not base_file.is_file():
        raise DefinitionError(where, f"extends '{base_name}', which is not a project file here",
                              hint=f"name a file of {file.parent} without .yml")
    if base_file in seen or base_file == file:
        chain = " -> ".join(p.stem for p in (*seen, file, base_file))
        raise DefinitionError(where, f"projects extend each other in a circle: {chain}")
    base = _extended(base_file, load_yaml_file(base_file), (*seen, file))
    # a base that is no mapping is reported when its own file is loaded
    merged = YamlMap({**(base if isinstance(base, dict) else {}), **data})
    merged.line = data.line
    merged.key_lines = {**getattr(base, "key_lines", {}), **data.key_lines}
    del merged["extends"]
    if "name" not in data:  # the name is the file's own, never the base's
        merged.pop("name", None)
    return merged


def _check_dependencies(
    file: Path, key: str, dependencies: Iterable[Dependency], catalog: Catalog
) -> None:
    for dependency in dependencies:
        if dependency.name not in catalog.software:
            raise DefinitionError(
                Location(file, dependency.line, key),
                f"depends on '{dependency.name}', which has no definition",
                hint=f"add software/{dependency.name}.yml or remove the dependency",
            )
        platforms = dependency.condition.when.get("platform", ()) + dependency.condition.unless.get(
            "platform", ()
        )
        for platform in platforms:
            if platform not in catalog.platforms:
                raise DefinitionError(
                    Location(file, dependency.line, key),
                    f"condition names platform '{platform}', which has no definition",
                    hint=f"known platforms: {', '.join(sorted(catalog.platforms))}",
                )


def _check_toolchains(catalog: Catalog) -> None:
    """Every toolchain a software or another toolchain names exists."""
    known = ", ".join(sorted(catalog.toolchains)) or "none"
    users = [(item.file, "toolchains", item.toolchains) for item in catalog.software.values()]
    users += [(item.file, "requires", item.requires) for item in catalog.toolchains.values()]
    for file, key, names in users:
        for name in names:
            if name not in catalog.toolchains:
                raise DefinitionError(
                    Location(file, None, key), f"names toolchain '{name}', which has no definition",
                    hint=f"add {TOOLCHAINS_DIR}/{name}.yml; toolchains defined: {known}")


def _check_vendored(software: Software, root: Path) -> None:
    for relative in software.vendored.files() if software.vendored else ():
        if not (root / relative).is_file():
            raise DefinitionError(Location(software.file, None, "vendored"),
                                  f"names {relative}, which does not exist",
                                  hint="paths are relative to the definitions root")


def _check_files(software: Software, root: Path) -> None:
    wanted = [(PATCHES_DIR / software.name / patch, "patches") for patch in software.patches]
    for override in software.platforms.values():
        for patch in override.patches or ():
            wanted.append((PATCHES_DIR / software.name / patch, "platforms.patches"))
    wanted += [(Path("templates") / template, "templates") for template in software.templates]
    for relative, key in wanted:
        if not (root / relative).is_file():
            raise DefinitionError(
                Location(software.file, None, key),
                f"file '{relative}' does not exist",
                hint=f"create it under {root}, or remove it from the definition",
            )


def _check_portable_templates(software: Software, root: Path) -> None:
    """The templates a platform-independent build renders must not read platform facts."""
    if not software.platform_independent:
        return
    for template in software.templates:
        location = Location(software.file, None, "templates")
        text = (root / "templates" / template).read_text(errors="replace")
        used = variables_used(text, location) & PLATFORM_VARIABLES
        if used:
            raise DefinitionError(
                location, f"template '{template}' uses {', '.join(sorted(used))}, which "
                "differ between platforms, but the software is platform_independent",
                hint="drop the variable from the template, or drop platform_independent")


#: A release number (17.5.0, 17.5.0-rc42, 17.5.0-ee), as opposed to a branch name or a commit.
RELEASE_NUMBER = re.compile(r"\d+\.\d+\.\d+(-rc\d+)?(-ee)?")


def read_version_file(origin: VersionFrom, root: Path, environ: Mapping[str, str],
                      software: Software) -> str:
    if origin.env and environ.get(origin.env, "").strip():
        return environ[origin.env].strip()
    path = root / origin.file
    try:
        lines = path.read_text().split("\n", 1)
    except OSError as error:
        raise DefinitionError(
            Location(software.file, None, "version"),
            f"version file '{path}' cannot be read ({error.strerror})",
            hint=f"create {origin.file} at the definitions root"
            + (f", or set {origin.env}" if origin.env else ""),
        ) from error
    version = lines[0].strip()
    if not version or any(c.isspace() for c in version):
        raise DefinitionError(
            Location(software.file, None, "version"),
            f"version file '{path}' does not start with a version (got '{lines[0]}')",
            hint="its first line must be a version, branch name or commit, e.g. 17.5.0 or master",
        )
    return version


def with_version_from_file(software: Software, root: Path,
                           environ: Mapping[str, str]) -> Software:
    """Fill in a version read from a file or the environment, and the git ref it names."""
    origin = software.version_from
    if origin is None:
        return software
    version = read_version_file(origin, root, environ, software)
    source = software.source
    if isinstance(source, GitSource) and not source.ref:
        prefix = origin.tag_prefix if RELEASE_NUMBER.fullmatch(version) else ""
        source = dataclasses.replace(source, ref=prefix + version)
    return dataclasses.replace(software, version=version, source=source)


def _check_graph_edits(project: Project, catalog: Catalog) -> None:
    for name in project.leave_out:
        if name not in catalog.software:
            raise DefinitionError(
                Location(project.file, None, "leave_out"),
                f"leave_out names '{name}', which has no definition", hint="fix the name",
            )
    for wanted, used in project.substitutes.items():
        for name in (wanted, used):
            if name not in catalog.software:
                raise DefinitionError(
                    Location(project.file, None, "substitutes"),
                    f"substitutes names '{name}', which has no definition",
                    hint=f"add software/{name}.yml or fix the name",
                )


def _check_cycles(software: Mapping[str, Software]) -> None:
    edges = {name: [d.name for d in item.dependencies] for name, item in software.items()}
    cycle = find_cycle(edges)
    if cycle:
        first, second = cycle[0], cycle[1]
        line = next(d.line for d in software[first].dependencies if d.name == second)
        raise DependencyCycleError(Location(software[first].file, line, "dependencies"), cycle)


def load_catalog(root: Path, environ: Mapping[str, str] | None = None) -> Catalog:
    """Load and cross-check every definition under `root`.

    `environ` (default: the process environment) may override versions read from files.
    """
    environ = os.environ if environ is None else environ
    if not root.is_dir():
        raise BuilderError(
            f"definitions root '{root}' is not a directory",
            hint="run from a checkout that has software/, projects/ and platforms/, or pass --root",
        )
    licenses = LicenseChecker()
    software = _load_kind(root / "software",
                          lambda f, d: parse_software(f, d, licenses, FAMILIES), lambda s: s.name)
    catalog = Catalog(
        root=root,
        software=frozen_map(apply_overrides(
            {name: with_version_from_file(item, root, environ) for name, item in software.items()},
            environ)),
        projects=frozen_map(_load_kind(
            root / "projects", lambda f, d: parse_project(f, d, licenses), lambda p: p.name,
            _extended,
        )),
        platforms=frozen_map(_load_kind(root / "platforms", parse_platform, lambda p: p.id)),
        toolchains=frozen_map(_load_kind(
            root / TOOLCHAINS_DIR, lambda f, d: parse_toolchain(f, d, licenses), lambda t: t.name)),
    )
    _check_toolchains(catalog)
    for item in catalog.software.values():
        _check_dependencies(item.file, "dependencies", item.dependencies, catalog)
        _check_files(item, root)
        _check_vendored(item, root)
        _check_portable_templates(item, root)
    for project in catalog.projects.values():
        _check_dependencies(project.file, "dependencies", project.dependencies, catalog)
        _check_graph_edits(project, catalog)
    _check_cycles(catalog.software)
    return catalog
