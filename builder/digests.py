"""File digests and atomic writes: the bottom of builder/, which every layer may use.

Nothing here knows definitions, keys or packages.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def sha256_json(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: What running Python leaves in a source directory: never digested, never copied into a build.
BYTECODE_DIRS = frozenset({"__pycache__"})
BYTECODE_SUFFIX = ".pyc"


def ignore_bytecode(directory: str, names: list[str]) -> set[str]:
    """For shutil.copytree(ignore=...): the names digest_tree leaves out (os.walk's split:
    a link to a directory counts as a directory)."""
    ignored = set()
    for name in names:
        is_dir = os.path.isdir(os.path.join(directory, name))
        if (is_dir and name in BYTECODE_DIRS) or (not is_dir and name.endswith(BYTECODE_SUFFIX)):
            ignored.add(name)
    return ignored


def digest_tree(root: Path) -> str:
    """A digest of a directory's names, modes, link targets and contents, in sorted order.

    `__pycache__` directories and `*.pyc` files are left out, so running the code changes
    nothing."""
    digest = hashlib.sha256()
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in BYTECODE_DIRS)
        for name in sorted(files):
            if name.endswith(BYTECODE_SUFFIX):
                continue
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                digest.update(f"L {relative} {os.readlink(path)}\n".encode())
            else:
                mode = "x" if os.access(path, os.X_OK) else "-"
                digest.update(f"F {relative} {mode} {sha256_file(path)}\n".encode())
    return digest.hexdigest()


def file_digests(path: Path) -> dict[str, str]:
    """md5, sha1, sha256 and sha512 of a file, read once."""
    digests = {name: hashlib.new(name) for name in ("md5", "sha1", "sha256", "sha512")}
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            for digest in digests.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write through a temporary file and rename, so readers never see half a file; `mode`
    is set before the rename (a temporary file starts as 0600)."""
    import tempfile  # only writers need it; plans that only read stay quick to start

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
