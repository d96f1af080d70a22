"""What the GitLab application's services share: the paths Rails, Shell, Gitaly and
Workhorse agree on, value quoting for YAML and TOML templates, runit env directories, and a
file that is created once and then left to its users (authorized_keys)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

from gitlab_ctl.engine.resources import Directory, File, Notify, Run, Step
from gitlab_ctl.services.base import Context

#: Rails' configuration changed: the processes that load it start again (mail_room reads
#: gitlab.yml's mailboxes and the webhook secrets).
RAILS_NOTIFY: tuple[Notify, ...] = (("restart", "puma"), ("restart", "sidekiq"),
                                    ("restart", "mailroom"))


def quote(value: Any) -> str:
    """A value as a YAML (and, for strings, TOML) literal: JSON is valid in both, and it is
    what omnibus-gitlab's own `quote` helper writes (null, true, 8080, "text")."""
    return json.dumps(value)


def rails_dir(context: Context) -> Path:
    """/var/opt/gitlab/gitlab-rails: Rails' state (etc, working, tmp, shared, sockets)."""
    return Path(context.section("gitlab_rails")["dir"])


def rails_etc(context: Context) -> Path:
    return rails_dir(context) / "etc"


def rails_home(context: Context) -> Path:
    """Where the package installs Rails (embedded/service/gitlab-rails)."""
    return context.layout.embedded / "service" / "gitlab-rails"


def shell_home(context: Context) -> Path:
    return context.layout.embedded / "service" / "gitlab-shell"


def git_user(context: Context) -> tuple[str, str]:
    user = context.section("user")
    return user["username"], user["group"]


def puma_socket(context: Context) -> str:
    return context.section("puma")["socket"]


def relative_url(context: Context) -> str:
    return context.section("gitlab_rails").get("gitlab_relative_url") or ""


def internal_api_url(context: Context) -> str:
    """How Gitaly and GitLab Shell reach Rails' internal API: through Workhorse's socket,
    URL-encoded into an http+unix URL, or its TCP address."""
    workhorse = context.section("gitlab_workhorse")
    if workhorse["listen_network"] == "unix":
        return "http+unix://" + url_quote(workhorse["listen_addr"], safe="")
    return f"http://{workhorse['listen_addr']}"


def git_data_dir(context: Context) -> Path:
    return Path(context.attributes.get("git_data_dir") or "/var/opt/gitlab/git-data")


def gitaly_storages(context: Context) -> list[dict[str, str]]:
    """gitaly['configuration']['storage'], or the one default storage omnibus-gitlab
    configures: 'default' at <git_data_dir>/repositories."""
    configured = (context.section("gitaly").get("configuration") or {}).get("storage")
    if configured:
        return [dict(storage) for storage in configured]
    return [{"name": "default", "path": str(git_data_dir(context) / "repositories")}]


def repository_directories(context: Context) -> list:
    """git-data (git 0700) and each storage's repositories (git:git 2770)."""
    user, group = git_user(context)
    resources: list = [Directory(git_data_dir(context), owner=user, mode=0o700)]
    for storage in gitaly_storages(context):
        resources.append(Directory(Path(storage["path"]), owner=user, group=group,
                                   mode=0o2770))
    return resources


def default_env(context: Context) -> dict[str, str]:
    """The environment every Ruby and Go process of the package starts with (omnibus-gitlab's
    gitlab_rails['env'] defaults, with this installation's prefix)."""
    install, embedded = context.layout.install_dir, context.layout.embedded
    return {
        "PATH": f"{install}/bin:{embedded}/bin:/bin:/usr/bin",
        "ICU_DATA": f"{embedded}/share/icu/current",
        "SSL_CERT_DIR": f"{embedded}/ssl/certs/",
        "SSL_CERT_FILE": f"{embedded}/ssl/cert.pem",
        "TZ": ":/etc/localtime",
        "EXECJS_RUNTIME": "Disabled",
    }


def env_dir_resources(path: Path, values: Mapping[str, Any], notifies: tuple[Notify, ...]
                      ) -> list:
    """A runit env dir (chpst -e): one root 0644 file per variable, holding its value, and
    no file for a variable that is no longer set."""
    wanted = {name: str(value) for name, value in values.items() if value is not None}
    resources: list = [Directory(path.parent), Directory(path)]
    resources += [File(path / name, wanted[name], notifies=notifies) for name in sorted(wanted)]

    def stale() -> list[Path]:
        try:
            return sorted(entry for entry in path.iterdir() if entry.name not in wanted)
        except FileNotFoundError:
            return []

    def check(run: Run) -> list[str] | None:
        return [f"delete {entry}" for entry in stale()] or None

    def apply(run: Run) -> None:
        for entry in stale():
            entry.unlink()

    resources.append(Step(f"env_dir[{path}] prune", check, apply, notifies=notifies))
    return resources


def metrics_dir(context: Context, name: str) -> Path:
    """Prometheus' multi-process metrics of a Ruby service, in memory (runtime_dir, else
    /dev/shm): <dir>/gitlab/<name>."""
    return Path(context.attributes.get("runtime_dir") or "/dev/shm") / "gitlab" / name


def rails_run_values(context: Context, name: str) -> dict[str, Any]:
    """What the Puma and Sidekiq run scripts share."""
    user, group = git_user(context)
    return {"user": user, "group": group, "metrics_dir": metrics_dir(context, name),
            "rails_dir": rails_dir(context), "rails_home": rails_home(context),
            "env_dir": context.layout.install_dir / "etc" / "gitlab-rails" / "env",
            "shell_quote": shlex.quote}
