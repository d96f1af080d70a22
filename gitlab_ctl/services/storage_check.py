"""storage-check: GitLab's bin/storage_check probing Puma's storage check endpoint, as
omnibus-gitlab's gitlab::storage-check recipe runs it (off unless storage_check['enable']).
It is Ruby from GitLab's Rails, so its runit service is made only where the package has
that program."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service


def target(context: Context) -> str:
    """storage_check['target'], else Puma's socket (omnibus-gitlab's StorageCheck library)."""
    return (context.section("storage_check").get("target")
            or f"unix://{common.puma_socket(context)}")


def supervise(context: Context) -> list:
    storage_check = context.section("storage_check")
    user, group = common.git_user(context)
    run_script = context.render("runit/storage-check.run.j2", user=user, group=group,
                                rails_home=common.rails_home(context), target=target(context))
    # its log directory belongs to git (LogfilesHelper), svlogd runs as root:log_group
    definition = ServiceDefinition("storage-check", run_script,
                                   Path(storage_check["log_directory"]), log_owner=user,
                                   log_group=storage_check.get("log_group"))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("storage-check", "storage_check",
                  "embedded/service/gitlab-rails/bin/storage_check", lambda context: [],
                  supervise)
