"""`gitlab-ctl backup-etc`: a tar of /etc/gitlab (gitlab.rb, gitlab-secrets.json, ssl/,
trusted-certs/, ...) in /etc/gitlab/config_backup, as omnibus-gitlab writes it.

The archive is named gitlab_config_<epoch>_<YYYY_MM_DD>.tar, holds etc_dir with its path
(restore with `tar -xf FILE -C /`), follows symlinks as `tar --dereference` does, and leaves
the backup directory itself out. It is written to a temporary file in the backup directory
and renamed into place, so a failed run leaves no partial archive. The directory is made
0700 root, the archive 0600.
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitlab_ctl.commands.maintenance import MaintenanceError, Out, os_error
from gitlab_ctl.config.reader import ConfigError, load_settings
from gitlab_ctl.paths import Layout

ARCHIVE = re.compile(r"^gitlab_config_(\d+)_\d{4}_\d{2}_\d{2}\.tar$")


def default_backup_dir(layout: Layout) -> Path:
    return layout.etc_dir / "config_backup"


def archive_name(now: float) -> str:
    return f"gitlab_config_{int(now)}_{time.strftime('%Y_%m_%d', time.localtime(now))}.tar"


@dataclass
class BackupResult:
    archive: Path
    members: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def prepare_backup_dir(directory: Path, out: Out) -> None:
    """Create the backup directory 0700 root:root; warn when an existing one is open to
    others (omnibus-gitlab warns too, and leaves its mode alone)."""
    if directory.is_dir():
        mode = directory.stat().st_mode & 0o777
        if mode & 0o077:
            out(f"WARNING: {directory} may be read by non-root users (mode {mode:04o}); "
                f"chmod 0700 {directory}")
        return
    out(f"Could not find '{directory}' directory. Creating.")
    try:
        directory.mkdir(mode=0o700, parents=True)
        directory.chmod(0o700)
    except OSError as error:
        raise os_error(error, directory, "cannot create the backup directory",
                       hint="pass another directory with -p PATH") from error
    try:
        os.chown(directory, 0, 0)
    except PermissionError:
        out(f"WARNING: could not change the owner of {directory} to root:root; the backups "
            "there may be readable by non-root users.")


def _same(path: Path, excluded: Path) -> bool:
    return path == excluded or path.resolve() == excluded


def walk_etc(etc_dir: Path, excluded: Path) -> Iterator[Path]:
    """etc_dir and everything under it, sorted, following symlinks (once per directory),
    without `excluded` (the backup directory) and what is under it."""
    seen: set[tuple[int, int]] = set()

    def fail(error: OSError) -> None:
        raise error

    for directory, subdirs, files in os.walk(etc_dir, followlinks=True, onerror=fail):
        here = Path(directory)
        info = here.stat()
        if (info.st_dev, info.st_ino) in seen:
            subdirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        subdirs[:] = sorted(name for name in subdirs if not _same(here / name, excluded))
        yield here
        for name in sorted(files):
            if not _same(here / name, excluded):
                yield here / name


def write_archive(etc_dir: Path, backup_dir: Path, target: Path) -> list[str]:
    """The tar of etc_dir at `target`, atomically; returns the archived paths."""
    members: list[str] = []
    excluded = backup_dir.resolve()
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".gitlab_config_",
                                                 suffix=".tar.part", dir=backup_dir)
    except OSError as error:
        raise MaintenanceError(str(backup_dir), f"cannot write the archive in this "
                               f"directory: {error.strerror}", hint="nothing was written; "
                               "pass a writable directory with -p PATH") from error
    try:
        with os.fdopen(descriptor, "wb") as stream:
            with tarfile.open(fileobj=stream, mode="w", dereference=True,
                              format=tarfile.PAX_FORMAT) as tar:
                for path in walk_etc(etc_dir, excluded):
                    tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
                    members.append(str(path))
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return members


def keep_time(layout: Layout, out: Out) -> int | None:
    """gitlab_rails['backup_keep_time'] in seconds; None (keep everything) when it is not
    set or the config cannot be read, which is said."""
    try:
        settings = load_settings(layout.config_file)
    except ConfigError as error:
        out(f"Could not read gitlab_rails['backup_keep_time'] ({error.where}: "
            f"{error.message}): old configuration backups are kept.")
        return None
    value = (settings.get("gitlab_rails") or {}).get("backup_keep_time")
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        out(f"{layout.config_file}: gitlab_rails['backup_keep_time'] = {value!r} is not a "
            "number of seconds: old configuration backups are kept.")
        return None
    return seconds if seconds > 0 else None


def prune(backup_dir: Path, seconds: int, now: float, keep: Path, out: Out) -> list[Path]:
    """Delete gitlab_config_<epoch>_*.tar archives whose epoch is older than `seconds`."""
    removed = []
    out(f"Keeping only configuration backups created in the last {seconds} seconds.")
    for path in sorted(backup_dir.iterdir()):
        match = ARCHIVE.match(path.name)
        if not match or path == keep or int(match.group(1)) >= now - seconds:
            continue
        try:
            path.unlink()
        except OSError as error:
            out(f"WARNING: could not remove {path}: {error.strerror}")
            continue
        out(f"Removing configuration backup: {path}")
        removed.append(path)
    out(f"Removed {len(removed)} old configuration backups.")
    return removed


def backup_etc(layout: Layout, out: Out, backup_dir: Path | None = None,
               delete_old: bool = True, now: float | None = None) -> BackupResult:
    now = time.time() if now is None else now
    if not layout.etc_dir.is_dir():
        raise MaintenanceError(str(layout.etc_dir), "no such directory: nothing to back up",
                               hint="is GitLab installed and configured on this host?")
    directory = (backup_dir or default_backup_dir(layout)).absolute()
    if directory.resolve() == layout.etc_dir.resolve():
        raise MaintenanceError(str(directory), f"the archive cannot go into {layout.etc_dir} "
                               "itself: it would hold its own earlier archives",
                               hint="leave -p out (config_backup/) or name another directory")
    prepare_backup_dir(directory, out)
    target = directory / archive_name(now)
    out("Running configuration backup")
    out(f"Creating configuration backup archive: {target.name}")
    try:
        members = write_archive(layout.etc_dir, directory, target)
    except OSError as error:
        raise os_error(error, target, "cannot back it up",
                       hint=f"no archive was written; fix this file or the space left in "
                            f"{directory}, then run backup-etc again") from error
    for member in members:
        out(member)
    out(f"Configuration backup archive complete: {target}")
    result = BackupResult(target, members)
    seconds = keep_time(layout, out) if delete_old else None
    if seconds:
        result.removed = prune(directory, seconds, now, target, out)
    return result
