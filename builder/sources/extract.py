"""Safe extraction of source archives: tar (plain, gzip, bzip2, xz, zstd) and zip.

Every member is checked before anything is written for it. The tree is built in a hidden
sibling of the destination and renamed into place only once complete; on any error the sibling
is removed, so a caller sees either the whole tree or nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import closing, suppress
from pathlib import Path
from typing import IO, NoReturn

from builder.errors import BuilderError, UnsafeArchiveError
from builder.sources.archives import (
    CACHE_HINT,
    CHUNK,
    DAMAGED,
    MAX_LINK_TARGET,
    Kind,
    Member,
    detect_format,
    read_members,
)

_FILE_MODE_MASK = 0o755  # drops setuid, setgid, sticky and group/other write
_DIR_MODE = 0o755
_REFUSED_KINDS = {Kind.DEVICE: "is a device file", Kind.FIFO: "is a FIFO",
                  Kind.OTHER: "is not a regular file, directory or link"}


def _normalise(base: tuple[str, ...], path: str) -> tuple[str, ...] | None:
    """`path` resolved lexically under `base`, or None if a '..' climbs above the root."""
    parts = list(base)
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            return None
    return tuple(parts)


def _set_mtime(path: str | int, mtime: float, follow_symlinks: bool = True) -> None:
    # A header can carry any number; an mtime the OS cannot store is not worth failing for.
    with suppress(OverflowError, ValueError):
        os.utime(path, (mtime, mtime), follow_symlinks=follow_symlinks)


def _copy_data(source: IO[bytes], out: IO[bytes]) -> None:
    shutil.copyfileobj(source, out, CHUNK)


class _Tree:
    """The tree being built under a private directory, and what the archive put where so far.

    Paths are tuples of components, normalised lexically. Each path the archive created is in
    exactly one of dirs, files (regular files and hardlinks) and symlinks.
    """

    def __init__(self, archive: str, root: Path) -> None:
        self.archive = archive
        self.root = str(root)
        self.dirs: set[tuple[str, ...]] = {()}
        self.files: set[tuple[str, ...]] = set()
        self.symlinks: dict[tuple[str, ...], str] = {}  # path -> member name, for messages
        self.dir_times: dict[tuple[str, ...], float] = {}
        self.tops: set[str] = set()
        self.current = ""

    def _fs(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.root, *parts)

    def _refuse(self, name: str, problem: str) -> NoReturn:
        raise UnsafeArchiveError(self.archive, name, problem)

    def add(self, member: Member) -> None:
        self.current = member.name
        parts = self._check(member)
        if not parts:
            if member.kind is not Kind.DIR:
                self._refuse(member.name, "names the extraction directory itself")
            return
        self.tops.add(parts[0])
        self._make_parents(member.name, parts[:-1])
        if self._clear(parts, member.kind):
            self._MAKERS[member.kind](self, parts, member)
        if member.kind is Kind.DIR:
            self.dir_times[parts] = member.mtime

    def _check(self, member: Member) -> tuple[str, ...]:
        """The member's path, after refusing anything that could write outside the tree."""
        name = member.name
        if member.kind in _REFUSED_KINDS:
            self._refuse(name, _REFUSED_KINDS[member.kind])
        if "\0" in name:
            self._refuse(name, "has a NUL byte in its name")
        if name.startswith("/"):
            self._refuse(name, "is an absolute path")
        parts = _normalise((), name)
        if parts is None:
            self._refuse(name, "escapes the extraction directory through '..'")
        link = self._symlink_on_the_way(parts)
        if link is not None:
            self._refuse(name, f"would be written through the symlink '{link}'")
        if member.kind is Kind.SYMLINK:
            self._check_symlink(member, parts)
        elif member.kind is Kind.HARDLINK:
            self._check_hardlink(member, parts)
        return parts

    def _symlink_on_the_way(self, parts: tuple[str, ...]) -> str | None:
        """The name of an extracted symlink that is a parent of `parts`, if any."""
        for end in range(1, len(parts)):
            name = self.symlinks.get(parts[:end])
            if name is not None:
                return name
        return None

    def _check_symlink(self, member: Member, parts: tuple[str, ...]) -> None:
        target = member.target
        if not target or "\0" in target or len(target) > MAX_LINK_TARGET:
            self._refuse(member.name, "is a symlink with an empty or invalid target")
        # Relative targets resolve from the link's own directory, as the kernel does.
        if target.startswith("/") or _normalise(parts[:-1], target) is None:
            self._refuse(member.name, f"is a symlink pointing outside the tree (-> {target})")

    def _check_hardlink(self, member: Member, parts: tuple[str, ...]) -> None:
        target = member.target
        # A tar hardlink target is an archive path, relative to the archive's root.
        linked = None if target.startswith("/") else _normalise((), target)
        if linked is None:
            self._refuse(member.name, f"is a hardlink pointing outside the tree (-> {target})")
        if linked == parts:
            self._refuse(member.name, "is a hardlink to itself")
        if linked not in self.files or self._symlink_on_the_way(linked) is not None:
            self._refuse(member.name, f"is a hardlink to '{target}', which is not an earlier "
                                      "regular file in the archive")

    def _make_parents(self, name: str, parent: tuple[str, ...]) -> None:
        if parent in self.dirs:
            return
        for end in range(1, len(parent) + 1):
            prefix = parent[:end]
            if prefix in self.dirs:
                continue
            if prefix in self.files:
                self._refuse(name, f"needs '{'/'.join(prefix)}' to be a directory, but an "
                                   "earlier member is a file there")
            os.mkdir(self._fs(prefix), 0o700)
            self.dirs.add(prefix)

    def _clear(self, parts: tuple[str, ...], kind: Kind) -> bool:
        """Remove what an earlier member left at `parts`; False if it can stay as it is.

        A later member replaces an earlier one, as with tar. Removing first also means a new
        file is never written through an old symlink of the same name.
        """
        if parts in self.dirs:
            if kind is Kind.DIR:
                return False
            shutil.rmtree(self._fs(parts))
        elif parts in self.files or parts in self.symlinks:
            os.unlink(self._fs(parts))
        else:
            return True
        self._forget(parts)
        return True

    def _forget(self, parts: tuple[str, ...]) -> None:
        def inside(path: tuple[str, ...]) -> bool:
            return path[:len(parts)] == parts

        self.dirs.difference_update({p for p in self.dirs if inside(p)})
        self.files.difference_update({p for p in self.files if inside(p)})
        for path in [p for p in self.symlinks if inside(p)]:
            del self.symlinks[path]

    def _make_file(self, parts: tuple[str, ...], member: Member) -> None:
        assert member.open is not None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(self._fs(parts), flags, 0o600), "wb") as out:
            with member.open() as source:
                _copy_data(source, out)
            out.flush()
            os.fchmod(out.fileno(), member.mode & _FILE_MODE_MASK)
            _set_mtime(out.fileno(), member.mtime)
        self.files.add(parts)

    def _make_dir(self, parts: tuple[str, ...], member: Member) -> None:
        os.mkdir(self._fs(parts), 0o700)
        self.dirs.add(parts)

    def _make_symlink(self, parts: tuple[str, ...], member: Member) -> None:
        path = self._fs(parts)
        os.symlink(member.target, path)
        _set_mtime(path, member.mtime, follow_symlinks=False)
        self.symlinks[parts] = member.name

    def _make_hardlink(self, parts: tuple[str, ...], member: Member) -> None:
        linked = _normalise((), member.target)
        assert linked is not None
        os.link(self._fs(linked), self._fs(parts), follow_symlinks=False)
        self.files.add(parts)

    _MAKERS = {Kind.FILE: _make_file, Kind.DIR: _make_dir, Kind.SYMLINK: _make_symlink,
               Kind.HARDLINK: _make_hardlink}

    def finish(self) -> None:
        """Check where the links really lead, then set directory modes and times."""
        self.current = ""
        self._check_resolved_symlinks()
        for parts in self.dirs:
            os.chmod(self._fs(parts), _DIR_MODE)
        # Last, because creating an entry in a directory updates the directory's mtime.
        for parts, mtime in self.dir_times.items():
            if parts in self.dirs:
                _set_mtime(self._fs(parts), mtime)

    def _check_resolved_symlinks(self) -> None:
        """Each link passed the lexical check alone, but a chain can still climb out.

        E.g. `p/q/s -> ../..` then `p/q/t -> s/..`: each looks inside, yet t resolves to the
        parent of the root. Resolving on disk, with every member in place, catches that.
        """
        base = os.path.realpath(self.root)
        for parts, name in sorted(self.symlinks.items()):
            resolved = os.path.realpath(self._fs(parts))
            if resolved != base and not resolved.startswith(base + os.sep):
                target = os.readlink(self._fs(parts))
                self._refuse(name, f"is a symlink pointing outside the tree through other "
                                   f"symlinks (-> {target})")


