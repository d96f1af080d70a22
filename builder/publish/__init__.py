"""Publishing packages into signed repositories: apt for deb platforms, yum/dnf for rpm.

One repository per platform and format, holding every version and arch published to it:
`<repo_root>/<platform id>/` for the platform's own format, `<repo_root>/<platform id>-<format>/`
for the other (debian-12's rpm packages, for rpm hosts whose glibc is as new as Debian 12's).
Each format's folder under builder/formats/ writes its own repository (its Format's
`publish`); this looks it up: `publisher(format)(packages, settings, report)`. Publishing
the same file again changes nothing; a client never sees a half-written index (the format
modules say how); every index is signed.
"""

from __future__ import annotations

from builder import formats
from builder.definitions.model import ProjectNames
from builder.errors import UsageError
from builder.formats.repository import (
    Publisher,
    PublishResult,
    PublishSettings,
    Report,
    repository_name,
)

__all__ = ["ProjectNames", "PublishResult", "PublishSettings", "Publisher", "Report",
           "publisher", "repository_name"]


def publisher(package_format: str) -> Publisher:
    found = formats.format_named(package_format)
    if found.publish is None:
        raise UsageError(f"{package_format} packages have no repository to publish to",
                         hint="formats with a repository: " + ", ".join(
                             name for name, each in formats.FORMATS.items() if each.publish))
    return found.publish
