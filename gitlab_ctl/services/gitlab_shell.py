"""GitLab Shell: its config.yml, its log directory, and the git user's ~/.ssh with the
authorized_keys file GitLab keeps (created empty once, never rewritten). No runit service:
sshd runs gitlab-shell for each connection."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory, KeptFile, Link
from gitlab_ctl.services import common, gitlab_sshd
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.gitlab_rails import shell_values


def configure(context: Context) -> list:
    shell = context.section("gitlab_shell")
    user, group = common.git_user(context)
    directory = Path(shell["dir"])
    values = shell_values(context)
    auth_file = Path(values["auth_file"])
    config = directory / "config.yml"
    resources: list = [
        Directory(directory, owner=user, mode=0o700),
        Directory(Path(shell["log_directory"]), owner=user, mode=0o700),
        Directory(auth_file.parent, owner=user, group=group, mode=0o700),
        KeptFile(auth_file, owner=user, group=group, mode=0o600),
        context.template(config, "gitlab-shell/config.yml.j2", group=group, mode=0o640,
                         shell=shell, shell_values=values, q=common.quote,
                         gitlab_url=common.internal_api_url(context),
                         ssl_cert_dir=shell.get("ssl_cert_dir")
                         or f"{context.layout.embedded}/ssl/certs/",
                         relative_url=common.relative_url(context),
                         sshd=gitlab_sshd.shell_config(context),
                         notifies=gitlab_sshd.NOTIFY if gitlab_sshd.enabled(context) else ()),
    ]
    # gitlab-shell looks for config.yml in its own directory
    if common.shell_home(context).is_dir():
        resources.append(Link(common.shell_home(context) / "config.yml", config))
    return resources


SERVICE = Service("gitlab-shell", "gitlab_shell", "embedded/service/gitlab-shell/bin/gitlab-shell",
                  configure)
