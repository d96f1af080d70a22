"""`gitlab-ctl container-run`: the all-in-one container image's entrypoint, run as PID 1.

It does what administrators expect of the official image's wrapper:
- gitlab.rb from the package's template when the /etc/gitlab volume has none;
- the image's defaults, then GITLAB_OMNIBUS_CONFIG, then gitlab.rb (every config read does
  that: gitlab.rb wins); a refused config ends the container with reconfigure's message
  before anything starts;
- omnibus-gitlab's init-container steps (container_steps): stale PID files and sockets
  removed, sshd with its host keys in /etc/gitlab (GITLAB_DISABLE_OPENSSH,
  GITLAB_ALLOW_SHA1_RSA), update-permissions, GITLAB_PRE/POST_RECONFIGURE_SCRIPT around
  reconfigure (a failing one ends the container with 1), GITLAB_SKIP_RECONFIGURE,
  GITLAB_SKIP_PG_UPGRADE, GITLAB_SKIP_TAIL_LOGS;
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
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitlab_ctl.commands import container_steps as steps
from gitlab_ctl.commands.backup_etc import backup_etc
from gitlab_ctl.commands.logfollow import LogFollower
from gitlab_ctl.commands.maintenance import Out, template_path
from gitlab_ctl.commands.upgrade import package_manifest, package_upgrade_stop, upgrade_check
from gitlab_ctl.engine import control, runit
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import pg_cluster

#: Under the data volume: the package version the volumes last ran with.
VERSION_MARK = "container-version"


@dataclass
class Supervision:
    """The entrypoint's run state: which signal asked it to stop, if any."""
    stop_signal: str = ""


def package_version(layout: Layout) -> str:
    return str(package_manifest(layout).get("build_version") or "")


#: The template's placeholder, which images before gitlab.rb won over GITLAB_OMNIBUS_CONFIG
#: left in the gitlab.rb they made (the variable's external_url overrode it then).
PLACEHOLDER_URL = "external_url 'GENERATED_EXTERNAL_URL'"


