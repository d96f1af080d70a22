"""Service commands: status, start/stop/restart/..., tail and service-list, for one service
or for every enabled one, as omnibus-ctl runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from gitlab_ctl.engine import runit
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

#: gitlab-ctl command -> sv command (omnibus-ctl's names, usr1/usr2 as sv's 1/2).
SV_COMMANDS = {"start": "start", "stop": "stop", "restart": "restart", "once": "once",
               "hup": "hup", "term": "term", "int": "interrupt", "kill": "kill",
               "usr1": "1", "usr2": "2"}
#: Files under /var/log/gitlab that `tail` leaves out: rotated, compressed or not logs.
TAIL_SKIP = ("config", "lock", "@", ".bz2", ".gz", ".gzip", ".tbz2", ".tgz", ".txz", ".xz",
             ".zip")


class UnknownService(GitlabCtlError):
    """A name that is not a service here; exit 2, as for a usage error."""

    exit_code = 2

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("", f"{name} is not a service of this installation; services: "
                         f"{', '.join(known) or 'none yet'}")
        self.name, self.known = name, known


def targets(layout: Layout, service: str | None) -> list[str]:
    if service is None:
        return runit.enabled_services(layout)
    known = runit.all_services(layout)
    if service not in known:
        raise UnknownService(service, known)
    return [service]


def unsupervised_hint(layout: Layout, names: list[str]) -> str:
    """Why no runsv supervises `names`, and what to do, for stderr."""
    if not runit.supervisor_running(layout):
        return (f"gitlab-ctl: error: runsvdir is not running, so nothing supervises "
                f"{', '.join(names)}\n  hint: {runit.start_supervisor_hint(layout)}")
    return (f"gitlab-ctl: error: runsvdir runs, but no runsv supervises {', '.join(names)} "
            f"yet\n  hint: runsvdir starts one for each link in {layout.service_dir} "
            "within 5 s; if it does not, `ps -ef | grep runsvdir` shows its last errors")


def status(layout: Layout, service: str | None, out: Callable[[str], None]) -> int:
    """omnibus-gitlab's status lines; the exit code counts services that do not run."""
    failures, unsupervised = 0, []
    for name in targets(layout, service):
        line, running = runit.status_line(layout, name)
        out(line)
        failures += 0 if running else 1
        if runit.read_status(layout.service_dir / name) is None:
            unsupervised.append(name)
    if unsupervised:
        print(unsupervised_hint(layout, unsupervised), file=sys.stderr)
    return failures


def control(layout: Layout, command: str, service: str | None, out: Callable[[str], None],
            svwait: int = 30) -> int:
    """An sv command on one service or every enabled one; the exit code is the sum. A
    service no runsv supervises fails as sv says it (`fail: x: runsv not running`), with
    the reason and what to do on stderr, and sv is not asked."""
    total, unsupervised = 0, []
    for name in targets(layout, service):
        if not runit.runsv_running(layout.service_dir / name):
            out(f"fail: {name}: runsv not running")
            unsupervised.append(name)
            total += 1
            continue
        result = runit.sv(layout, SV_COMMANDS[command], name, wait=svwait)
        text = (result.stdout + result.stderr).strip()
        if text:
            out(text)
        total += result.returncode
    if unsupervised:
        print(unsupervised_hint(layout, unsupervised), file=sys.stderr)
    return total


def service_list(layout: Layout, out: Callable[[str], None]) -> int:
    enabled = set(runit.enabled_services(layout))
    for name in runit.all_services(layout):
        out(f"{name}*" if name in enabled else name)
    return 0


def log_files(layout: Layout, service: str | None) -> list[str]:
    top = layout.log_dir / service if service else layout.log_dir
    found = []
    for directory, _subdirs, files in os.walk(top, followlinks=True):
        for name in files:
            if not any(name == skip or name.endswith(skip) or name.startswith(skip)
                       for skip in TAIL_SKIP):
                found.append(os.path.join(directory, name))
    return sorted(found)


def tail(layout: Layout, service: str | None) -> int:
    files = log_files(layout, service)
    if not files:
        print(f"no log files under {layout.log_dir / (service or '')}", file=sys.stderr)
        return 1
    try:
        return subprocess.call(["tail", "--follow=name", "--retry", *files])
    except KeyboardInterrupt:
        return 0
