"""`path` sources: directories under the definitions root, snapshotted for the build.

The fetch copies the directories into the cache (`path-sources/<digest>/`) and digests the
copy, so the build compiles exactly the bytes its key names, even if the working tree is
edited while a long build runs (the build then refuses: builder.app.build's
check_path_sources).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from builder.definitions.model import PathSource, Software
from builder.digests import digest_tree, ignore_bytecode
from builder.errors import FetchError
from builder.resolve.keys import path_source_digest
from builder.sources.fetchers.base import FetchContext, FetchedSource


def _path_source(software: Software) -> PathSource:
    source = software.source
    assert isinstance(source, PathSource)  # FETCHERS sends only path sources here
    return source


def _directories(software: Software, root: Path) -> list[tuple[str, Path]]:
    """(relative name in the snapshot, directory in the tree) of each listed directory."""
    source = _path_source(software)
    if isinstance(source.path, str):
        directory = (root / source.path).resolve()
        if not directory.is_dir():
            raise FetchError(
                f"{software.name}: source path '{source.path}' is not a directory under {root}",
                hint=f"fix 'source.path' in {software.file}",
            )
        return [("", directory)]
    for entry in source.path:
        if not (root / entry).is_dir():
            raise FetchError(
                f"{software.name}: source path entry '{entry}' is not a directory under {root}",
                hint=f"fix the 'source.path' list in {software.file}: create {entry}/ or "
                "remove it from the list",
            )
    return [(entry, root / entry) for entry in source.path]


def _snapshot_digest(software: Software, snapshot: Path) -> str:
    source = _path_source(software)
    if isinstance(source.path, str):
        return digest_tree(snapshot)
    return path_source_digest(source, snapshot)


def fetch(software: Software, context: FetchContext) -> FetchedSource:
    root = context.root.resolve()
    directories = _directories(software, root)
    snapshots = context.cache_dir / "path-sources"
    snapshots.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix=f".{software.name}.", dir=snapshots))
    try:
        for name, directory in directories:
            shutil.copytree(directory, copy / name, symlinks=True, ignore=ignore_bytecode,
                            dirs_exist_ok=True)
        digest = _snapshot_digest(software, copy)
        final = snapshots / digest
        if final.is_dir():  # the same contents were snapshotted before
            shutil.rmtree(copy)
        else:
            copy.rename(final)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        raise
    source = _path_source(software)
    entries = () if isinstance(source.path, str) else source.path
    return FetchedSource(software.name, "path", final, digest, "path", entries=entries)
