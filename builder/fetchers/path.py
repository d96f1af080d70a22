"""`path` sources: directories under the definitions root, digested for the cache key."""

from __future__ import annotations

from builder.errors import FetchError
from builder.fetchers.base import FetchContext, FetchedSource
from builder.keys import digest_tree, path_source_digest
from builder.model import PathSource, Software


def fetch(software: Software, context: FetchContext) -> FetchedSource:
    source = software.source
    assert isinstance(source, PathSource)
    if isinstance(source.path, str):
        directory = (context.root / source.path).resolve()
        if not directory.is_dir():
            raise FetchError(
                f"{software.name}: source path '{source.path}' is not a directory "
                f"under {context.root}",
                hint=f"fix 'source.path' in {software.file}",
            )
        return FetchedSource(software.name, "path", directory, digest_tree(directory), "path")
    root = context.root.resolve()
    for entry in source.path:
        if not (root / entry).is_dir():
            raise FetchError(
                f"{software.name}: source path entry '{entry}' is not a directory under {root}",
                hint=f"fix the 'source.path' list in {software.file}: create {entry}/ or "
                "remove it from the list",
            )
    return FetchedSource(software.name, "path", root, path_source_digest(source, root), "path",
                         entries=source.path)
