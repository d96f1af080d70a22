"""What every fetcher shares: the run's fetch context, the result, the final error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from builder.errors import FetchError
from builder.sources.mirrors import Mirror


class Report(Protocol):
    """Receives progress: a message about one software; transient ones (byte counts) may be
    overwritten by the next."""

    def __call__(self, name: str, message: str, transient: bool = False) -> None: ...


def _quiet(name: str, message: str, transient: bool = False) -> None:
    return None


@dataclass(frozen=True)
class FetchContext:
    """The settings of one fetch run. `report` receives progress lines for the CLI."""

    root: Path
    cache_dir: Path
    mirrors: tuple[Mirror, ...]
    offline: bool = False
    refresh: bool = False  # re-resolve git branches and tags even when a lock exists
    retries: int = 3
    timeout: float = 30.0
    locks: Mapping[str, str] = field(default_factory=dict)  # "remote@ref" -> commit
    report: Report = _quiet


@dataclass(frozen=True)
class FetchedSource:
    name: str
    kind: str
    path: Path  # the verified file, the bare git repository, or the local directory
    locked_version: str  # checksum, commit or directory digest
    origin: str  # "cache", or the mirror that served it
    lock: tuple[str, str] | None = None  # ("remote@ref", commit) for git sources
    #: A path source's list of directories under `path` (the definitions root), each copied
    #: to the same relative path; empty when `path` itself is the source root.
    entries: tuple[str, ...] = ()


class SourceUnavailable(FetchError):
    """No mirror in the chain could provide a source."""

    def __init__(self, software: str, tried: list[str], offline: bool = False) -> None:
        if offline:
            message = f"{software}: not in the download cache, and --offline forbids fetching"
            hint = "run the same fetch without --offline on a machine that reaches a mirror"
        else:
            lines = "\n".join(f"    {line}" for line in tried) or "    (the mirror chain is empty)"
            message = f"{software}: no mirror could provide the source; tried:\n{lines}"
            hint = ("add a mirror that has it: --mirror https://HOST/{name}/{filename}, "
                    "--mirror dir:/path/to/sources, or a 'debian:' entry in the definition's "
                    "source for the debian mirror (see builder/sources/mirrors.py)")
        super().__init__(message, hint)
        self.software = software
        self.tried = tried
        self.offline = offline
