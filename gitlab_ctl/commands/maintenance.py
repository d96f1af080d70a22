"""Maintenance commands that act on a whole installation: diff-config, restart-except and
cleanse. backup-etc lives in backup_etc.py, upgrade and upgrade-check in upgrade.py.

Nothing here prints or exits: output goes through an `out` callable and failures are
MaintenanceError (where, message, hint), which the CLI turns into a message and exit 1.
"""

from __future__ import annotations

import difflib
import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from gitlab_ctl.engine import control, runit
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

#: Where cleanse copies /etc/gitlab before deleting it (omnibus-ctl: /root/<name>-cleanse-...).
CLEANSE_BACKUP_ROOT = Path("/root")
CLEANSE_WAIT = 60  # seconds to hit Ctrl-C before cleanse deletes anything
#: Directories cleanse refuses to delete whatever the layout says (a mistyped GITLAB_*_DIR).
PROTECTED = {Path(p) for p in ("/", "/etc", "/var", "/var/opt", "/var/log", "/opt", "/usr",
                               "/root", "/home", "/tmp", "/srv", "/boot", "/bin", "/lib")}

Out = Callable[[str], None]


class CleanseCancelled(Exception):  # a signal the CLI answers, not an error
    """Ctrl-C during cleanse's wait: nothing was changed."""


class MaintenanceError(GitlabCtlError):
    """A command that could not do its job; `where` names the file or option at fault."""


def os_error(error: OSError, path: Path | str, doing: str, hint: str = "") -> MaintenanceError:
    """A MaintenanceError for an OSError, naming the file and suggesting root for EACCES."""
    where = str(error.filename or path)
    if not hint and error.errno in (errno.EACCES, errno.EPERM):
        hint = "run gitlab-ctl as root (sudo gitlab-ctl ...)"
    return MaintenanceError(where, f"{doing}: {error.strerror or error}", hint)


def template_path(layout: Layout) -> Path:
    return layout.install_dir / "etc" / "gitlab.rb.template"


def _read(path: Path, hint: str) -> str:
    try:
        return path.read_text()
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM):
            hint = "run gitlab-ctl as root (sudo gitlab-ctl diff-config)"
        raise MaintenanceError(str(path), f"cannot be read ({error.strerror})", hint) from error


def diff_config(layout: Layout, config: Path) -> list[str]:
    """A unified diff from the config file (---) to the package's template (+++), as
    `git diff gitlab.rb gitlab.rb.template` shows it; no lines when they are the same."""
    template = template_path(layout)
    ours = _read(config, f"there is no config yet: the package's template is {template} "
                         f"(cp {template} {config}, then set external_url)")
    theirs = _read(template, f"is the package installed in {layout.install_dir}? "
                             "(GITLAB_INSTALL_DIR names another install dir)")
    lines = []
    for line in difflib.unified_diff(ours.splitlines(keepends=True),
                                     theirs.splitlines(keepends=True),
                                     fromfile=str(config), tofile=str(template)):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        lines.extend(line.splitlines())
    return lines


def restart_except(layout: Layout, exceptions: list[str], out: Out, svwait: int = 30) -> int:
    """Restart every enabled service except `exceptions`; the exit code is the sum of sv's.
    An unknown name is refused before anything is restarted (a typo would restart it)."""
    for name in exceptions:
        control.targets(layout, name)  # raises UnknownService
    total = 0
    for name in runit.enabled_services(layout):
        if name not in exceptions:
            total += control.control(layout, "restart", name, out, svwait=svwait)
    return total


def cleanse_warning(layout: Layout, with_external: bool, wait_seconds: int | None) -> list[str]:
    """What cleanse is about to delete; with the countdown when it waits."""
    lines = [
        "*" * 67,
        "*            STOP AND READ: this deletes GitLab's data            *",
        "*" * 67,
        "This deletes *all* local configuration, logs and data of GitLab:",
        f"  {layout.etc_dir} (configuration and secrets; a copy is kept first)",
        f"  {layout.data_dir} (databases, repositories, uploads: everything)",
        f"  {layout.log_dir} (logs)",
        f"  the service links in {layout.service_dir}",
        f"The package itself ({layout.install_dir}) stays installed.",
    ]
    if with_external:
        lines.append("--with-external: this gitlab-ctl manages no external services, so "
                     "nothing outside this host is touched.")
    if wait_seconds:
        lines += ["", f"You have {wait_seconds} seconds to hit Ctrl-C before it starts; run "
                      "'gitlab-ctl cleanse yes' to skip this wait.", "*" * 67]
    return lines


def _check_deletable(path: Path) -> None:
    resolved = path.resolve()
    if not path.is_absolute() or resolved in PROTECTED or len(resolved.parts) < 3:
        raise MaintenanceError(str(path), "refusing to delete a system directory",
                               hint="check GITLAB_ETC_DIR, GITLAB_DATA_DIR and GITLAB_LOG_DIR")


