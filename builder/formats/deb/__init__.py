"""The .deb format: its writer (writer.py), reader (debfile.py), extras (extras.py) and apt
repository (repository.py, aptindex.py), and the one `Format` the registry lists."""

from __future__ import annotations

from builder.formats.deb import extras, writer
from builder.formats.format import Format, publisher_in

FORMAT = Format(
    name="deb", extension=writer.EXTENSION, file_name=writer.file_name, build=writer.build,
    scripts=writer.SCRIPTS, extras=extras.deb_extras, arch_names=writer.ARCH_NAMES,
    repository_kind="apt", publish=publisher_in("builder.formats.deb.repository"),
)
