"""`gitlab-ctl container-run`: the all-in-one container image's entrypoint, run as PID 1.

It does what administrators expect of the official image's wrapper:
- gitlab.rb from the package's template when the /etc/gitlab volume has none;
- GITLAB_OMNIBUS_CONFIG applied after gitlab.rb (every config read does that); a refused
  config ends the container with reconfigure's message before anything starts;
- runsvdir supervising the services without systemd, and reconfigure on every start;
- a newer image on the same volumes is an upgrade: the upgrade stop is checked, /etc/gitlab
  is backed up, then reconfigure migrates;
- the services' logs on stdout as well as under /var/log/gitlab, from this start on;
- TERM (`docker stop`) or INT: every service stopped through runit, then runsvdir, exit 0;
- orphans reaped, as PID 1 must.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from gitlab_ctl.commands.backup_etc import backup_etc
from gitlab_ctl.commands.logfollow import LogFollower
from gitlab_ctl.commands.maintenance import Out, template_path
from gitlab_ctl.commands.upgrade import package_manifest, package_upgrade_stop, upgrade_check
from gitlab_ctl.engine import control, runit
from gitlab_ctl.paths import Layout

#: Under the data volume: the package version the volumes last ran with.
VERSION_MARK = "container-version"


@dataclass
class Supervision:
    """The entrypoint's run state: which signal asked it to stop, if any."""
    stop_signal: str = ""


def package_version(layout: Layout) -> str:
    return str(package_manifest(layout).get("build_version") or "")


def ensure_config(layout: Layout, out: Out) -> None:
    for directory in (layout.etc_dir, layout.data_dir, layout.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if not layout.config_file.exists():
        shutil.copyfile(template_path(layout), layout.config_file)
        os.chmod(layout.config_file, 0o600)
        out(f"{layout.config_file}: created from the package's template")


def prepare_upgrade(layout: Layout, out: Out) -> int:
    """0 when the volumes may run with this package (backed up first if it is newer than
    the one they last ran with); 1, with the reason printed, when a required stop is
    skipped."""
    mark = layout.data_dir / VERSION_MARK
    previous = mark.read_text().strip() if mark.exists() else ""
    current = package_version(layout)
    if not previous or previous == current:
        return 0
    refusal = upgrade_check(previous, current, package_stop=package_upgrade_stop(layout))
    for line in refusal:
        out(line)
    if refusal:
        return 1
    out(f"Upgrading GitLab from {previous} to {current} (the volumes ran {previous} last)")
    backup_etc(layout, out)
    return 0


def record_version(layout: Layout) -> None:
    mark = layout.data_dir / VERSION_MARK
    temporary = mark.with_name(f".{VERSION_MARK}.tmp")
    temporary.write_text(package_version(layout) + "\n")
    temporary.replace(mark)


def reap_children() -> None:
    """Collect every exited child, ours or adopted, so none stays a zombie."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def shut_down(layout: Layout, out: Out, svwait: int, logs: LogFollower) -> None:
    """Every service down through runit (each gets `svwait` seconds), then runsvdir: on HUP
    it sends TERM to each runsv, which exits once its service and logger are down. The
    services' last log lines are printed as they come."""
    control.control(layout, "stop", None, out, svwait=svwait)
    for pid in runit.runsvdir_pids(layout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + svwait
    while (runit.supervisor_running(layout) or any(runit.processes(b"runsv"))) \
            and time.monotonic() < deadline:
        reap_children()
        logs.poll()
        time.sleep(0.1)
    logs.poll()
    reap_children()


def container_run(layout: Layout, out: Out, reconfigure: Callable[[], int],
                  svwait: int) -> int:
    state = Supervision()

    def request_stop(signum: int, _frame: object) -> None:
        state.stop_signal = signal.Signals(signum).name

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    ensure_config(layout, out)
    if prepare_upgrade(layout, out) != 0:
        return 1
    logs = LogFollower(layout)
    logs.mark()  # this start's log lines, not the previous run's
    code = reconfigure()
    if code == 2:  # the config was refused: nothing was started
        return 2
    if code != 0:
        out("reconfigure failed (its error is above); stopping what it started")
        shut_down(layout, out, svwait, logs)
        return code
    record_version(layout)
    out("GitLab is running; `docker stop` shuts it down cleanly")
    while not state.stop_signal and runit.supervisor_running(layout):
        reap_children()
        logs.poll()
        time.sleep(0.5)
    if not state.stop_signal:
        out("runsvdir ended unexpectedly; stopping the services")
        shut_down(layout, out, svwait, logs)
        return 1
    out(f"Received {state.stop_signal}: stopping every service")
    shut_down(layout, out, svwait, logs)
    out("GitLab stopped")
    return 0
