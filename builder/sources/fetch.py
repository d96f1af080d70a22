"""Fetch every source a build needs, in parallel, and record git locks.

Each software's source goes through its kind's fetcher (see `builder.sources.fetchers`). All fetches
run to the end even when one fails, so a single run reports every missing source at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from builder.definitions.model import Software
from builder.errors import FetchError
from builder.resolve.graph import Graph
from builder.resolve.locks import save_locks
from builder.sources.fetchers import FETCHERS, FetchContext, FetchedSource, SourceUnavailable, git
from builder.sources.vendored import fetch_vendored


class FetchFailed(FetchError):
    """Some sources could not be fetched; `fetched` holds those that were, so a build can
    still make everything that needs none of the missing ones."""

    def __init__(self, failures: Mapping[str, FetchError], total: int,
                 fetched: Mapping[str, FetchedSource] | None = None) -> None:
        offline = all(isinstance(e, SourceUnavailable) and e.offline for e in failures.values())
        hint: str | None
        if offline:
            names = ", ".join(sorted(failures))
            message = (f"{len(failures)} of {total} sources are missing from the download "
                       f"cache (--offline): {names}")
            hint = "run `omnibus fetch` without --offline where a mirror is reachable"
        else:
            parts = [failures[name].message for name in sorted(failures)]
            message = f"{len(failures)} of {total} sources could not be fetched:\n" + "\n".join(
                f"  {part}" for part in parts)
            hint = next((e.hint for e in failures.values() if e.hint), None)
        super().__init__(message, hint)
        self.failures = dict(failures)
        self.fetched = dict(fetched or {})


def _fetch_all(software: Software, context: FetchContext) -> FetchedSource:
    """The source, then what the definition vendors (npm packages, Go modules)."""
    fetched = FETCHERS[software.source.kind](software, context)  # type: ignore[union-attr]
    fetch_vendored(software, context)
    return fetched


def fetch_sources(graph: Graph, context: FetchContext, jobs: int = 4,
                  locks_path: Path | None = None,
                  locks_only: bool = False) -> dict[str, FetchedSource]:
    """Fetch the sources of every software in `graph`; write new git locks to `locks_path`.
    `locks_only`: resolve the git sources' refs to commits, download nothing."""
    kinds = {name: source.kind for name in graph.order  # name: source kind, in build order
             if (source := graph.software[name].source)}
    if locks_only:
        kinds = {name: kind for name, kind in kinds.items() if kind == "git"}
    results: dict[str, FetchedSource] = {}
    failures: dict[str, FetchError] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {name: pool.submit(git.lock if locks_only else _fetch_all,
                                     graph.software[name], context)
                   for name, kind in kinds.items()}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except FetchError as error:
                failures[name] = error
    new_locks = dict(context.locks)
    new_locks.update(result.lock for result in results.values() if result.lock)
    if locks_path is not None and new_locks != dict(context.locks):
        save_locks(locks_path, new_locks)
    if failures:
        raise FetchFailed(failures, len(kinds), results)
    return results
