"""omnibus-gitlab's maintenance commands that act on the installed services and files:
graceful-kill (omnibus-ctl's), deploy-page, generate-secrets and remove-accounts. Each
handler returns the exit code; the checks that refuse come before any change."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gitlab_ctl.commands.console import out, svwait
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.config.secrets import load_secrets, resolve_secrets
from gitlab_ctl.engine import control, procfs, runit
from gitlab_ctl.engine.accounts import group_entry, user_entry
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

Out = Callable[[str], None]


def installed_attributes(layout: Layout) -> tuple[dict[str, Any], dict[str, Any]]:
    """gitlab.rb's settings and the attributes reconfigure resolves from them."""
    settings, _lines = read_config(layout.config_file)
    return settings, resolve_attributes(settings)


# --- graceful-kill ---------------------------------------------------------------------


def process_group_members(pgrp: int) -> list[int]:
    """Every live process in process group `pgrp`."""
    return sorted(procfs.processes_where(procfs.PGRP, pgrp, live_only=True))


def supervised_pid(layout: Layout, name: str) -> int | None:
    try:
        text = (layout.service_dir / name / "supervise" / "pid").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stop(layout: Layout, name: str, out: Out, svwait: int) -> int:
    result = runit.sv(layout, "stop", name, wait=svwait)
    text = (result.stdout + result.stderr).strip()
    if text:
        out(text)
    return result.returncode


def graceful_kill_one(layout: Layout, name: str, out: Out, svwait: int) -> int:
    """omnibus-ctl's graceful_kill for one enabled service: `sv stop`, then SIGKILL to
    whatever is left in the service's process group (a child that ignores TERM). runsvdir
    starts each runsv in a session of its own, so runsv and the service's svlogd are in that
    group too: they are spared, so the service stays supervised, and down."""
    pid = supervised_pid(layout, name)
    if pid is None:
        out(f"could not find {name} runit pidfile (service already stopped?), cannot attempt "
            "SIGKILL...")
        return _stop(layout, name, out, svwait)
    try:
        pgrp = os.getpgid(pid)
    except ProcessLookupError:
        out(f"could not find pgrp of pid {pid} (not running?), cannot attempt SIGKILL...")
        return _stop(layout, name, out, svwait)
    supervisors = {procfs.parent_pid(pid), supervised_pid(layout, f"{name}/log")}
    _stop(layout, name, out, svwait)  # a timeout is what the SIGKILL is for
    stuck = [member for member in process_group_members(pgrp) if member not in supervisors]
    if stuck:
        out(f"found stuck pids still running in process group: {stuck}, sending SIGKILL")
        for member in stuck:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(member, signal.SIGKILL)
    return 0


def graceful_kill(layout: Layout, service: str | None, out: Out, svwait: int) -> int:
    """Every enabled service, or the one named; a named one that is not enabled is
    reported and the exit code is 1, as omnibus-ctl's."""
    enabled = runit.enabled_services(layout)
    if service is None:
        names = enabled
    else:
        control.targets(layout, service)  # an unknown name is a usage error
        names = [service]
    status = 0
    for name in names:
        if name not in enabled:
            out(f"{name} disabled, not stopping")
            status = 1
            continue
        result = graceful_kill_one(layout, name, out, svwait)
        status = status or result
    return status


# --- deploy-page -----------------------------------------------------------------------


def rails_public(layout: Layout) -> Path:
    return layout.embedded / "service" / "gitlab-rails" / "public"


def deploy_page(layout: Layout, state: str, out: Out) -> int:
    """up: Rails' public/deploy.html copied to public/index.html, which nginx serves for
    every request while it exists (omnibus-gitlab's Workhorse does it there; see the
    nginx template's deploy page); down: index.html removed; status: which one."""
    public = rails_public(layout)
    deploy, index = public / "deploy.html", public / "index.html"
    if state == "status":
        out(f"Deploy page is {'up' if index.exists() else 'down'}")
        return 0
    if state == "down":
        out(f"rm -f {index}")
        index.unlink(missing_ok=True)
        return 0
    if not deploy.is_file():
        raise GitlabCtlError(str(deploy), "does not exist: the deploy page is GitLab Rails' "
                             "public/deploy.html, and this package does not include Rails",
                             hint="install a package with GitLab Rails (gitlab-ce), or put "
                             f"your own page at {deploy} (nginx serves {public} when its "
                             "502.html exists at reconfigure)")
    out(f"cp {deploy} {index}")
    shutil.copyfile(deploy, index)
    return 0


# --- generate-secrets ------------------------------------------------------------------


def generate_secrets(layout: Layout, target: Path, out: Out) -> int:
    """The secrets reconfigure would use (gitlab.rb's, else the installed
    gitlab-secrets.json's, else `target`'s own, else new ones) written to `target` (0600),
    without reconfigure; running it again leaves the file as it is."""
    from gitlab_ctl.commands.reconfigure import write_secrets

    settings, _attributes = installed_attributes(layout)
    stored = load_secrets(target) if target.exists() else {}
    for section, values in load_secrets(layout.secrets_file).items():
        if isinstance(values, dict):
            stored[section] = {**(stored.get(section) or {}), **values}
    secrets = resolve_secrets(settings, stored)
    if not target.parent.is_dir():
        raise GitlabCtlError(str(target), f"its directory {target.parent} does not exist",
                             hint="create it, or name a file in an existing directory")
    written = write_secrets(target, secrets)
    out(f"{target}: {'written' if written else 'already holds these secrets, unchanged'}")
    return 0


