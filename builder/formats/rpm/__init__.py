"""The .rpm format: its writer (writer.py, rpmheader.py, cpio.py), reader (rpmread.py),
extras (extras.py) and yum repository (repository.py, yummeta.py), and the one `Format` the
registry lists."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from builder.formats.format import Format
from builder.formats.rpm import extras, writer

if TYPE_CHECKING:
    from builder.formats.repository import PublishResult, PublishSettings, Report


def _publish(packages: Sequence[Path], settings: PublishSettings,
             report: Report) -> PublishResult:
    """The repository writer, imported when a repository is written: building and
    packaging do without it and its XML and index code."""
    from builder.formats.rpm.repository import publish

    return publish(packages, settings, report)


FORMAT = Format(
    name="rpm", extension=writer.EXTENSION, file_name=writer.file_name, build=writer.build,
    # %posttrans runs the upgrade after the transaction; %preun is "prerm"
    scripts=tuple(writer.SCRIPT_TAGS), extras=extras.rpm_extras,
    arch_names=writer.ARCH_NAMES, dist_tag=True, repository_kind="yum",
    publish=_publish,
)
