"""Where a command works, and what it works on: the settings every use case starts from.

The CLI makes these from its arguments, tasks.py and the benchmarks make them directly;
nothing below the application layer sees an argparse Namespace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.definitions.loader import load_catalog
from builder.definitions.model import Catalog, Platform
from builder.errors import UnknownNameError, UsageError
from builder.resolve.graph import Graph, resolve
from builder.resolve.locks import LOCKS_FILE, load_locks

if TYPE_CHECKING:
    from builder.compile.remote import RemoteCache


@dataclass(frozen=True)
class Workspace:
    """The definitions root, the cache directory (artifacts, downloads, logs, stage), the
    file of git locks and, optionally, a remote artifact cache shared between machines."""

    root: Path
    cache_dir: Path
    locks_path: Path
    remote: RemoteCache | None = None

    @classmethod
    def at(cls, root: Path | None = None, cache_dir: Path | None = None,
           locks_path: Path | None = None, remote_url: str | None = None,
           environ: Mapping[str, str] | None = None) -> Workspace:
        """Defaults: the current directory, $OMNIBUS_CACHE_DIR or ROOT/cache, and
        CACHE/source-locks.json."""
        environ = os.environ if environ is None else environ
        root = root if root is not None else Path.cwd()
        cache_dir = cache_dir or Path(environ.get("OMNIBUS_CACHE_DIR") or root / "cache")
        remote = None
        if remote_url:
            if not remote_url.startswith(("http://", "https://")):
                raise UsageError(f"--remote-cache '{remote_url}' must be an http:// or https:// "
                                 "URL")
            from builder.compile.remote import RemoteCache

            remote = RemoteCache(remote_url)
        return cls(root, cache_dir, locks_path or cache_dir / LOCKS_FILE, remote)

    def catalog(self) -> Catalog:
        return load_catalog(self.root)

    def locks(self) -> dict[str, str]:
        return load_locks(self.locks_path)


@dataclass(frozen=True)
class Target:
    """One project for one platform and arch: what a build, a package or an image is of."""

    project: str
    platform: str = "debian-12"
    arch: str = "amd64"


def platform_named(catalog: Catalog, name: str) -> Platform:
    if name not in catalog.platforms:
        raise UnknownNameError("platform", name, sorted(catalog.platforms))
    return catalog.platforms[name]


def resolve_target(catalog: Catalog, target: Target) -> Graph:
    """The target's dependency graph; an unknown project or platform is refused by name."""
    if target.project not in catalog.projects:
        raise UnknownNameError("project", target.project, sorted(catalog.projects))
    platform = platform_named(catalog, target.platform)
    return resolve(catalog, catalog.projects[target.project], platform, target.arch)
