"""The runner tags of generated pipelines, read strictly from templates/ci/runners.yml."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.definitions.model import ARCHES, frozen_map
from builder.definitions.strict import Section
from builder.definitions.yamlfile import load_yaml_file
from builder.errors import DefinitionError, Location

RUNNERS_FILE = Path("templates") / "ci" / "runners.yml"


@dataclass(frozen=True)
class RunnerTags:
    """Which runners take which jobs: per arch, plus what image and tool jobs add or use."""

    file: Path
    arches: Mapping[str, tuple[str, ...]] = field(default_factory=frozen_map)
    images: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()

    def for_arch(self, arch: str, platform_file: Path) -> tuple[str, ...]:
        if arch not in self.arches:
            raise DefinitionError(
                Location(platform_file, None, f"arches.{arch}"),
                f"arch '{arch}' has no runner tags in {self.file}",
                hint=f"add '{arch}: [TAG, ...]' under arches: in {self.file}, naming the tags "
                "of the runners that build natively for it")
        return self.arches[arch]


def _tags(section: Section, key: str) -> tuple[str, ...]:
    tags = section.str_list(key)
    if not tags:
        raise section.error(key, "needs at least one runner tag")
    return tags


def load_ci_file(root: Path, relative: str, needed_for: str) -> Section:
    """One of the pipeline's data files under templates/ci/, which must exist."""
    file = root / relative
    if not file.is_file():
        raise DefinitionError(Location(file), f"is missing: generated pipelines need {needed_for}",
                              hint=f"copy {relative} from the repository")
    return Section(file, load_yaml_file(file))


def load_runner_tags(root: Path) -> RunnerTags:
    section = load_ci_file(root, str(RUNNERS_FILE), "the runner tags of each arch")
    section.allow(frozenset({"arches", "images", "tools"}))
    arches = section.section("arches", required=True)
    assert arches is not None  # required: a missing section raised instead
    arches.allow(frozenset(ARCHES))
    return RunnerTags(
        file=section.file, arches=frozen_map({arch: _tags(arches, arch) for arch in arches.data}),
        images=section.str_list("images"), tools=_tags(section, "tools"),
    )
