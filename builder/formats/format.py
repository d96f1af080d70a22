"""The one interface of a package format: everything the rest of the builder asks of it.

A format is a folder under builder/formats/ (deb/, rpm/) whose `__init__` holds one frozen
`Format`; builder/formats/__init__ lists it in FORMATS. The CLI's choices, the platforms'
package_format, the package extensions, the publishers and the CI's repository kinds all
come from that registry, so a new format touches its own folder and one line there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from builder.definitions.model import ArchSpec, frozen_map
from builder.formats.meta import ExtraFile, PackageMeta
from builder.formats.repository import Publisher, PublishResult, PublishSettings, Report
from builder.package.stage import Stage
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph

#: (root, graph, version, epoch) -> files the format adds outside the stage (docs, licenses).
Extras = Callable[[Path, Graph, PackageVersion, int], list[ExtraFile]]


def arch_name(spec: ArchSpec, format_name: str, defaults: Mapping[str, str]) -> str | None:
    """A format's name for a platform's arch: the platform's own word (package_arches, which
    holds package_arch for its native format), else the format's usual name for the arch."""
    return spec.for_format(format_name) or defaults.get(spec.name)


def publisher_in(module: str) -> Publisher:
    """The `publish` of `module`, imported when a repository is written: building and
    packaging do without a repository writer and its XML and index code."""
    def publish(packages: Sequence[Path], settings: PublishSettings,
                report: Report) -> PublishResult:
        return importlib.import_module(module).publish(packages, settings, report)

    return publish


def no_extras(_root: Path, _graph: Graph, _version: PackageVersion,
              _epoch: int) -> list[ExtraFile]:
    return []


@dataclass(frozen=True)
class Format:
    name: str  # the --format value and a platform's package_format: deb, rpm
    extension: str  # of its package files, with the dot: .deb
    file_name: Callable[[PackageMeta], str]  # the conventional name of a package
    build: Callable[[Stage, PackageMeta, Path], Path]  # (stage, meta, out_dir) -> the package
    #: The maintainer scripts it runs, each rendered from templates/<package_scripts>/NAME.j2.
    scripts: tuple[str, ...] = ()
    extras: Extras = no_extras
    #: The platform's arch (amd64) -> the format's name for it (x86_64), where a platform's
    #: arches.<arch>.package_arches does not name it (raspbian's armv6hl does).
    arch_names: Mapping[str, str] = field(default_factory=frozen_map)
    dist_tag: bool = False  # whether its release carries the platform's dist_tag (.el9)
    #: The repository its packages are published to: the CI publish job's kind (apt, yum),
    #: and the function writing it (None: the format has no repository).
    repository_kind: str = ""
    publish: Publisher | None = None

    def arch(self, spec: ArchSpec) -> str | None:
        """This format's name for a platform's arch; None when neither knows one."""
        return arch_name(spec, self.name, self.arch_names)
