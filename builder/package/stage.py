"""Staging: the tree a package holds, made from a project's artifacts.

The stage is the union of every software's artifact under the install dir, minus the project's
exclusions, each software's `package_excludes` and version-control leftovers. Files are
hard-linked from the unpacked artifacts (copied across file systems), so staging 20k files
takes well under a second; nothing ever writes into a staged file. Two software installing the
same path with different contents is an error that names both.

Identical license texts under <install_dir>/LICENSES/ are staged as hard links to one file.
A symlink that a build made absolute but that stays inside the install dir is staged relative
(what dh_link does for Debian packages, Debian policy 10.5): the tree reads the same wherever
it is unpacked. One whose directory path passes through another symlink keeps its target.

The stage is made under a temporary name and renamed into place: a stage that exists is whole.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import re
import shutil
import stat
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.errors import BuilderError

#: Never packaged, as in chef/omnibus.
VCS_EXCLUDES = ("**/.git", "**/.hg", "**/.svn", "**/.gitkeep")
SKIPPED_NAMES = frozenset({".omnibus-complete"})


@dataclass(frozen=True)
class StageEntry:
    """One path in the package, relative to `/` (e.g. `opt/gitlab/embedded/bin/git`)."""

    path: str
    kind: str  # "dir", "file" or "symlink"
    mode: int  # permission bits, setuid/setgid/sticky included
    size: int = 0
    target: str = ""  # symlink target
    owner: str = ""  # the software that installed it ("" for generated files)
    mtime: int | None = None  # None: made by staging, dated SOURCE_DATE_EPOCH
    #: (device, inode, link count) of a file: hard links within one software share it.
    inode: tuple[int, int, int] = (0, 0, 1)


@dataclass(frozen=True)
class Stage:
    root: Path
    install_dir: str  # absolute, e.g. /opt/gitlab
    entries: tuple[StageEntry, ...]  # sorted by path; parents before children

    def source(self, entry: StageEntry) -> Path:
        return self.root / entry.path


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `**` spans directories, `*` and `?` stay within one name."""
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