def ensure_config(layout: Layout, out: Out) -> None:
    for directory in (layout.etc_dir, layout.data_dir, layout.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if not layout.config_file.exists():
        shutil.copyfile(template_path(layout), layout.config_file)
        os.chmod(layout.config_file, 0o600)
        out(f"{layout.config_file}: created from the package's template")
        return
    text = layout.config_file.read_text()
    lines = text.splitlines(keepends=True)
    if any(line.strip() == PLACEHOLDER_URL for line in lines):
        layout.config_file.write_text("".join(
            f"# {line}" if line.strip() == PLACEHOLDER_URL else line for line in lines))
        out(f"{layout.config_file}: commented out {PLACEHOLDER_URL} (an earlier image's "
            "placeholder): external_url comes from GITLAB_OMNIBUS_CONFIG or the hostname")


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


PG_UPGRADE_FAILED = (
    "Upgrading the existing database failed and was reverted.",
    "Please check the output above.",
    "If you would like to restart the instance without attempting to",
    "upgrade, add the following to your docker command:",
    "-e GITLAB_SKIP_PG_UPGRADE=true")


def start_runsvdir(layout: Layout) -> None:
    """runsvdir without a reconfigure (GITLAB_SKIP_RECONFIGURE): what it supervises is what
    the last reconfigure linked."""
    subprocess.Popen([str(layout.embedded / "bin" / "runsvdir-start")],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while not runit.supervisor_running(layout) and time.monotonic() < deadline:
        time.sleep(0.1)


def pg_upgrade_not_due(layout: Layout) -> str:
    """Why the start runs no pg-upgrade ('' when it does): omnibus-gitlab's image attempts
    it when the package's default PostgreSQL is newer than the one the data runs with
    (its ATTEMPT_AUTO_PG_UPGRADE, set per release; here decided by the package itself)."""
    target = pg_cluster.default_version(layout)
    if target is None:
        return "this package's version manifest names no PostgreSQL version"
    running = pg_cluster.Cluster(layout, {}).running_version()
    if running is None:
        return "no PostgreSQL runs from embedded/bin"
    if running.major >= target.major:
        return f"PostgreSQL {running} is this package's default ({target})"
    return ""


def configure(layout: Layout, environ: Mapping[str, str], out: Out,
              reconfigure: Callable[[], int]) -> int:
    """Reconfigure, or only runsvdir when GITLAB_SKIP_RECONFIGURE=true on bootstrapped
    volumes (omnibus-gitlab's condition); then pg-upgrade unless GITLAB_SKIP_PG_UPGRADE."""
    if steps.enabled(environ, "GITLAB_SKIP_RECONFIGURE") and \
            (layout.data_dir / "bootstrapped").exists():
        out("Skipped reconfigure because GITLAB_SKIP_RECONFIGURE is set.")
        out("Configuration updates and changes will not happen without a reconfigure. "
            "Unset GITLAB_SKIP_RECONFIGURE to process these updates.")
        start_runsvdir(layout)
        # the service links are not on a volume: a new container has only sshd's
        linked = runit.enabled_services(layout)
        out(f"runsvdir supervises {', '.join(linked) or 'nothing'}; `gitlab-ctl "
            "reconfigure` in the container sets up and starts the other services")
    else:
        out("Configuring GitLab...")
        code = reconfigure()
        if code != 0:
            return code
    if steps.enabled(environ, "GITLAB_SKIP_PG_UPGRADE"):
        out("Skipping the PostgreSQL upgrade check (GITLAB_SKIP_PG_UPGRADE=true)")
        return 0
    not_due = pg_upgrade_not_due(layout)
    if not_due:
        out(f"No PostgreSQL upgrade: {not_due}")
        return 0
    upgraded = subprocess.run([steps.gitlab_ctl(layout), "pg-upgrade", "-w",
                               "--skip-disk-check", "--skip-multi-node"], check=False,
                              capture_output=True, text=True)
    for line in (upgraded.stdout + upgraded.stderr).splitlines():
        out(line)
    if upgraded.returncode != 0:
        for line in PG_UPGRADE_FAILED:
            out(line)
        return 1
    return 0


def prepare(layout: Layout, environ: Mapping[str, str], out: Out) -> int:
    """Everything before reconfigure; non-zero ends the container before it."""
    steps.clean_stale_pids(layout, out)
    ensure_config(layout, out)
    if prepare_upgrade(layout, out) != 0:
        return 1
    if environ.get(steps.ASSETS_VARIABLE):
        steps.prepare_sshd(layout, environ, out, Path(environ[steps.ASSETS_VARIABLE]))
    steps.update_permissions(layout, out)
    return 1 if steps.run_script(environ, "GITLAB_PRE_RECONFIGURE_SCRIPT", out) else 0


def container_run(layout: Layout, out: Out, reconfigure: Callable[[], int],
                  svwait: int, environ: Mapping[str, str] = os.environ) -> int:
    state = Supervision()

    def request_stop(signum: int, _frame: object) -> None:
        state.stop_signal = signal.Signals(signum).name

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    if prepare(layout, environ, out) != 0:
        return 1
    logs = LogFollower(layout)
    logs.mark()  # this start's log lines, not the previous run's
    code = configure(layout, environ, out, reconfigure)
    if code == 2:  # the config was refused: nothing was started
        return 2
    if code == 0 and steps.run_script(environ, "GITLAB_POST_RECONFIGURE_SCRIPT", out):
        code = 1
    elif code != 0:
        out("the start failed (its error is above); stopping what it started")
    if code != 0:
        shut_down(layout, out, svwait, logs)
        return code
    record_version(layout)
    return supervise(layout, out, svwait, logs, state,
                     follow=not steps.enabled(environ, "GITLAB_SKIP_TAIL_LOGS"))


def supervise(layout: Layout, out: Out, svwait: int, logs: LogFollower, state: Supervision,
              follow: bool) -> int:
    """Until TERM or INT (exit 0 after a clean stop) or runsvdir's end (exit 1); the logs
    on stdout unless GITLAB_SKIP_TAIL_LOGS."""
    out("GitLab is running; `docker stop` shuts it down cleanly")
    while not state.stop_signal and runit.supervisor_running(layout):
        reap_children()
        if follow:
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
