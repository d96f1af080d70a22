"""Processes as /proc/PID/stat shows them, for the commands that look past runit's own pid
(reconfigure waiting for nginx's new workers, graceful-kill finding a process group)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
#: Indexes into `stat_fields`: the process state (Z: a zombie), its parent and its group.
STATE, PPID, PGRP = 0, 1, 2


def stat_fields(pid: int | str, proc: Path = PROC) -> list[str] | None:
    """The fields of /proc/PID/stat after "pid (comm)", or None once the process is gone.
    The command name may hold spaces and parentheses, so the fields start after the last
    ')'."""
    try:
        stat = (proc / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].decode("ascii", "replace").split()


def processes_where(field: int, value: int, proc: Path = PROC,
                    live_only: bool = False) -> set[int]:
    """The processes whose `field` (PPID, PGRP) is `value`; zombies too unless `live_only`."""
    found = set()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        fields = stat_fields(entry, proc)
        if (fields and len(fields) > field and int(fields[field]) == value
                and not (live_only and fields[STATE] == "Z")):
            found.add(int(entry))
    return found


def parent_pid(pid: int, proc: Path = PROC) -> int | None:
    fields = stat_fields(pid, proc)
    return int(fields[PPID]) if fields else None