def _damaged(archive: Path, error: BaseException) -> BuilderError:
    detail = str(error) or type(error).__name__
    return BuilderError(f"cannot extract {archive}: corrupt or truncated archive: {detail}",
                        hint=CACHE_HINT)


def _extract_all(archive: Path, kind: str, staging: Path, dest: Path) -> set[str]:
    """Fill `staging` from the archive and rename it to `dest`; the top-level names."""
    tree = _Tree(str(archive), staging)
    try:
        members = read_members(archive, kind)
        with closing(members):
            for member in members:
                tree.add(member)
        tree.finish()
        os.rename(staging, dest)
    except DAMAGED as error:
        raise _damaged(archive, error) from error
    except OSError as error:
        if error.errno is None:
            raise _damaged(archive, error) from error
        where = f" (member '{tree.current}')" if tree.current else ""
        raise BuilderError(f"cannot extract {archive} to {dest}{where}: {error}",
                           hint=f"check free space and permissions in {dest.parent}") from error
    return tree.tops


def _source_root(dest: Path, tops: set[str]) -> Path:
    if len(tops) == 1:
        top = dest / next(iter(tops))
        if top.is_dir() and not top.is_symlink():
            return top
    return dest


def extract_archive(archive: Path, dest: Path) -> Path:
    """Extract `archive` into `dest`, which must not exist; return the source root.

    The format comes from the file's magic bytes (tar, optionally gzip, bzip2, xz or zstd
    compressed, or zip), so a misnamed file still extracts. The source root is the single
    top-level directory when every member lies under one, else `dest`.

    Raises UnsafeArchiveError for a member that could write outside `dest` or is a device or
    FIFO, and BuilderError for a corrupt or truncated archive or a write error. Either way
    `dest` is not created and no temporary directory is left behind.
    """
    kind = detect_format(archive)
    if os.path.lexists(dest):
        raise BuilderError(f"cannot extract {archive}: {dest} already exists",
                           hint="remove it, or extract into a new directory")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as error:
        raise BuilderError(f"cannot extract {archive}: cannot create a directory in "
                           f"{dest.parent}: {error.strerror or error}",
                           hint=f"check permissions on {dest.parent}") from error
    try:
        tops = _extract_all(archive, kind, staging, dest)
    except BaseException:
        # Includes KeyboardInterrupt: a half-built tree must never look like a finished one.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _source_root(dest, tops)
