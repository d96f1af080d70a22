"""A toy package format, all in this one folder: a gzip'd tar of the package's files, its
maintainer scripts under .toy/. Registering its FORMAT in builder.formats.FORMATS is all it
takes for `package_project` to write it (tests/unit/formats/test_toy_format.py)."""

from __future__ import annotations

from builder.formats.format import Format
from tests.unit.formats.toyformat import writer

FORMAT = Format(
    name="toy", extension=writer.EXTENSION, file_name=writer.file_name, build=writer.build,
    scripts=("postinst",), extras=writer.extras, arch_names={"amd64": "x86_64"},
)
