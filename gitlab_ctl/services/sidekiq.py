"""Sidekiq, Rails' background jobs: a runit service running sidekiq-cluster with Rails'
configuration and env dir (written by gitlab_rails); nothing of its own to configure."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service


def supervise(context: Context) -> list:
    sidekiq = context.section("sidekiq")
    run_script = context.render("runit/sidekiq.run.j2", sidekiq=sidekiq,
                                **common.rails_run_values(context, "sidekiq"))
    definition = ServiceDefinition("sidekiq", run_script, Path(sidekiq["log_directory"]),
                                   log_owner=common.git_user(context)[0],
                                   timestamps=sidekiq["log_format"] != "json",
                                   start_down=sidekiq["ha"])
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("sidekiq", "sidekiq", "embedded/service/gitlab-rails/bin/sidekiq-cluster",
                  lambda context: [], supervise)
