"""The release settings of generated pipelines, read strictly from templates/ci/release.yml:
which software's assets are compiled where, the merge request subset, the platform the
all-in-one images come from, and the package tests' smoke commands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.ci.runners import load_ci_file
from builder.definitions.model import ARCHES, frozen_map
from builder.definitions.strict import Section

RELEASE_FILE = Path("templates") / "ci" / "release.yml"


@dataclass(frozen=True)
class Where:
    """A platform and arch a job runs for."""

    platform: str
    arch: str


@dataclass(frozen=True)
class ReleaseSettings:
    file: Path
    assets_software: str
    assets_on: Where
    mr_projects: tuple[str, ...]
    mr_on: Where
    images_platform: str
    smoke: tuple[str, ...]
    global_options: Mapping[str, str] = field(default_factory=frozen_map)


def _where(section: Section) -> Where:
    section.allow(frozenset({"platform", "arch", "software", "projects"}))
    arch = section.str("arch", required=True)
    if arch not in ARCHES:
        raise section.error("arch", f"'{arch}' is not an arch: one of {', '.join(ARCHES)}")
    return Where(section.str("platform", required=True), arch)


def load_release_settings(root: Path) -> ReleaseSettings:
    top = load_ci_file(root, str(RELEASE_FILE),
                       "the release settings (assets, merge requests, images, tests)")
    file = top.file
    top.allow(frozenset({"assets", "merge_request", "images", "package_test"}))
    assets = top.section("assets", required=True)
    merge_request = top.section("merge_request", required=True)
    images = top.section("images", required=True)
    images.allow(frozenset({"platform"}))
    tests = top.section("package_test", required=True)
    tests.allow(frozenset({"smoke", "global_options"}))
    smoke = tests.str_list("smoke")
    if not smoke:
        raise tests.error("smoke", "needs at least one command")
    return ReleaseSettings(
        file=file, assets_software=assets.str("software", required=True),
        assets_on=_where(assets), mr_projects=merge_request.str_list("projects"),
        mr_on=_where(merge_request), images_platform=images.str("platform", required=True),
        smoke=smoke, global_options=frozen_map(tests.str_map("global_options")),
    )
