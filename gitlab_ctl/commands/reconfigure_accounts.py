"""The base of every run that omnibus-gitlab's package::default, package::users and
package::web-server recipes converge (/etc/gitlab, the git and web server accounts, the git
account's ~/.gitconfig), and what manage_accounts['enable'] and
manage_storage_directories['enable'] = false leave to the administrator."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.engine.accounts import group_entry, user_entry
from gitlab_ctl.engine.resources import Directory, File, Group, ResourceError, User
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context
from gitlab_ctl.services.gitlab_rails import SHARED_DIRS, shell_values

GITCONFIG = """\
# This file is managed by gitlab-ctl. Manual changes will be
# erased! To change the contents below, edit /etc/gitlab/gitlab.rb
# and run `sudo gitlab-ctl reconfigure`.

[user]
        name = {name}
        email = {email}
[core]
        autocrlf = input
[gc]
        auto = 0
"""


def account(settings: Mapping[str, Any], members: Sequence[str] = ()) -> list:
    """The group, then the account, of a section with username, group, shell, home, uid, gid
    (user, web_server, postgresql, redis, registry)."""
    return [Group(settings["group"], settings.get("gid"), tuple(members)),
            User(settings["username"], settings["group"], settings["home"], settings["shell"],
                 settings.get("uid"))]


def backup_account(context: Context) -> list:
    """gitlab_backup_cli['enable']: the gitlab-backup account (home: the backups directory,
    the system's default shell) and its memberships of additional_groups, each only where
    that group exists or another account declares it (merge_groups folds them in)."""
    backup = context.section("gitlab_backup_cli")
    if not backup.get("enable"):
        return []
    return [Group(backup["group"], backup.get("gid")),
            User(backup["user"], backup["group"], backup["dir"], None, backup.get("uid")),
            *(Group(name, members=(backup["user"],), manage_only=True)
              for name in backup.get("additional_groups") or ())]


def git_user_email(context: Context) -> str:
    """gitlab@<external_url's host>, else gitlab@<this host's FQDN>, as omnibus-gitlab's."""
    host = context.section("gitlab_rails").get("gitlab_host") or socket.getfqdn()
    return context.section("user").get("git_user_email") or f"gitlab@{host}"


def account_resources(context: Context) -> list:
    """The web server's account (every node has it: an external web server's users join its
    group), the git account, its ~/.gitconfig and ~/.bundle."""
    user, www = context.section("user"), context.section("web_server")
    home, owned = Path(user["home"]), {"owner": user["username"], "group": user["group"]}
    gitconfig = GITCONFIG.format(name=user.get("git_user_name") or "GitLab",
                                 email=git_user_email(context))
    # gitlab-backup first: it joins the git group, declared next
    return [*account(www, members=www.get("external_users") or ()), *backup_account(context),
            *account(user),
            File(home / ".gitconfig", gitconfig, **owned, mode=0o644),
            Directory(home / ".bundle", **owned)]


def storage_paths(context: Context) -> set[Path]:
    """The directories omnibus-gitlab converges as storage_directory resources (skipped
    whole when manage_storage_directories['enable'] is false: shared storage owns them)."""
    rails, home = context.section("gitlab_rails"), Path(context.section("user")["home"])
    shared = Path(rails["shared_path"])
    paths = {shared, *(shared / name for name in SHARED_DIRS),
             common.git_data_dir(context), home / ".ssh",
             Path(shell_values(context)["auth_file"]).parent,
             *(Path(storage["path"]) for storage in common.gitaly_storages(context))}
    for key in ("uploads_directory", "backup_path", "pages_path", "registry_path"):
        if rails.get(key):
            paths.add(Path(rails[key]))
    if context.section("gitlab_ci").get("builds_directory"):
        paths.add(Path(context.section("gitlab_ci")["builds_directory"]))
    return paths


@dataclass(frozen=True)
class AccountsPresent:
    """manage_accounts['enable'] = false: the groups and accounts the run needs must exist;
    checked first, so a missing one fails the run (a dry run too) before anything changes,
    naming every missing one and the command that creates it as reconfigure would."""

    accounts: tuple[Group | User, ...]
    notifies: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return "accounts[unmanaged]"

    def missing(self) -> list[Group | User]:
        return [account for account in self.accounts
                if (group_entry if isinstance(account, Group) else user_entry)(account.name)
                is None]

    def check(self) -> list[str] | None:
        missing = self.missing()
        if not missing:
            return None
        create = "; ".join(" ".join(command) for account in missing for command in (
            [account.command(None)] if isinstance(account, User) else account.commands(None)))
        raise ResourceError(self.id, "manage_accounts['enable'] is false and this host lacks "
                            + ", ".join(account.id for account in missing),
                            hint=f"create them first: {create}")

    def apply(self) -> None:
        """Nothing: `check` passes or stops the run."""


def merge_groups(resources: list) -> list:
    """One Group per name, where it is first declared: the gid of the first declaration
    that gives one, every declaration's members and notifications, and created unless all
    of them only manage an existing group (gitlab-backup joining git, gitlab-psql and
    registry, which their own accounts declare)."""
    declared: dict[str, list[Group]] = {}
    for resource in resources:
        if isinstance(resource, Group):
            declared.setdefault(resource.name, []).append(resource)
    merged: list = []
    for resource in resources:
        if not isinstance(resource, Group):
            merged.append(resource)
            continue
        groups = declared.pop(resource.name, None)
        if groups is None:
            continue  # folded into its first declaration
        gids = [group.gid for group in groups if group.gid is not None]
        merged.append(Group(
            resource.name, gids[0] if gids else None,
            tuple(dict.fromkeys(m for group in groups for m in group.members)),
            tuple(dict.fromkeys(n for group in groups for n in group.notifies)),
            manage_only=all(group.manage_only for group in groups)))
    return merged


def leave_unmanaged(context: Context, resources: list) -> list:
    """`resources` with one Group per name (merge_groups), without what gitlab.rb leaves to
    the administrator: the storage directories with manage_storage_directories['enable'] =
    false, every group and account change with manage_accounts['enable'] = false
    (AccountsPresent, first, instead: a group only joined if it exists is not required)."""
    resources = merge_groups(resources)
    if context.section("manage_storage_directories").get("enable") is False:
        storage = storage_paths(context)
        resources = [r for r in resources
                     if not (isinstance(r, Directory) and r.path in storage)]
    if context.section("manage_accounts").get("enable") is not False:
        return resources
    accounts = {r.id: r for r in resources if isinstance(r, (Group, User))
                and not (isinstance(r, Group) and r.manage_only)}
    return [AccountsPresent(tuple(accounts.values())),
            *(r for r in resources if not isinstance(r, (Group, User)))]
