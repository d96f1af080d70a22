"""What an .rpm carries besides the stage: the copyright, marked %license."""

from __future__ import annotations

from pathlib import Path

from builder.formats.meta import ExtraFile
from builder.formats.scripts import copyright_text
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph


def rpm_extras(_root: Path, graph: Graph, _version: PackageVersion,
               epoch: int) -> list[ExtraFile]:
    licenses = f"usr/share/licenses/{graph.project.name}"
    return [ExtraFile(f"{licenses}/COPYRIGHT", copyright_text(graph, epoch).encode(),
                      role="license")]
