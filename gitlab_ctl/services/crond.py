"""crond: go-crond running the jobs in /var/opt/gitlab/crond as omnibus-gitlab's crond
cookbook runs it (off unless crond['enable']; its jobs are cron.d files other features
drop there, such as Let's Encrypt's renewal)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import letsencrypt
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.prometheus import shellescape


def flags(crond: Mapping[str, Any]) -> str:
    """CrondHelper#flags: true is --key, false and '' are left out, else --key=value; the
    include is always cron_d (an `include` flag is ignored)."""
    rendered = []
    for key, value in (crond.get("flags") or {}).items():
        if key == "include" or value is False or value == "":
            continue
        rendered.append(f"--{key}" if value is True else f"--{key}={shellescape(value)}")
    rendered.append(f"--include={shellescape(crond['cron_d'])}")
    return " ".join(rendered)


def configure(context: Context) -> list:
    # its log directory (root, log_group's group) comes with the runit service; the jobs
    # of other features: Let's Encrypt's renewal
    return [Directory(Path(context.section("crond")["cron_d"]), owner="root"),
            letsencrypt.renewal_job(context)]


def supervise(context: Context) -> list:
    crond = context.section("crond")
    run_script = context.render("runit/crond.run.j2", flags=flags(crond))
    definition = ServiceDefinition("crond", run_script, Path(crond["log_directory"]),
                                   log_group=crond.get("log_group"))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("crond", "crond", "embedded/bin/go-crond", configure, supervise)