class Excluder:
    """Paths relative to the install dir that the package leaves out; a dir takes its subtree."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(glob_regex(p.strip("/")) for p in patterns)

    def excludes(self, relative: str) -> bool:
        return any(p.fullmatch(relative) for p in self.patterns)


def _walk(tree: Path) -> Generator[tuple[str, os.stat_result], bool, None]:
    """(relative path, lstat) in sorted order; sending False prunes a directory."""
    base = str(tree)  # plain strings: pathlib costs a second per 100k paths here
    stack = [""]
    while stack:
        relative = stack.pop()
        names = sorted(os.listdir(f"{base}/{relative}" if relative else base))
        children = []
        for name in names:
            if not relative and name in SKIPPED_NAMES:
                continue
            child = f"{relative}/{name}" if relative else name
            info = os.lstat(f"{base}/{child}")
            if (yield child, info) is not False and stat.S_ISDIR(info.st_mode):
                children.append(child)
        stack.extend(reversed(children))


@dataclass
class _Union:
    """The union being collected: path under the install dir -> (source tree, lstat, owner)."""

    found: dict[str, tuple[Path, os.stat_result, str]]

    def add(self, tree: Path, owner: str, excluder: Excluder) -> None:
        walker = _walk(tree)
        try:
            relative, info = next(walker)
            while True:
                keep = not excluder.excludes(relative)
                if keep:
                    self._take(tree, relative, info, owner)
                relative, info = walker.send(keep)
        except StopIteration:
            return

    def _take(self, tree: Path, relative: str, info: os.stat_result, owner: str) -> None:
        if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)
                or stat.S_ISLNK(info.st_mode)):
            raise BuilderError(f"{owner} installed {relative}, which is neither a file, a "
                               "directory nor a symlink", hint="remove it in the build steps")
        earlier = self.found.get(relative)
        if earlier is None:
            self.found[relative] = (tree, info, owner)
            return
        earlier_tree, earlier_info, earlier_owner = earlier
        if stat.S_ISDIR(info.st_mode) and stat.S_ISDIR(earlier_info.st_mode):
            return
        if _identical(earlier_tree / relative, earlier_info, tree / relative, info):
            return
        raise BuilderError(
            f"{earlier_owner} and {owner} both install {relative}, with different contents",
            hint="add it to package_excludes of one of them, or stop one from installing it")


def _identical(first: Path, first_info: os.stat_result, second: Path,
               second_info: os.stat_result) -> bool:
    if stat.S_IFMT(first_info.st_mode) != stat.S_IFMT(second_info.st_mode):
        return False
    if stat.S_ISLNK(first_info.st_mode):
        return os.readlink(first) == os.readlink(second)
    return filecmp.cmp(first, second, shallow=False)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def relative_target(path: str, target: str, install_dir: str,
                    symlinks: frozenset[str] = frozenset()) -> str:
    """The target a symlink at `path` (relative to /) is staged with: an absolute `target`
    inside `install_dir` becomes relative to the link's directory, unless a directory above
    the link (in `symlinks`, paths relative to /) is itself a symlink, which would make the
    relative path resolve elsewhere."""
    prefix = install_dir.rstrip("/")
    if not (target.startswith(prefix + "/") or target == prefix):
        return target
    parent = os.path.dirname(path)
    parts = parent.split("/")
    if any("/".join(parts[: i + 1]) in symlinks for i in range(len(parts))):
        return target
    return os.path.relpath(target, "/" + parent)


def _parents(install_dir: str) -> list[str]:
    parts = install_dir.strip("/").split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _materialize(found: dict[str, tuple[Path, os.stat_result, str]], install_dir: str,
                 scratch: Path) -> list[StageEntry]:
    entries = []
    for parent in _parents(install_dir):
        (scratch / parent).mkdir(mode=0o755)
        entries.append(StageEntry(parent, "dir", 0o755))
    prefix = install_dir.strip("/")
    symlinks = frozenset(f"{prefix}/{relative}" for relative, (_, info, _) in found.items()
                         if stat.S_ISLNK(info.st_mode))
    for relative in sorted(found):
        tree, info, owner = found[relative]
        path = f"{prefix}/{relative}"
        source, destination = f"{tree}/{relative}", f"{scratch}/{path}"
        mode, mtime = stat.S_IMODE(info.st_mode), int(info.st_mtime)
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(destination, 0o700)
            os.chmod(destination, mode)
            entries.append(StageEntry(path, "dir", mode, owner=owner, mtime=mtime))
        elif stat.S_ISLNK(info.st_mode):
            target = relative_target(path, os.readlink(source), install_dir, symlinks)
            os.symlink(target, destination)
            entries.append(StageEntry(path, "symlink", 0o777, target=target, owner=owner,
                                      mtime=mtime))
        else:
            _link_or_copy(source, destination)
            entries.append(StageEntry(path, "file", mode, info.st_size, owner=owner, mtime=mtime,
                                      inode=(info.st_dev, info.st_ino, info.st_nlink)))
    return entries


def _link_identical_licenses(entries: list[StageEntry], install_dir: str,
                             scratch: Path) -> list[StageEntry]:
    """Identical texts in <install_dir>/LICENSES/ (each software copies its own, so the
    Apache-2.0 of six of ours is there six times) become hard links to the first of them:
    one file on disk, as the packagers keep hard links."""
    licenses = f"{install_dir.strip('/')}/LICENSES/"
    groups: dict[tuple[int, int, bytes], list[int]] = {}
    for index, entry in enumerate(entries):
        if entry.kind == "file" and entry.path.startswith(licenses):
            data = (scratch / entry.path).read_bytes()
            groups.setdefault((entry.mode, len(data), data), []).append(index)
    for indexes in groups.values():
        if len(indexes) < 2:
            continue
        leader = entries[indexes[0]]
        for index in indexes[1:]:
            duplicate = scratch / entries[index].path
            duplicate.unlink()
            os.link(scratch / leader.path, duplicate)
        info = os.lstat(scratch / leader.path)
        for index in indexes:
            entries[index] = dataclasses.replace(
                entries[index], mtime=leader.mtime,
                inode=(info.st_dev, info.st_ino, info.st_nlink))
    return entries


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_leftovers(destination: Path) -> None:
    """Half-made or old stages of runs that were killed (their process is gone)."""
    for leftover in destination.parent.glob(f".{destination.name}.*-*"):
        pid = leftover.name.rpartition("-")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def make_stage(layers: Iterable[tuple[str, Path, tuple[str, ...]]], install_dir: str,
               exclusions: Iterable[str], destination: Path) -> Stage:
    """Stage `layers` (software name, unpacked artifact, its package_excludes) at destination."""
    project_excluder = list(exclusions) + list(VCS_EXCLUDES)
    union = _Union({})
    for owner, tree, excludes in layers:
        union.add(tree, owner, Excluder(project_excluder + list(excludes)))
    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(destination)
    scratch = destination.with_name(f".{destination.name}.new-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        entries = _link_identical_licenses(_materialize(union.found, install_dir, scratch),
                                           install_dir, scratch)
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        replaced = destination.exists()
        if replaced:
            os.replace(destination, old)
        os.replace(scratch, destination)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if replaced:  # the old stage goes while packaging runs; the interpreter waits for it
        threading.Thread(target=shutil.rmtree, args=(old,), kwargs={"ignore_errors": True},
                         name="remove-old-stage").start()
    return Stage(destination, install_dir, tuple(entries))


def add_generated(stage: Stage, relative: str, data: bytes, mode: int = 0o644) -> Stage:
    """A new stage with a generated file under the install dir (e.g. version-manifest.json)."""
    path = f"{stage.install_dir.strip('/')}/{relative}"
    target = stage.root / path
    target.unlink(missing_ok=True)  # a hard link into the cache must never be written through
    target.write_bytes(data)
    os.chmod(target, mode)
    entry = StageEntry(path, "file", mode, len(data))
    kept = [e for e in stage.entries if e.path != path]
    return Stage(stage.root, stage.install_dir, tuple(sorted([*kept, entry], key=_sort_key)))


def _sort_key(entry: StageEntry) -> str:
    return entry.path
