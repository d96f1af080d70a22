"""Artifacts: the files one software's build added under the install dir, by cache key.

An artifact is a deterministic tar.zst (sorted names, root owner, times clamped to
SOURCE_DATE_EPOCH) written through a temporary file and a rename, then its JSON sidecar,
written last: an artifact without a sidecar does not count, so a build killed mid-write never
leaves one a later build would trust. Builds read artifacts unpacked, from
`cache/unpacked/<key>/`, which is made from the tar.zst when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import zstandard

from builder.compile.cache import ArtifactCache
from builder.digests import write_atomic
from builder.errors import BuilderError

COMPLETE = ".omnibus-complete"  # marks an unpacked artifact as whole


def unpacked_dir(cache: ArtifactCache, key: str) -> Path:
    return cache.root / "unpacked" / key


def _tarinfo(tar: tarfile.TarFile, path: Path, name: str, epoch: int) -> tarfile.TarInfo:
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = min(int(info.mtime), epoch)
    return info


def _members(tree: Path) -> list[tuple[Path, str]]:
    found = []
    for directory, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = Path(directory, name)
            found.append((path, path.relative_to(tree).as_posix()))
    return sorted(found, key=lambda item: item[1])


def pack(tree: Path, target: Path, epoch: int) -> list[dict[str, Any]]:
    """Write `tree` as a reproducible tar.zst at `target`; return its file manifest."""
    manifest = []
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as raw, \
                zstandard.ZstdCompressor(level=6).stream_writer(raw, closefd=False) as out, \
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for path, name in _members(tree):
                info = _tarinfo(tar, path, name, epoch)
                manifest.append({"path": name, "type": info.type.decode(), "mode": info.mode,
                                 "size": info.size})
                if info.isfile():
                    with path.open("rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return manifest


def store(cache: ArtifactCache, key: str, upper: Path, sidecar: dict[str, Any],
          epoch: int) -> None:
    """Pack a build's output into the cache and keep the tree as the unpacked artifact."""
    manifest = pack(upper, cache.artifact_path(key), epoch)
    destination = unpacked_dir(cache, key)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A forced rebuild replaces the unpacked tree too, so it always matches the tar.zst.
    previous = destination.with_name(f".{key}.old-{os.getpid()}")
    if destination.exists():
        os.replace(destination, previous)
    os.replace(upper, destination)
    (destination / COMPLETE).touch()
    shutil.rmtree(previous, ignore_errors=True)
    document = {**sidecar, "key": key, "files": manifest,
                "size": sum(entry["size"] for entry in manifest)}
    write_atomic(cache.sidecar_path(key), (json.dumps(document, indent=1) + "\n").encode())


def ensure_unpacked(cache: ArtifactCache, key: str) -> Path:
    """The artifact's tree, unpacked from its tar.zst when not already there."""
    destination = unpacked_dir(cache, key)
    if (destination / COMPLETE).exists():
        return destination
    if not cache.has(key):
        raise BuilderError(f"artifact {key} is not in the cache at {cache.root}")
    shutil.rmtree(destination, ignore_errors=True)
    scratch = destination.parent / f".{key}.unpack-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        _unpack(cache.artifact_path(key), scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    (scratch / COMPLETE).touch()
    try:
        os.replace(scratch, destination)
    except OSError:  # another process unpacked it first
        shutil.rmtree(scratch, ignore_errors=True)
    return destination


def _unpack(archive: Path, target: Path) -> None:
    """Unpack an artifact. Unlike source archives, artifacts may hold absolute symlinks
    (e.g. into /opt/gitlab), which are never followed here; member paths must stay inside."""
    target.mkdir(parents=True)
    base = os.path.realpath(target)
    with archive.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            destination = os.path.realpath(os.path.join(base, os.path.dirname(info.name)))
            bad = (info.name.startswith("/") or ".." in info.name.split("/")
                   or not (destination + "/").startswith(base + "/")
                   or info.isdev() or (info.islnk() and ".." in info.linkname.split("/")))
            if bad:
                raise BuilderError(f"artifact {archive.name} has an unsafe member '{info.name}'",
                                   hint="delete the artifact from the cache; it is not ours")
            tar.extract(info, target, set_attrs=True)


def read_sidecar(cache: ArtifactCache, key: str) -> dict[str, Any]:
    return json.loads(cache.sidecar_path(key).read_text())
