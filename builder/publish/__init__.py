"""Publishing packages into signed repositories: apt for deb platforms, yum/dnf for rpm.

One repository per platform, `<repo_root>/<platform id>/`, holding every version and arch
published to it. One interface, a plain dict: `PUBLISHERS[format](packages, settings,
report)`. Publishing the same file again changes nothing; a client never sees a
half-written index (the format modules say how); every index is signed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.model import Platform
from builder.packaging.meta import Signing

Report = Callable[[str], None]


@dataclass(frozen=True)
class PublishSettings:
    repo_root: Path
    platform: Platform
    signing: Signing  # repositories are always signed
    date: int  # seconds since the epoch, for the indexes' dates (Release's Date:)
    base_url: str = "http://localhost/"  # where clients reach repo_root, for their snippets

    @property
    def repo_dir(self) -> Path:
        return self.repo_root / self.platform.id

    def url(self) -> str:
        return self.base_url.rstrip("/") + "/" + self.platform.id


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
