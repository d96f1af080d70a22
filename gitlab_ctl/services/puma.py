"""Puma, Rails' web server: puma.rb next to Rails' other configuration, and its runit
service. Workhorse talks to it over the socket in gitlab-rails/sockets."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.engine.sysctl import kernel_parameters
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Facts, Service

#: puma.rb changed: omnibus-gitlab's `hup` for Puma is a graceful stop through a control
#: script, after which runit starts it again. A bare HUP only makes Puma reopen its logs
#: (stdout_redirect), so here a change restarts it: `sv restart` sends TERM, which Puma
#: also takes as a graceful stop, finishing the requests it has.
NOTIFY = (("restart", "puma"),)


def worker_processes(facts: Facts) -> int:
    """omnibus-gitlab's default: one worker per CPU, as far as the memory beyond 1.5 GiB
    gives 1 GiB each, and at least two."""
    by_memory = (facts.memory_kb - 1572864) // 1048576
    return max(2, min(facts.cpus, by_memory))


def settings(context: Context) -> dict:
    values = dict(context.section("puma"))
    run_dir = context.layout.install_dir / "var" / "puma"
    if values.get("worker_processes") is None:
        values["worker_processes"] = worker_processes(context.facts)
    if values.get("pidfile") is None:
        values["pidfile"] = str(run_dir / "puma.pid")
    if values.get("state_path") is None:
        values["state_path"] = str(run_dir / "puma.state")
    return values


def configure(context: Context) -> list:
    puma = settings(context)
    user = common.git_user(context)[0]
    etc = common.rails_etc(context)
    return [
        Directory(context.layout.install_dir / "var"),
        Directory(Path(puma["pidfile"]).parent, owner=user, mode=0o700),
        context.template(etc / "puma.rb", "puma/puma.rb.j2", notifies=NOTIFY, puma=puma,
                         rails_home=common.rails_home(context),
                         rails_dir=common.rails_dir(context)),
        # the listen backlog Puma asks for is capped by the kernel's somaxconn
        *kernel_parameters(bool(context.section("package")["modify_kernel_parameters"]),
                           context.layout.install_dir / "etc" / "sysctl",
                           {"net.core.somaxconn": puma["somaxconn"]}),
    ]


def supervise(context: Context) -> list:
    puma = settings(context)
    run_script = context.render("runit/puma.run.j2", puma=puma,
                                **common.rails_run_values(context, "puma"))
    definition = ServiceDefinition("puma", run_script, Path(puma["log_directory"]),
                                   log_owner=common.git_user(context)[0],
                                   start_down=puma["ha"])
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("puma", "puma", "embedded/bin/bundle", configure, supervise)
