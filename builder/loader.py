"""Load a definitions root into a validated, frozen `Catalog`.

The root holds `software/`, `projects/`, `platforms/`, `templates/` and `licenses/`. Every file
is parsed strictly (see `definitions` and `projectfile`), then the catalog is checked as a
whole: unique names, dependencies that exist, patch and template files that exist, no cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from builder.definitions import parse_software
from builder.errors import BuilderError, DefinitionError, DependencyCycleError, Location
from builder.graph import find_cycle
from builder.licenses import LicenseChecker
from builder.model import FAMILIES, Catalog, Dependency, Platform, Project, Software, frozen_map
from builder.projectfile import parse_platform, parse_project
from builder.yamlfile import load_yaml_file

T = TypeVar("T", Software, Project, Platform)
PATCHES_DIR = Path("software") / "patches"


def definition_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def _load_kind(
    directory: Path, parse: Callable[[Path, object], T], name_of: Callable[[T], str]
) -> dict[str, T]:
    result: dict[str, T] = {}
    for file in definition_files(directory):
        data = load_yaml_file(file)
        item = parse(file, data)
        name = name_of(item)
        if name in result:
            raise DefinitionError(
                Location(file, data.key_lines.get("name"), "name"),
                f"duplicate name '{name}': {result[name].file} defines it too",
                hint="each definition needs a unique name; rename or delete one of the files",
            )
        result[name] = item
    return result


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


def _check_cycles(software: Mapping[str, Software]) -> None:
    edges = {name: [d.name for d in item.dependencies] for name, item in software.items()}
    cycle = find_cycle(edges)
    if cycle:
        first, second = cycle[0], cycle[1]
        line = next(d.line for d in software[first].dependencies if d.name == second)
        raise DependencyCycleError(Location(software[first].file, line, "dependencies"), cycle)


def load_catalog(root: Path) -> Catalog:
    """Load and cross-check every definition under `root`."""
    if not root.is_dir():
        raise BuilderError(
            f"definitions root '{root}' is not a directory",
            hint="run from a checkout that has software/, projects/ and platforms/, or pass --root",
        )
    licenses = LicenseChecker()
    catalog = Catalog(
        root=root,
        software=frozen_map(_load_kind(
            root / "software", lambda f, d: parse_software(f, d, licenses, FAMILIES),
            lambda s: s.name,
        )),
        projects=frozen_map(_load_kind(
            root / "projects", lambda f, d: parse_project(f, d, licenses), lambda p: p.name
        )),
        platforms=frozen_map(_load_kind(root / "platforms", parse_platform, lambda p: p.id)),
    )
    for software in catalog.software.values():
        _check_dependencies(software.file, "dependencies", software.dependencies, catalog)
        _check_files(software, root)
    for project in catalog.projects.values():
        _check_dependencies(project.file, "dependencies", project.dependencies, catalog)
    _check_cycles(catalog.software)
    return catalog