def backup_etc_copy(layout: Layout, backup_root: Path, now: float) -> Path | None:
    """Copy etc_dir to <backup_root>/gitlab-cleanse-<YYYY-MM-DDTHH:MM> (0700); None when
    there is no etc_dir. An existing copy of the same minute is kept: a suffix is added."""
    if not layout.etc_dir.exists():
        return None
    base = backup_root / time.strftime("gitlab-cleanse-%Y-%m-%dT%H:%M", time.localtime(now))
    target, number = base, 1
    while target.exists():
        number += 1
        target = base.with_name(f"{base.name}-{number}")
    try:
        backup_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copytree(layout.etc_dir, target, symlinks=True)
        target.chmod(0o700)
    except OSError as error:  # shutil.Error (some files failed) is one too
        shutil.rmtree(target, ignore_errors=True)
        raise os_error(error, target, "cannot copy the configuration there",
                       hint="nothing was deleted; free space or fix the path, then run "
                            "cleanse again") from error
    return target


def _remove_tree(path: Path, attempts: int = 3) -> None:
    """rm -rf, retried: a log service that is still stopping may write one more file."""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if attempt == attempts - 1:
                raise os_error(error, path, "cannot delete it",
                               hint=f"delete it by hand: rm -rf {path}") from error
            time.sleep(1)


def runsv_pids(layout: Layout, names: list[str]) -> list[int]:
    """The runsv processes supervising these services (runsv runs in the service's dir)."""
    wanted = {str((layout.sv_dir / name).resolve()) for name in names}
    found = []
    for pid, _argv in runit.processes(b"runsv"):
        try:
            if os.readlink(f"/proc/{pid}/cwd") in wanted:
                found.append(pid)
        except OSError:
            continue
    return found


def stop_and_unlink(layout: Layout, out: Out, svwait: int, timeout: float = 15.0) -> None:
    """Stop every enabled service and its log service (a leftover child of a service can
    hold the log pipe open, so runsv would wait for svlogd forever), remove its link, and
    wait until runsvdir has ended its runsv: nothing writes to the directories deleted
    next."""
    enabled = runit.enabled_services(layout)
    if not enabled:
        return
    out("Stopping all services")
    control.control(layout, "stop", None, out, svwait=svwait)
    for name in enabled:
        runit.sv(layout, "down", f"{name}/log", wait=svwait)
        (layout.service_dir / name).unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    if runsv_pids(layout, enabled):
        out("Waiting for runsvdir to stop supervising them")
    while runsv_pids(layout, enabled):
        if time.monotonic() > deadline:
            out(f"WARNING: runsv still runs for some of {', '.join(enabled)} after "
                f"{timeout:.0f} s; deleting anyway")
            return
        time.sleep(0.2)


def uninstall(layout: Layout, out: Out, svwait: int = 30) -> None:
    """omnibus-ctl's uninstall (the package's prerm runs it on removal): stop every service
    and the supervisor. Configuration, data and logs stay; reconfigure brings it all back."""
    stop_and_unlink(layout, out, svwait)
    for line in runit.stop_supervisor(layout):
        out(line.capitalize())
    out(f"GitLab's services are stopped; {layout.etc_dir}, {layout.data_dir} and "
        f"{layout.log_dir} are kept. `gitlab-ctl reconfigure` starts them again.")


def cleanse(layout: Layout, out: Out, *, confirmed: bool, with_external: bool = False,
            backup_root: Path | None = None, wait: Callable[[float], None] | None = None,
            svwait: int = 30, now: float | None = None) -> Path | None:
    """omnibus-ctl's cleanse: warn (and wait unless confirmed), copy etc_dir away, stop
    and unlink every service, delete etc, data and log dirs. KeyboardInterrupt during the
    wait is CleanseCancelled, with nothing changed. Returns where the configuration copy
    went (None if there was no etc_dir)."""
    for line in cleanse_warning(layout, with_external, None if confirmed else CLEANSE_WAIT):
        out(line)
    if not confirmed:
        try:
            (wait or time.sleep)(CLEANSE_WAIT)
        except KeyboardInterrupt as interrupt:
            raise CleanseCancelled from interrupt
    for path in (layout.etc_dir, layout.data_dir, layout.log_dir):
        _check_deletable(path)
    copy = backup_etc_copy(layout, backup_root or CLEANSE_BACKUP_ROOT,
                           time.time() if now is None else now)
    stop_and_unlink(layout, out, svwait)
    for path in (layout.data_dir, layout.etc_dir, layout.log_dir):
        out(f"Deleting {path}")
        _remove_tree(path)
    return copy
