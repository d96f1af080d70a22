"""`path` sources: a directory under the definitions root, digested for the cache key."""

from __future__ import annotations

from builder.errors import FetchError
from builder.fetchers.base import FetchContext, FetchedSource
from builder.keys import digest_tree
from builder.model import PathSource, Software


def fetch(software: Software, context: FetchContext) -> FetchedSource:
    assert isinstance(software.source, PathSource)
    directory = (context.root / software.source.path).resolve()
    if not directory.is_dir():
        raise FetchError(
            f"{software.name}: source path '{software.source.path}' is not a directory "
            f"under {context.root}",
            hint=f"fix 'source.path' in {software.file}",
        )
    return FetchedSource(software.name, "path", directory, digest_tree(directory), "path")
