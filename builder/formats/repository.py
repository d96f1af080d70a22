"""What a format's repository writer (its `publish`) is given and returns, and the name of
the repository it writes. Below builder/publish, which looks the writers up, because each
format's folder holds its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import Platform, ProjectNames
from builder.formats.meta import Signing

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
    #: What the project calls its repositories (client files, Origin; its `names:`); None:
    #: a repository of no project, called "omnibus".
    project: ProjectNames | None = None

    @property
    def format(self) -> str:
        return self.package_format or self.platform.package_format

    @property
    def name(self) -> str:
        return repository_name(self.platform, self.format)

    @property
    def repo_dir(self) -> Path:
        return self.repo_root / self.name

    @property
    def names(self) -> ProjectNames:
        return self.project or ProjectNames.of("omnibus")

    def url(self) -> str:
        return self.base_url.rstrip("/") + "/" + self.name


@dataclass(frozen=True)
class PublishResult:
    repo_dir: Path
    added: tuple[str, ...]  # package files new to the repository
    unchanged: tuple[str, ...]  # already there, byte for byte
    client_files: tuple[Path, ...]  # the key and the source snippets for clients


Publisher = Callable[[Sequence[Path], PublishSettings, Report], PublishResult]
