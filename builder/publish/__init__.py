"""Publishing packages into signed repositories: apt for deb platforms, yum/dnf for rpm.

One repository per platform and format, holding every version and arch published to it:
`<repo_root>/<platform id>/` for the platform's own format, `<repo_root>/<platform id>-<format>/`
for the other (debian-12's rpm packages, for rpm hosts whose glibc is as new as Debian 12's).
One interface, a plain dict: `PUBLISHERS[format](packages, settings, report)`. Publishing
the same file again changes nothing; a client never sees a half-written index (the format
modules say how); every index is signed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.model import Platform
from builder.packaging.meta import Signing

Report = Callable[[str], None]


def repository_name(platform: Platform, package_format: str) -> str:
    """The repository's directory under the repositories root, and its id in client
    snippets: the platform's id, with the format added when it is not the platform's own."""
    if package_format == platform.package_format:
        return platform.id
    return f"{platform.id}-{package_format}"


@dataclass(frozen=True)
class PublishSettings:
    repo_root: Path
    platform: Platform
    signing: Signing  # repositories are always signed
    date: int  # seconds since the epoch, for the indexes' dates (Release's Date:)
    base_url: str = "http://localhost/"  # where clients reach repo_root, for their snippets
    package_format: str = ""  # deb or rpm; empty means the platform's own

    @property
    def format(self) -> str:
        return self.package_format or self.platform.package_format

    @property
    def name(self) -> str:
        return repository_name(self.platform, self.format)

    @property
    def repo_dir(self) -> Path:
        return self.repo_root / self.name

    def url(self) -> str:
        return self.base_url.rstrip("/") + "/" + self.name


@dataclass(frozen=True)
class PublishResult:
    repo_dir: Path
    added: tuple[str, ...]  # package files new to the repository
    unchanged: tuple[str, ...]  # already there, byte for byte
    client_files: tuple[Path, ...]  # the key and the source snippets for clients


Publisher = Callable[[Sequence[Path], PublishSettings, Report], PublishResult]


def _publishers() -> dict[str, Publisher]:
    from builder.publish import apt, yum

    return {"deb": apt.publish, "rpm": yum.publish}


def publisher(package_format: str) -> Publisher:
    return _publishers()[package_format]
