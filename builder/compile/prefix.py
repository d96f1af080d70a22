"""The install prefix one build sees: its dependencies' artifacts, and nothing else.

The artifacts of a software's transitive dependencies are stacked as read-only overlayfs
lower layers; the build writes to an empty upper layer, which afterwards holds exactly the
files the build added or changed: its artifact. Assembling costs one mount, whatever the
number of files. A build that deletes a dependency's file leaves a whiteout, which is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from builder.errors import BuilderError


def _mount_points_under(root: Path) -> list[str]:
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    points = [line.split()[4] for line in text.splitlines()]
    prefix = str(root.resolve()) + "/"
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _owner_alive(work_dir: Path) -> bool:
    """Work directories are named <software>-<pid>: is that run still going?"""
    pid = work_dir.name.rsplit("-", 1)[-1]
    return not pid.isdigit() or Path(f"/proc/{pid}").exists()


def release_stale(work_root: Path) -> None:
    """Unmount and delete what killed runs left behind; never touch a live run's work."""
    stale = [entry for entry in work_root.glob("*/*") if not _owner_alive(entry)]
    for entry in stale:  # <work_root>/<platform>-<arch>/<software>-<pid>
        for point in _mount_points_under(entry):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(entry, ignore_errors=True)


class PrefixMount:
    """`merged` shows `layers` (top first) read-only, with writes going to `upper`."""

    def __init__(self, work: Path, layers: Sequence[Path]) -> None:
        self.work = work
        self.layers = list(layers)
        self.upper = work / "upper"
        self.merged = work / "merged"

    def __enter__(self) -> PrefixMount:
        links = self.work / "layers"
        for directory in (links, self.upper, self.work / "ovl-work", self.merged):
            directory.mkdir(parents=True)
        empty = links / "empty"
        empty.mkdir()
        # Short relative names keep the mount options far below the kernel's page-size limit.
        names = []
        for index, layer in enumerate(self.layers):
            (links / str(index)).symlink_to(layer)
            names.append(str(index))
        options = (f"lowerdir={':'.join(names or ['empty'])},upperdir={self.upper},"
                   f"workdir={self.work / 'ovl-work'}")
        result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options,
                                 str(self.merged)], cwd=links, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuilderError(f"cannot assemble the install prefix: {result.stderr.strip()}",
                               hint="builds need root and overlayfs (mount -t overlay)")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.merged)], capture_output=True)
        if os.path.ismount(self.merged):
            subprocess.run(["umount", "-l", str(self.merged)], capture_output=True)


def whiteouts(upper: Path) -> list[str]:
    """Files the build deleted from its dependencies (overlayfs marks them 0/0 char devices)."""
    found = []
    for directory, _dirs, files in os.walk(upper):
        for name in files:
            path = Path(directory, name)
            status = path.lstat()
            if os.major(status.st_rdev) == 0 and os.minor(status.st_rdev) == 0 and \
                    (status.st_mode & 0o170000) == 0o020000:
                found.append(str(path.relative_to(upper)))
    return sorted(found)
