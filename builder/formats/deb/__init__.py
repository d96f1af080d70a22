"""The .deb format: its writer (writer.py), reader (debfile.py), extras (extras.py) and apt
repository (repository.py, aptindex.py), and the one `Format` the registry lists."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from builder.formats.deb import extras, writer

if TYPE_CHECKING:
    from builder.formats.repository import PublishResult, PublishSettings, Report
from builder.formats.format import Format


def _publish(packages: Sequence[Path], settings: PublishSettings,
             report: Report) -> PublishResult:
    """The repository writer, imported when a repository is written: building and
    packaging do without it and its XML and index code."""
    from builder.formats.deb.repository import publish

    return publish(packages, settings, report)


FORMAT = Format(
    name="deb", extension=writer.EXTENSION, file_name=writer.file_name, build=writer.build,
    scripts=writer.SCRIPTS, extras=extras.deb_extras, arch_names=writer.ARCH_NAMES,
    repository_kind="apt", publish=_publish,
)
