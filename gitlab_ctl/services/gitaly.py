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
CGROUPS_MOUNTPOINT = "/sys/fs/cgroup"
CGROUPS_HIERARCHY_ROOT = "gitlab.slice/gitaly"


def cgroups(config: dict) -> dict | None:
    """gitaly['configuration']['cgroups'] with omnibus-gitlab's mountpoint and hierarchy root
    filled in, or None (left out) unless repositories.count is positive."""
    configured = dict(config.get("cgroups") or {})
    if not (configured.get("repositories") or {}).get("count", 0) > 0:
        return None
    return {**configured, "mountpoint": configured.get("mountpoint") or CGROUPS_MOUNTPOINT,
            "hierarchy_root": configured.get("hierarchy_root") or CGROUPS_HIERARCHY_ROOT}


def internal_api(context: Context) -> dict:
    """[gitlab] url and relative_url_root as omnibus-gitlab derives them: over Workhorse's
    socket the relative URL is its own key; over TCP it ends the URL instead."""
    url, relative = common.internal_api_url(context), common.relative_url(context)
    if url.startswith("http+unix://"):
        return {"url": url, "relative_url_root": relative}
    return {"url": url + relative, "relative_url_root": None}


def configuration(context: Context) -> dict:
    """gitaly['configuration'] with the values omnibus-gitlab derives or pins (bin_dir,
    git.ignore_gitconfig, gitlab-shell.dir win over gitlab.rb, as there)."""
    gitaly = context.section("gitaly")
    config = copy.deepcopy(dict(gitaly.get("configuration") or {}))
    config["bin_dir"] = str(context.layout.embedded / "bin")
    config["storage"] = common.gitaly_storages(context)
    config["gitlab"] = {**internal_api(context),
                        "secret_file": str(Path(gitaly["dir"]) / ".gitlab_secret"),
                        **(config.get("gitlab") or {})}
    config["gitlab-shell"] = {**(config.get("gitlab-shell") or {}),
                              "dir": str(common.shell_home(context))}
    config["git"] = {**(config.get("git") or {}), "ignore_gitconfig": True}
    config["cgroups"] = cgroups(config)
    return config


def cgroups_v2(mountpoint: Path) -> bool:
    """Whether the host mounts the unified (v2) hierarchy there, as omnibus-gitlab checks."""
    return (mountpoint / "cgroup.controllers").exists()


def cgroup_directories(config: dict) -> list[str]:
    """The cgroup directories the run script makes for Gitaly (v2: one, v1: cpu and memory),
    as omnibus-gitlab's run script does; none without cgroups."""
    settings = config.get("cgroups")
    if not settings:
        return []
    mountpoint, root = Path(settings["mountpoint"]), settings["hierarchy_root"]
    if cgroups_v2(mountpoint):
        return [str(mountpoint / root)]
    return [str(mountpoint / resource / root) for resource in ("cpu", "memory")]


def cgroup_procs_file(config: dict) -> str | None:
    """cgroups v2: the parent cgroup's cgroup.procs, which Gitaly's user must own."""
    settings = config.get("cgroups")
    if not settings:
        return None
    mountpoint = Path(settings["mountpoint"])
    return str(mountpoint / Path(settings["hierarchy_root"]).parent / "cgroup.procs")


def bin_path(context: Context) -> str:
    return context.section("gitaly").get("bin_path") or str(context.layout.embedded / "bin"
                                                               / "gitaly")


def env_dir(context: Context) -> Path:
    configured = context.section("gitaly").get("env_directory")
    return Path(configured or context.layout.install_dir / "etc" / "gitaly" / "env")


def env(context: Context) -> dict:
    gitaly = context.section("gitaly")
    values = {"HOME": context.section("user")["home"], **common.default_env(context),
              "WRAPPER_JSON_LOGGING": "true",
              "GITALY_PID_FILE": str(Path(gitaly["dir"]) / "gitaly.pid")}
    return {**values, **(gitaly.get("env") or {})}


def log_dir(context: Context) -> Path:
    logging = configuration(context).get("logging") or {}
    return Path(logging.get("dir") or context.layout.log_dir / "gitaly")


def gitlab_secret(context: Context) -> str:
    """gitaly['gitlab_secret'], else GitLab Shell's secret token (as omnibus-gitlab)."""
    secret = context.section("gitaly").get("gitlab_secret")
    return str(secret or context.secrets["gitlab_shell"]["secret_token"])


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
        File(directory / ".gitlab_secret", gitlab_secret(context), group=group, mode=0o640,
             sensitive=True, notifies=NOTIFY),
        *common.env_dir_resources(env_dir(context), env(context), (("restart", "gitaly"),)),
    ]


def supervise(context: Context) -> list:
    gitaly = context.section("gitaly")
    user, group = common.git_user(context)
    config = configuration(context)
    run_script = context.render(
        "runit/gitaly.run.j2", gitaly=gitaly, user=user, group=group, env_dir=env_dir(context),
        config=Path(gitaly["dir"]) / "config.toml", bin_path=bin_path(context),
        cgroup_dirs=cgroup_directories(config),
        cgroup_procs=cgroup_procs_file(config))
    definition = ServiceDefinition("gitaly", run_script, log_dir(context), log_owner=user,
                                   log_group=gitaly.get("log_group"), reload_action="hup")
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitaly", "gitaly", "embedded/bin/gitaly", configure, supervise)
