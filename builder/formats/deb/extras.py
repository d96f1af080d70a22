"""What a .deb carries besides the stage: Debian's changelog and copyright (pointing to
/usr/share/common-licenses) and the project's lintian overrides."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from builder.definitions.model import Project
from builder.formats.meta import ExtraFile
from builder.formats.scripts import copyright_text, template_environment
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph


def _changelog(project: Project, version: PackageVersion, epoch: int) -> bytes:
    date = format_datetime(datetime.fromtimestamp(epoch, UTC))
    text = (f"{project.name} ({version.full}) unstable; urgency=medium\n\n"
            f"  * Built by omnibus from {len(project.dependencies)} software definitions.\n\n"
            f" -- {project.maintainer}  {date}\n")
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def deb_extras(root: Path, graph: Graph, version: PackageVersion, epoch: int) -> list[ExtraFile]:
    project = graph.project
    doc = f"usr/share/doc/{project.name}"
    extras = [ExtraFile(f"{doc}/changelog.Debian.gz", _changelog(project, version, epoch)),
              ExtraFile(f"{doc}/copyright", copyright_text(graph, epoch, debian=True).encode(),
                        role="license")]
    overrides = root / "templates" / project.package_scripts / "lintian-overrides.j2"
    if overrides.is_file():
        text = template_environment(overrides.parent).get_template(overrides.name).render(
            name=project.name, install_dir=project.install_dir.lstrip("/"))
        extras.append(ExtraFile(f"usr/share/lintian/overrides/{project.name}", text.encode()))
    return extras
