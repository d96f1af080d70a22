"""Redis on a Unix socket in its own directory, which the git user's group may enter."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory, Group, User
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services.base import Context, Service


def configure(context: Context) -> list:
    redis = context.section("redis")
    git_group = context.section("user")["group"]
    directory = Path(redis["dir"])
    return [
        Group(redis["group"]),
        User(redis["username"], redis["group"], redis["home"] or redis["dir"], redis["shell"]),
        Directory(directory, owner=redis["username"], group=git_group, mode=0o750),
        context.template(directory / "redis.conf", "redis/redis.conf.j2",
                         owner=redis["username"], group=git_group, mode=0o640,
                         sensitive=bool(redis.get("password")),
                         notifies=(("restart", "redis"),), redis=redis),
        context.template(context.layout.install_dir / "etc" / "gitlab-redis-cli-rc",
                         "redis/gitlab-redis-cli-rc.j2", redis=redis),
    ]


def supervise(context: Context) -> list:
    redis = context.section("redis")
    run_script = context.render("runit/redis.run.j2", redis=redis)
    definition = ServiceDefinition("redis", run_script, Path(redis["log_directory"]),
                                   log_owner=redis["username"])
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("redis", "redis", "embedded/bin/redis-server", configure, supervise)
