"""Gitaly, the git RPC service Rails, Workhorse and Shell reach repositories through: its
config.toml, the secret it checks Rails' internal API with, its env dir and runit service.
A changed configuration is reloaded with HUP (Gitaly hands its sockets to a new process)."""

from __future__ import annotations

import copy
from pathlib import Path

from gitlab_ctl.engine.resources import Directory, File
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common, tomlwriter
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("hup", "gitaly"),)


def configuration(context: Context) -> dict:
    """gitaly['configuration'] with the values omnibus-gitlab adds where it has none."""
    gitaly = context.section("gitaly")
    config = copy.deepcopy(dict(gitaly.get("configuration") or {}))
    config.setdefault("bin_dir", str(context.layout.embedded / "bin"))
    config["storage"] = common.gitaly_storages(context)
    config["gitlab"] = {"url": common.internal_api_url(context),
                        "relative_url_root": common.relative_url(context) or None,
                        "secret_file": str(Path(gitaly["dir"]) / ".gitlab_secret"),
                        **(config.get("gitlab") or {})}
    config["gitlab-shell"] = {"dir": str(common.shell_home(context)),
                              **(config.get("gitlab-shell") or {})}
    config["git"] = {"ignore_gitconfig": True, **(config.get("git") or {})}
    return config


def env(context: Context) -> dict:
    gitaly = context.section("gitaly")
    values = {"HOME": context.section("user")["home"], **common.default_env(context),
              "WRAPPER_JSON_LOGGING": "true",
              "GITALY_PID_FILE": str(Path(gitaly["dir"]) / "gitaly.pid")}
    return {**values, **(gitaly.get("env") or {})}


def log_dir(context: Context) -> Path:
    logging = configuration(context).get("logging") or {}
    return Path(logging.get("dir") or context.layout.log_dir / "gitaly")


def configure(context: Context) -> list:
    gitaly = context.section("gitaly")
    user, group = common.git_user(context)
    directory = Path(gitaly["dir"])
    config = configuration(context)
    token = (config.get("auth") or {}).get("token")
    return [
        Directory(directory, owner=user, mode=0o700),
        Directory(Path(config["runtime_dir"]), owner=user, mode=0o700),
        *common.repository_directories(context),
        context.template(directory / "config.toml", "gitaly/config.toml.j2", group=group,
                         mode=0o640, sensitive=bool(token), notifies=NOTIFY,
                         body=tomlwriter.dumps(config).rstrip("\n")),
        File(directory / ".gitlab_secret", str(context.secrets["gitlab_shell"]["secret_token"]),
             group=group, mode=0o640, sensitive=True, notifies=NOTIFY),
        *common.env_dir_resources(context.layout.install_dir / "etc" / "gitaly" / "env",
                                  env(context), (("restart", "gitaly"),)),
    ]


def supervise(context: Context) -> list:
    gitaly = context.section("gitaly")
    user, group = common.git_user(context)
    run_script = context.render(
        "runit/gitaly.run.j2", gitaly=gitaly, user=user, group=group,
        env_dir=context.layout.install_dir / "etc" / "gitaly" / "env",
        config=Path(gitaly["dir"]) / "config.toml")
    definition = ServiceDefinition("gitaly", run_script, log_dir(context), log_owner=user,
                                   reload_action="hup")
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitaly", "gitaly", "embedded/bin/gitaly", configure, supervise)
