"""The container's stdout: every log under /var/log/gitlab followed from a point in time, so
the services' start-up lines, written before following began, are printed too (`tail -n 0`
would lose them; plain `tail` would repeat the previous run's last lines)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

from gitlab_ctl.engine.control import log_files
from gitlab_ctl.paths import Layout

CHUNK = 1 << 20


@dataclass
class LogFollower:
    layout: Layout
    out: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    #: log path -> (inode, bytes already printed or skipped)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    current: str = ""  # the log the last printed bytes came from

    def mark(self) -> None:
        """Start from now: what the logs hold already is not printed."""
        for path in log_files(self.layout, None):
            try:
                status = os.stat(path)
            except OSError:
                continue
            self.positions[path] = (status.st_ino, status.st_size)

    def poll(self) -> None:
        """Print what each log gained since the last poll: a new log from its start, and a
        rotated one (svlogd renames `current` and starts a new file) from its start."""
        for path in log_files(self.layout, None):
            try:
                status = os.stat(path)
            except OSError:
                continue
            inode, offset = self.positions.get(path, (status.st_ino, 0))
            if inode != status.st_ino or status.st_size < offset:
                offset = 0
            if status.st_size > offset:
                offset += self._print(path, offset, status.st_size)
            self.positions[path] = (status.st_ino, offset)

    def _print(self, path: str, offset: int, end: int) -> int:
        sys.stdout.flush()  # the entrypoint's own lines first
        if path != self.current:
            self.out.write(f"\n==> {path} <==\n".encode())
            self.current = path
        printed = 0
        with open(path, "rb") as log:
            log.seek(offset)
            while printed < end - offset and (data := log.read(min(CHUNK, end - offset -
                                                                    printed))):
                self.out.write(data)
                printed += len(data)
        self.out.flush()
        return printed
