"""GitLab Workhorse, the reverse proxy between nginx and Puma: its directory and socket
directory (readable by nginx's group), config.toml, env dir and runit service. Most of its
settings are command-line flags in the run script (as omnibus-gitlab writes them); the Redis
it watches, the image scaler and the correlation/forwarding CIDRs go to config.toml."""

from __future__ import annotations

import json
from pathlib import Path

from gitlab_ctl.engine.resources import Directory, Group
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common, workhorse_redis
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-workhorse"),)
#: Run-script flags written when their setting is set (0 included, as in Ruby), in
#: omnibus-gitlab's order.
OPTIONAL_FLAGS = (("proxyHeadersTimeout", "proxy_headers_timeout"), ("apiLimit", "api_limit"),
                  ("apiQueueDuration", "api_queue_duration"),
                  ("apiQueueLimit", "api_queue_limit"))


def settings(context: Context) -> dict:
    values = dict(context.section("gitlab_workhorse"))
    puma = context.section("puma")
    backend_set = values.get("auth_backend") is not None
    if not backend_set:
        values["auth_backend"] = f"http://localhost:{puma['port']}"
    values["auth_backend"] += common.relative_url(context)
    if values.get("auth_socket") in (None, "", "''"):
        # omnibus-gitlab: a backend set in gitlab.rb without a socket means TCP only
        values["auth_socket"] = None if backend_set else puma["socket"]
    if values.get("image_scaler_max_procs") is None:
        values["image_scaler_max_procs"] = max(2, context.facts.cpus // 2)
    return values


def env_dir(context: Context) -> Path:
    configured = context.section("gitlab_workhorse").get("env_directory")
    return Path(configured or context.layout.install_dir / "etc" / "gitlab-workhorse" / "env")


def toml_list(value: object) -> str:
    """A list as omnibus-gitlab writes it into config.toml (Ruby's to_json: no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def configure(context: Context) -> list:
    workhorse = settings(context)
    user, group = common.git_user(context)
    www = context.section("web_server")["group"]
    directory = Path(workhorse["dir"])
    redis = workhorse_redis.params(context)
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
                         notifies=NOTIFY, workhorse=workhorse, redis=redis, q=common.quote,
                         toml_list=toml_list),
        *common.env_dir_resources(env_dir(context), env, NOTIFY),
    ]


def supervise(context: Context) -> list:
    workhorse = settings(context)
    user, group = common.git_user(context)
    run_script = context.render("runit/gitlab-workhorse.run.j2", workhorse=workhorse, user=user,
                                group=group, env_dir=env_dir(context),
                                rails_home=common.rails_home(context), flags=OPTIONAL_FLAGS)
    definition = ServiceDefinition("gitlab-workhorse", run_script,
                                   Path(workhorse["log_directory"]), log_owner=user,
                                   start_down=bool(workhorse.get("ha")))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitlab-workhorse", "gitlab_workhorse", "embedded/bin/gitlab-workhorse",
                  configure, supervise)