# --- remove-accounts -------------------------------------------------------------------

#: section -> (user key, group key): every account reconfigure can create (the git and web
#: server accounts, gitlab-backup, and the service accounts), as omnibus's AccountHelper.
ACCOUNT_SECTIONS = {
    "user": ("username", "group"), "web_server": ("username", "group"),
    "gitlab_backup_cli": ("user", "group"), "postgresql": ("username", "group"),
    "redis": ("username", "group"), "registry": ("username", "group"),
    "prometheus": ("username", "group"),
}
#: Never removed, whatever gitlab.rb names.
PROTECTED_ACCOUNTS = frozenset({"root", "nobody", "nogroup", "daemon", "bin", "sys"})


def managed_accounts(attributes: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The users, then the groups, this package's reconfigure creates, in order, once each."""
    users: dict[str, None] = {}
    groups: dict[str, None] = {}
    for section, (user_key, group_key) in ACCOUNT_SECTIONS.items():
        values = attributes.get(section) or {}
        for name, found in ((values.get(user_key), users), (values.get(group_key), groups)):
            if name and name not in PROTECTED_ACCOUNTS:
                found[name] = None
    return list(users), list(groups)


def processes_of(uids: Iterable[int]) -> list[int]:
    """Pids of processes running as any of `uids` (real uid, /proc/PID/status)."""
    wanted, found = set(uids), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) in wanted:
                found.append(int(entry.name))
    return sorted(found)


def remove_accounts(layout: Layout, out: Out) -> int:
    """Delete every user, then every group, this package creates; refused (before any is
    deleted) when gitlab.rb leaves accounts to the administrator or a process still runs as
    one of them (userdel would stop halfway)."""
    _settings, attributes = installed_attributes(layout)
    if (attributes.get("manage_accounts") or {}).get("enable") is False:
        raise GitlabCtlError(str(layout.config_file), "manage_accounts['enable'] is false: "
                             "the accounts are the administrator's, nothing was removed",
                             hint="remove them with userdel/groupdel yourself")
    users, groups = managed_accounts(attributes)
    present = {name: entry for name in users if (entry := user_entry(name)) is not None}
    busy = processes_of(entry.uid for entry in present.values())
    if busy:
        raise GitlabCtlError("", f"processes still run as {', '.join(present)}: pids "
                             f"{', '.join(map(str, busy))}; nothing was removed",
                             hint="stop them first: `gitlab-ctl stop` (and `gitlab-ctl "
                             "uninstall` for runsvdir and the log processes)")
    for name in users:
        _remove(name, "user", ["userdel", name], present.get(name) is not None, out)
    for name in groups:
        _remove(name, "group", ["groupdel", name], group_entry(name) is not None, out)
    return 0


def _remove(name: str, kind: str, argv: list[str], exists: bool, out: Out) -> None:
    if not exists:
        out(f"{kind} {name}: not present")
        return
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise GitlabCtlError(f"{kind} {name}", f"{argv[0]} exited {result.returncode}: "
                             f"{result.stderr.strip() or 'no output'}",
                             hint="the accounts listed above were removed; fix this one and "
                             "run gitlab-ctl remove-accounts again")
    out(f"{kind} {name}: removed")


# --- the table entries -----------------------------------------------------------------


def _graceful_kill_command(args: argparse.Namespace, layout: Layout) -> int:
    return graceful_kill(layout, args.service, out, svwait())


def _deploy_page_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("state", choices=["up", "down", "status"],
                        help="up: serve the deploy page for every request; down: stop; "
                        "status: say which")


def _deploy_page_command(args: argparse.Namespace, layout: Layout) -> int:
    return deploy_page(layout, args.state, out)


def _generate_secrets_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("-f", "--file", type=Path, required=True, metavar="FILE",
                        help="write the secrets to FILE (0600)")


def _generate_secrets_command(args: argparse.Namespace, layout: Layout) -> int:
    return generate_secrets(layout, args.file, out)


def _remove_accounts_command(args: argparse.Namespace, layout: Layout) -> int:
    return remove_accounts(layout, out)


def _service_argument(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("service", nargs="?", help="one service (default: all enabled)")


def _no_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    pass


COMMANDS = {
    "graceful-kill": ("stop a service, or all, then SIGKILL whatever is left in its process "
                      "group", _service_argument, _graceful_kill_command),
    "deploy-page": ("put up the deploy page (Rails' public/deploy.html, served by nginx), "
                    "take it down, or show which", _deploy_page_arguments,
                    _deploy_page_command),
    "generate-secrets": ("write the secrets gitlab.rb and gitlab-secrets.json give (new ones "
                         "where missing) to a file, without reconfigure",
                         _generate_secrets_arguments, _generate_secrets_command),
    "remove-accounts": ("delete *all* users and groups this package created (after "
                        "`gitlab-ctl stop` and `uninstall`)", _no_arguments,
                        _remove_accounts_command),
}
