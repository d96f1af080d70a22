"""gitlab-backup-cli, GitLab's newer backup tool, as omnibus-gitlab's gitlab::gitlab-backup-cli
recipe prepares it (off unless gitlab_backup_cli['enable']): the context file telling it
where Rails' gitlab.yml and database.yml are. Its gitlab-backup account and group
memberships are accounts like the others (reconfigure_accounts.backup_account). A tool run
by hand, not a service: nothing to supervise."""

from __future__ import annotations

from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service


def configure(context: Context) -> list:
    path = context.layout.install_dir / "etc" / "gitlab-backup-context.yml"
    return [context.template(path, "gitlab-backup-cli/gitlab-backup-context.yml.j2",
                             sensitive=True, etc=common.rails_etc(context))]


SERVICE = Service("gitlab-backup-cli", "gitlab_backup_cli",
                  "embedded/service/gitlab-rails/bin/gitlab-backup-cli", configure)
