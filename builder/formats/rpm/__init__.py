"""The .rpm format: its writer (writer.py, rpmheader.py, cpio.py), reader (rpmread.py),
extras (extras.py) and yum repository (repository.py, yummeta.py), and the one `Format` the
registry lists."""

from __future__ import annotations

from builder.formats.format import Format, publisher_in
from builder.formats.rpm import extras, writer

FORMAT = Format(
    name="rpm", extension=writer.EXTENSION, file_name=writer.file_name, build=writer.build,
    # %posttrans runs the upgrade after the transaction; %preun is "prerm"
    scripts=tuple(writer.SCRIPT_TAGS), extras=extras.rpm_extras,
    arch_names=writer.ARCH_NAMES, dist_tag=True, repository_kind="yum",
    publish=publisher_in("builder.formats.rpm.repository"),
)
