"""logrotate for the logs services write themselves (nginx's access logs, Rails' logs); the
logs runit collects are rotated by svlogd. It runs as a runit service whose wrapper sleeps,
rotates once and exits, so runit starts it again."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services.base import Context, Service

#: Log directories logrotate looks after (runit name -> the section naming its owner).
ROTATED = {"nginx": "web_server", "puma": "user", "sidekiq": "user", "gitlab-rails": "user",
           "gitlab-shell": "user", "gitlab-workhorse": "user", "gitaly": "user",
           "mailroom": "user"}


def entries(context: Context) -> list[dict]:
    result = []
    log_group = context.section("logging")["log_group"]
    for name, owner_section in ROTATED.items():
        owner = context.section(owner_section)
        user = "root" if name == "nginx" else owner["username"]
        # as omnibus-gitlab's logrotate_group: the service's log_group, logging's, the owner's
        own = context.section("nginx")["log_group"] if name == "nginx" else None
        result.append({"name": name, "dir": context.layout.log_dir / name, "user": user,
                       "group": own or log_group or owner["group"]})
    return result


def configure(context: Context) -> list:
    settings = context.section("logrotate")
    directory = Path(settings["dir"])
    resources: list = [Directory(directory, mode=0o700),
                       Directory(directory / "logrotate.d", mode=0o700)]
    for entry in entries(context):
        resources.append(context.template(
            directory / "logrotate.d" / entry["name"], "logrotate/service.j2", entry=entry,
            logging=context.section("logging")))
    resources.append(context.template(directory / "logrotate.conf", "logrotate/logrotate.conf.j2",
                                      logrotate=settings, entries=entries(context),
                                      logging=context.section("logging")))
    return resources


def supervise(context: Context) -> list:
    settings = context.section("logrotate")
    run_script = context.render("runit/logrotate.run.j2", logrotate=settings)
    definition = ServiceDefinition("logrotate", run_script, Path(settings["log_directory"]),
                                   log_group=settings["log_group"])
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("logrotate", "logrotate", "embedded/bin/gitlab-logrotate-wrapper", configure,
                  supervise)
