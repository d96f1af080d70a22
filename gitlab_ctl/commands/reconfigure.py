"""`gitlab-ctl reconfigure`: read gitlab.rb, resolve attributes and secrets, converge every
resource of every enabled service, then restart (or HUP) only the running services whose
configuration changed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.commands.reconfigure_accounts import account_resources, leave_unmanaged
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.config.secrets import (
    check_complete,
    load_secrets,
    resolve_secrets,
    secrets_text,
    writes_secrets_file,
)
from gitlab_ctl.config.validation import validate
from gitlab_ctl.engine import reload, runit
from gitlab_ctl.engine.resources import Directory, File, ResourceError, Run, converge
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import SERVICES, gitlab_rails_migrations
from gitlab_ctl.services.base import Context, Service

#: What a notification does, as `sv` commands on the service or its log service.
ACTIONS = {"restart": ("restart", ""), "hup": ("hup", ""), "restart-log": ("restart", "/log"),
           "hup-log": ("hup", "/log")}


@dataclass(frozen=True)
class Options:
    config: Path
    dry_run: bool = False
    svwait: int = 30


def base_resources(context: Context) -> list:
    """Directories every installation has, the secrets file (unless
    package['generate_secrets_json_file'] = false), the git and web server accounts.
    Refuses, before anything changes, services whose secrets nothing holds."""
    layout, package = context.layout, context.section("package")
    check_complete(context.attributes, context.secrets, layout.secrets_file)
    manage_etc = context.section("manage_storage_directories").get("manage_etc") is not False
    return [
        *([Directory(layout.etc_dir, group="root", mode=0o775)] if manage_etc else []),
        *([File(layout.secrets_file, secrets_text(context.secrets), mode=0o600,
                sensitive=True)] if writes_secrets_file(package) else []),
        Directory(layout.data_dir, group="root"), Directory(layout.log_dir, group="root"),
        Directory(layout.reconfigure_log_dir, mode=0o700),
        Directory(layout.install_dir / "etc"),
        *account_resources(context),
        *runit.supervisor_resources(layout, package),
    ]


def absent_note(context: Context, service: Service) -> str:
    """What an enabled service whose program this package does not include amounts to."""
    program = context.layout.install_dir / service.binary
    if service.supervise:
        return (f"{service.name}: not started, because this package does not include "
                f"{program}.")
    return (f"{service.name}: its configuration is written, but this package does not "
            f"include {program}, so nothing reads it.")


def start_services(context: Context, services: list[Service]) -> list:
    """Link these runit services at once, start runsvdir, wait until runsv supervises
    them, then what needs them running."""
    if not services:
        return []
    names = [service.name for service in services]
    return [*(runit.enable_step(context.layout, name) for name in names),
            runit.start_supervisor_step(context.layout),
            runit.wait_supervised_step(context.layout, names),
            *(resource for service in services for resource in service.after_start(context))]


def plan(context: Context, run: Run) -> list:
    """Every resource of this run, in order: base, each service's files and runit
    directory, then the services omnibus-gitlab starts before migrating (PostgreSQL, Redis,
    Gitaly...), the configuration-only services' after_start (gitlab-rails: the database
    migration), then the other services, so Puma and Sidekiq start on a migrated database.
    Services without a binary get a note instead of a runit service, given only by a run
    that changes their files (the first one, or after a change to gitlab.rb)."""
    resources, runnable, migrations = base_resources(context), [], []
    for service in SERVICES.values():
        if not context.section(service.section).get("enable"):
            resources.append(runit.disable_step(context.layout, service.name))
            continue
        configured = service.configure(context)
        resources += configured
        if not context.layout.binary(service.binary).exists():
            run.note_about(absent_note(context, service), [r.id for r in configured])
        elif service.supervise:
            resources += service.runit_resources(context)
            runnable.append(service)
        else:  # configuration-only (gitlab-rails, gitlab-shell): no runit service
            migrations += service.after_start(context)
    first = [service for service in runnable
             if not migrations or service.name in gitlab_rails_migrations.PRE_MIGRATION]
    resources += start_services(context, first)
    resources += migrations
    resources += start_services(context, [s for s in runnable if s not in first])
    resources.append(gitlab_rails_migrations.root_password_cleanup(context))
    resources.append(File(context.layout.data_dir / "bootstrapped", "", mode=0o600))
    return leave_unmanaged(context, resources)


def deliver_notifications(context: Context, run: Run, svwait: int) -> None:
    """Restart or HUP what changed, once each, only if it runs and did not just start."""
    layout = context.layout
    for action, service in run.notifications:
        if service in run.started:
            continue
        command, suffix = ACTIONS[action]
        if not runit.is_running(layout, service + suffix):
            continue
        run.changed.append(f"runit_service[{service}{suffix}] {command}")
        run.report(f"* runit_service[{service}{suffix}] action {command}")
        if run.dry_run:
            continue
        waits = command == "hup" and not suffix and service in SERVICES \
            and SERVICES[service].hup_replaces_workers
        if waits:
            result, late = reload.hup_and_wait(layout, service)
            run.warnings += [late] if late else []
        else:
            result = runit.sv(layout, command, service + suffix, wait=svwait)
        if result.returncode != 0:
            run.warnings.append(f"{service}{suffix}: `sv {command}` said: "
                                f"{(result.stdout + result.stderr).strip()}")
        elif not suffix and service in SERVICES:
            run.warnings += SERVICES[service].after_reload(context)


def pending_path(layout: Layout) -> Path:
    return layout.data_dir / "reconfigure-pending.json"


def load_pending(layout: Layout) -> list[tuple[str, str]]:
    """Restarts and HUPs a failed run owed: it wrote the files, then stopped before telling
    the services, and the next run finds those files up to date."""
    try:
        return [(action, service) for action, service in
                json.loads(pending_path(layout).read_text())
                if action in ACTIONS and service in SERVICES]
    except (OSError, ValueError, TypeError):  # none, or unreadable: nothing owed
        return []


def save_pending(layout: Layout, run: Run) -> None:
    if run.notifications:
        File(pending_path(layout), json.dumps([list(n) for n in run.notifications]) + "\n",
             mode=0o600).apply()


def reconfigure(layout: Layout, options: Options, report: Callable[[str], None]) -> Run:
    """One converge. ConfigError (nothing was touched) and ResourceError (the run stopped at
    that resource) propagate; everything before a failure stays converged, and what it
    asked of the services is kept for the next run to deliver."""
    settings, lines = read_config(options.config)
    attributes = resolve_attributes(settings)
    warnings = validate(attributes, settings, lines, options.config)
    secrets = resolve_secrets(settings, load_secrets(layout.secrets_file))
    if attributes["letsencrypt"].get("auto_enabled"):  # as omnibus-gitlab, for later runs
        secrets.setdefault("letsencrypt", {})["auto_enabled"] = True
    context = Context(layout, attributes, secrets)
    run = Run(dry_run=options.dry_run, report=report, warnings=warnings)
    resources = plan(context, run)
    run.total = len(resources)
    for action, service in load_pending(layout):
        run.notify(action, service)
    try:
        converge(resources, run)
    except ResourceError:
        if not options.dry_run:
            save_pending(layout, run)
        raise
    run.drop_stale_notes()
    deliver_notifications(context, run, options.svwait)
    if not options.dry_run:
        pending_path(layout).unlink(missing_ok=True)
    return run


def write_log(layout: Layout, lines: list[str]) -> Path | None:
    """The run's output under /var/log/gitlab/reconfigure/<epoch>.log."""
    text = "\n".join(lines) + "\n"
    try:
        layout.reconfigure_log_dir.mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for suffix in ("", *(f"-{n}" for n in range(1, 100))):
            path = layout.reconfigure_log_dir / f"{stamp}{suffix}.log"
            try:  # runs within the same second keep their own logs
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as log:
                    log.write(text)
                return path
            except FileExistsError:
                continue
    except OSError:
        pass
    return None


def write_secrets(path: Path, secrets_data: Mapping[str, Any]) -> bool:
    """Write the file (0600) if its content changes; True when it was written. The same
    resource reconfigure converges (atomic, mode set before the rename)."""
    secrets_file = File(path, secrets_text(secrets_data), owner=None, mode=0o600,
                        sensitive=True)
    if secrets_file.check() is None:
        return False
    secrets_file.apply()
    return True
