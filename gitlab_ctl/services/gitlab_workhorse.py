"""GitLab Workhorse, the reverse proxy between nginx and Puma: its directory and socket
directory (readable by nginx's group), config.toml, env dir and runit service."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory, Group
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-workhorse"),)


def settings(context: Context) -> dict:
    values = dict(context.section("gitlab_workhorse"))
    puma = context.section("puma")
    if values.get("auth_backend") is None:
        values["auth_backend"] = f"http://localhost:{puma['port']}"
    values["auth_backend"] += common.relative_url(context)
    if values.get("auth_socket") is None:
        values["auth_socket"] = puma["socket"]
    if values.get("image_scaler_max_procs") is None:
        values["image_scaler_max_procs"] = max(2, context.facts.cpus // 2)
    return values


def env_dir(context: Context) -> Path:
    return context.layout.install_dir / "etc" / "gitlab-workhorse" / "env"


def configure(context: Context) -> list:
    workhorse = settings(context)
    user, group = common.git_user(context)
    www = context.section("web_server")["group"]
    directory = Path(workhorse["dir"])
    redis = common.redis_settings(context)
    env = {"HOME": context.section("user")["home"], "PATH": common.default_env(context)["PATH"],
           "SSL_CERT_DIR": common.default_env(context)["SSL_CERT_DIR"],
           **(workhorse.get("env") or {})}
    resources: list = [Group(www), Directory(directory, owner=user, group=www, mode=0o750)]
    if workhorse["listen_network"] == "unix":
        resources.append(Directory(Path(workhorse["listen_addr"]).parent, owner=user,
                                   group=www, mode=0o750))
    return [
        *resources,
        context.template(directory / "config.toml", "gitlab-workhorse/config.toml.j2",
                         group=group, mode=0o640, sensitive=bool(redis["password"]),
                         notifies=NOTIFY, workhorse=workhorse, redis=redis, q=common.quote),
        *common.env_dir_resources(env_dir(context), env, NOTIFY),
    ]


def supervise(context: Context) -> list:
    workhorse = settings(context)
    user, group = common.git_user(context)
    run_script = context.render("runit/gitlab-workhorse.run.j2", workhorse=workhorse, user=user,
                                group=group, env_dir=env_dir(context),
                                rails_home=common.rails_home(context))
    definition = ServiceDefinition("gitlab-workhorse", run_script,
                                   Path(workhorse["log_directory"]), log_owner=user)
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitlab-workhorse", "gitlab_workhorse", "embedded/bin/gitlab-workhorse",
                  configure, supervise)
