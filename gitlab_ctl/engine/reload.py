"""A HUP that returns once it took effect, for servers whose master process re-reads its
configuration and replaces its worker processes (nginx). `sv hup` only sends the signal:
until the new workers run, the old ones go on answering with the old configuration and
certificate, and if the master refused the new configuration there never are new workers."""

from __future__ import annotations

import subprocess
import time

from gitlab_ctl.engine import procfs, runit
from gitlab_ctl.paths import Layout

RELOAD_TIMEOUT = 10.0


def children(pid: int) -> set[int]:
    return procfs.processes_where(procfs.PPID, pid)


def hup_and_wait(layout: Layout, name: str, timeout: float = RELOAD_TIMEOUT
                 ) -> tuple[subprocess.CompletedProcess, str | None]:
    """`sv hup NAME`, then wait until the master has a worker it did not have before and
    the old ones are gone. Gives sv's result and a warning when the reload did not finish
    in time (the master kept its old workers: it refused the configuration, or old workers
    still serve long requests)."""
    status = runit.read_status(layout.service_dir / name)
    master = status.pid if status is not None and status.state == "run" else 0
    before = children(master) if master else set()
    result = runit.sv(layout, "hup", name)
    if result.returncode != 0 or not master:
        return result, None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = children(master)
        if now - before and not now & before:
            return result, None
        time.sleep(0.05)
    now = children(master)
    if not now - before:
        return result, (f"{name} got HUP but started no new worker within {timeout:.0f} s, "
                        f"so it still runs its previous configuration: see "
                        f"`gitlab-ctl tail {name}`")
    return result, None  # new workers serve; old ones finish their requests
