"""The dependency graph of one project on one platform and arch.

Conditions are evaluated against the platform's facts, the closure of the project's
dependencies is taken, and the result is ordered deterministically: by level (a software's
level is one more than its deepest dependency's), then by name. The order never depends on
the order dependencies are listed in, so neither do cache keys or build plans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from builder.cycles import find_cycle
from builder.definitions.model import (
    Catalog,
    Dependency,
    Platform,
    Project,
    Software,
    Toolchain,
    frozen_map,
)
from builder.errors import DependencyCycleError, Location, UsageError


@dataclass(frozen=True)
class Graph:
    project: Project
    platform: Platform
    arch: str
    software: Mapping[str, Software]  # with the platform family's overrides applied
    edges: Mapping[str, tuple[str, ...]]  # direct dependencies that apply here, sorted
    levels: tuple[tuple[str, ...], ...]  # what can build at the same time, level by level
    roots: tuple[str, ...]  # the project's direct dependencies that apply here
    #: The toolchains the software of this graph build with, with those they require.
    toolchains: Mapping[str, Toolchain] = field(default_factory=frozen_map)

    def toolchains_of(self, name: str) -> tuple[Toolchain, ...]:
        """The toolchains `name` builds with, each after those it requires, by name."""
        wanted: list[str] = []
        pending = list(self.software[name].toolchains)
        while pending:
            current = pending.pop()
            if current not in wanted:
                wanted.append(current)
                pending.extend(self.toolchains[current].requires)
        return tuple(self.toolchains[n] for n in sorted(wanted))

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(name for level in self.levels for name in level)

    def only(self, names: Iterable[str]) -> Graph:
        """This graph cut down to `names` and everything they depend on (keys unchanged:
        a key depends only on what a software depends on)."""
        keep: set[str] = set()
        stack = list(names)
        while stack:
            current = stack.pop()
            if current not in keep:
                keep.add(current)
                stack.extend(self.edges[current])
        edges = {name: self.edges[name] for name in keep}
        used = {toolchain.name for name in keep for toolchain in self.toolchains_of(name)}
        return dataclasses.replace(
            self, software=frozen_map({n: self.software[n] for n in keep}),
            edges=frozen_map(edges), levels=_levels(edges), roots=tuple(sorted(set(names))),
            toolchains=frozen_map({name: self.toolchains[name] for name in sorted(used)}))

    def dependents(self, name: str) -> set[str]:
        """Every software that depends on `name`, directly or not."""
        reverse: dict[str, set[str]] = {n: set() for n in self.edges}
        for node, children in self.edges.items():
            for child in children:
                reverse[child].add(node)
        found: set[str] = set()
        stack = [name]
        while stack:
            for parent in reverse[stack.pop()] - found:
                found.add(parent)
                stack.append(parent)
        return found


def _active(dependencies: tuple[Dependency, ...], facts: Mapping[str, str],
            project: Project) -> list[str]:
    """The dependencies whose condition holds, each replaced by its project substitute,
    without those the project leaves out."""
    return [project.substitutes.get(d.name, d.name) for d in dependencies
            if d.condition.holds(facts) and d.name not in project.leave_out]


def check_target(project: Project, platform: Platform, arch: str) -> None:
    if arch not in platform.arches:
        raise UsageError(
            f"platform {platform.id} does not support arch '{arch}'",
            hint=f"{platform.id} supports: {', '.join(platform.arches)} ({platform.file})",
        )
    if project.edition not in platform.editions:
        raise UsageError(
            f"platform {platform.id} does not build the {project.edition} edition "
            f"(project {project.name})",
            hint=f"{platform.id} builds: {', '.join(platform.editions)} ({platform.file})",
        )


def _levels(edges: Mapping[str, tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    level: dict[str, int] = {}
    for name in _postorder(edges):
        level[name] = 1 + max((level[c] for c in edges[name]), default=-1)
    grouped: dict[int, list[str]] = {}
    for name, depth in level.items():
        grouped.setdefault(depth, []).append(name)
    return tuple(tuple(sorted(grouped[depth])) for depth in sorted(grouped))


def _postorder(edges: Mapping[str, tuple[str, ...]]) -> list[str]:
    done: set[str] = set()
    order: list[str] = []
    for start in sorted(edges):
        if start in done:
            continue
        done.add(start)
        stack = [(start, iter(edges[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                order.append(node)
                stack.pop()
            elif child not in done:
                done.add(child)
                stack.append((child, iter(edges[child])))
    return order


def resolve(catalog: Catalog, project: Project, platform: Platform, arch: str) -> Graph:
    """The closure of `project`'s dependencies for this platform and arch."""
    check_target(project, platform, arch)
    facts = platform.facts(arch, project.edition)
    roots = _active(project.dependencies, facts, project)
    software: dict[str, Software] = {}
    edges: dict[str, tuple[str, ...]] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in software:
            continue
        item = catalog.software[name].for_family(platform.family)
        software[name] = item
        edges[name] = tuple(sorted(set(_active(item.dependencies, facts, project))))
        pending.extend(edges[name])
    cycle = find_cycle(edges)
    if cycle:
        dependency = next(d for d in software[cycle[0]].dependencies
                          if project.substitutes.get(d.name, d.name) == cycle[1])
        location = Location(software[cycle[0]].file, dependency.line, "dependencies")
        raise DependencyCycleError(location, cycle)
    return Graph(
        project=project, platform=platform, arch=arch, software=frozen_map(software),
        edges=frozen_map(edges), levels=_levels(edges), roots=tuple(roots),
        toolchains=frozen_map(_toolchains(catalog, software)),
    )


def _toolchains(catalog: Catalog, software: Mapping[str, Software]) -> dict[str, Toolchain]:
    """The toolchains the graph's software name, with what they require. One without a
    build for this arch is kept: a platform-independent software that uses it may come from
    the cache (built on another arch); only building it here fails (see compile.build)."""
    found: dict[str, Toolchain] = {}
    pending = [t for item in software.values() for t in item.toolchains]
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = catalog.toolchains[name]
            pending.extend(found[name].requires)
    return found
