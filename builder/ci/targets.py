"""What a pipeline builds: one target per project, platform and arch (platform data decides),
the few targets whose fetches lock every git ref, and the assets each project needs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.compile.builder_images import RECIPE, install_command
from builder.definitions.model import Catalog, GitSource, Platform, Project
from builder.digests import sha256_json
from builder.errors import UnknownNameError, UsageError
from builder.resolve.graph import resolve


@dataclass(frozen=True)
class Target:
    """One package of the pipeline: a project for one platform and arch."""

    project: Project
    platform: Platform
    arch: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return self.project.name, self.platform.id, self.arch

    @property
    def job(self) -> str:
        return f"package:{self.project.name}:{self.platform.id}:{self.arch}"

    @property
    def test_job(self) -> str:
        return f"test:{self.project.name}:{self.platform.id}:{self.arch}"

    @property
    def out(self) -> str:
        return f"pkg/{self.project.name}/{self.platform.id}/{self.arch}"


def package_targets(catalog: Catalog, project_names: Iterable[str]) -> list[Target]:
    """Every platform and arch that builds each project's edition (platform data decides)."""
    names = sorted(set(project_names))
    if not names:
        raise UsageError("no project given", hint=f"name one or more of: "
                         f"{', '.join(sorted(catalog.projects))}")
    targets = []
    for name in names:
        if name not in catalog.projects:
            raise UnknownNameError("project", name, sorted(catalog.projects))
        project = catalog.projects[name]
        for platform in catalog.platforms.values():
            if project.edition in platform.editions:
                targets += [Target(project, platform, arch) for arch in platform.arches]
    if not targets:
        raise UsageError(f"no platform builds the editions of {', '.join(names)}",
                         hint="list the edition under `editions:` in a platforms/*.yml file")
    return sorted(targets, key=lambda t: t.sort_key)


def git_refs(catalog: Catalog, target: Target) -> dict[str, str]:
    """Software name -> "remote@ref" of each git source not pinned to a commit."""
    graph = resolve(catalog, target.project, target.platform, target.arch)
    return {name: f"{s.source.git}@{s.source.ref}" for name, s in graph.software.items()
            if isinstance(s.source, GitSource) and not s.source.locked}


def facts_targets(catalog: Catalog, targets: list[Target]) -> list[Target]:
    """Few targets whose fetches lock every git ref any package of the pipeline builds
    (a ref can be conditional on edition, family or arch); in target order."""
    covered: set[str] = set()
    chosen = []
    for target in targets:
        refs = set(git_refs(catalog, target).values())
        if refs - covered:
            covered |= refs
            chosen.append(target)
    return chosen


def assets_sources(catalog: Catalog, targets: list[Target], software: str) -> dict[str, str]:
    """Project -> the source identity of `software` in it ("remote@ref", or "git:<commit>"
    when pinned), for each project whose packages contain it: one assets job per identity."""
    found: dict[str, str] = {}
    for target in targets:
        if target.project.name in found:
            continue
        graph = resolve(catalog, target.project, target.platform, target.arch)
        entry = graph.software.get(software)
        if entry is not None and isinstance(entry.source, GitSource):
            source = entry.source
            found[target.project.name] = (f"git:{source.ref}" if source.locked
                                          else f"{source.git}@{source.ref}")
    return found


def image_name(platform: Platform, arch: str, root: Path) -> str:
    """The builder image in this project's registry, tagged by a digest of what makes it, so
    a changed recipe or platform gets a new image and an unchanged one is only pulled."""
    recipe = root / RECIPE
    digest = sha256_json({
        "recipe": hashlib.sha256(recipe.read_bytes()).hexdigest() if recipe.is_file() else "",
        "base_image": platform.base_image, "bootstrap_suite": platform.bootstrap_suite,
        "install": install_command(platform), "docker_platform":
        platform.arches[arch].docker_platform,
    })[:16]
    return f"$CI_REGISTRY_IMAGE/builder/{platform.id}:{arch}-{digest}"
