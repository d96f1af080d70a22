"""Fetchers: one small interface, one plain dict keyed by source kind.

A fetcher is a function `fetch(software, context) -> FetchedSource`. It makes the source
available locally (a verified file in the download cache, a commit in a cached git
repository, or a local directory), and says where the bytes came from.
"""

from __future__ import annotations

from collections.abc import Callable

from builder.definitions.model import Software
from builder.sources.fetchers import git, path, url
from builder.sources.fetchers.base import FetchContext, FetchedSource, SourceUnavailable

Fetcher = Callable[[Software, FetchContext], FetchedSource]

FETCHERS: dict[str, Fetcher] = {
    "url": url.fetch,
    "git": git.fetch,
    "path": path.fetch,
}

__all__ = ["FETCHERS", "FetchContext", "FetchedSource", "Fetcher", "SourceUnavailable"]
