"""System accounts and groups, as omnibus-gitlab's `account` resource converges them (Chef's
user and group resources): create a missing one with the uid/gid asked for (or the system's
next free one), change an existing one whose id, home, shell or group differs (usermod -u,
groupmod -g), and add a group's extra members without removing any (append).

What to change and the argv that changes it are pure functions of the wanted and the current
entry, so they are tested without touching the host's accounts; `check` and `apply` look the
current entry up. resources.py re-exports User and Group with the other resources."""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass
from typing import NamedTuple

from gitlab_ctl.engine.commands import run_command

Notify = tuple[str, str]


class GroupEntry(NamedTuple):
    """A group as the host has it (grp.struct_group, reduced to what is compared)."""
    gid: int
    members: tuple[str, ...]


class UserEntry(NamedTuple):
    """An account as the host has it (pwd.struct_passwd, reduced to what is compared)."""
    uid: int
    gid: int
    home: str
    shell: str


def group_entry(name: str) -> GroupEntry | None:
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return None
    return GroupEntry(entry.gr_gid, tuple(entry.gr_mem))


def user_entry(name: str) -> UserEntry | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return UserEntry(entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell)


@dataclass(frozen=True)
class Group:
    """A system group; `gid` None leaves the id to groupadd (and an existing one's alone);
    `members` are added when missing (web_server['external_users']), never removed.
    `manage_only`: only an existing group gets the members, a missing one is left missing
    (Chef's group action :manage, as gitlab-backup-cli joins its additional_groups)."""

    name: str
    gid: int | None = None
    members: tuple[str, ...] = ()
    notifies: tuple[Notify, ...] = ()
    manage_only: bool = False

    @property
    def id(self) -> str:
        return f"group[{self.name}]"

    def changes(self, current: GroupEntry | None) -> list[str]:
        if current is None and self.manage_only:
            return []
        if current is None:
            with_id = f" with gid {self.gid}" if self.gid is not None else ""
            added = f", members {', '.join(self.members)}" if self.members else ""
            return [f"create system group {self.name}{with_id}{added}"]
        changes = []
        if self.gid is not None and current.gid != self.gid:
            changes.append(f"change gid from {current.gid} to {self.gid}")
        missing = self._missing_members(current)
        if missing:
            changes.append(f"add members {', '.join(missing)}")
        return changes

    def commands(self, current: GroupEntry | None) -> list[list[str]]:
        """The argv that bring the group from `current` to what is wanted, in order."""
        id_option = ["--gid", str(self.gid)] if self.gid is not None else []
        if current is None and self.manage_only:
            return []
        if current is None:
            commands = [["groupadd", "--system", *id_option, self.name]]
        elif self.gid is not None and current.gid != self.gid:
            commands = [["groupmod", *id_option, self.name]]
        else:
            commands = []
        return commands + [["gpasswd", "--add", member, self.name]
                           for member in self._missing_members(current)]

    def _missing_members(self, current: GroupEntry | None) -> list[str]:
        present = current.members if current else ()
        return [member for member in self.members if member not in present]

    def check(self) -> list[str] | None:
        return self.changes(group_entry(self.name)) or None

    def apply(self) -> None:
        for argv in self.commands(group_entry(self.name)):
            run_command(self.id, argv)


@dataclass(frozen=True)
class User:
    """A system account without a created home; `uid` None leaves the id to useradd (and an
    existing account's alone), `shell` None the shell to useradd's default (and an existing
    account's alone)."""

    name: str
    group: str
    home: str
    shell: str | None
    uid: int | None = None
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"account[{self.name}]"

    def changes(self, current: UserEntry | None, group_gid: int | None) -> list[str]:
        """What differs; `group_gid` is the wanted group's id (None: it does not exist yet)."""
        if current is None:
            with_id = f", uid {self.uid}" if self.uid is not None else ""
            shell = f", shell {self.shell}" if self.shell is not None else ""
            return [f"create system user {self.name} (group {self.group}, home {self.home}"
                    f"{shell}{with_id})"]
        changes = [f"change {what} to {wanted}" for what, wanted, actual in (
            ("home", self.home, current.home), ("shell", self.shell, current.shell))
            if wanted is not None and wanted != actual]
        if group_gid != current.gid:
            changes.append(f"change group to {self.group}")
        if self.uid is not None and current.uid != self.uid:
            changes.append(f"change uid from {current.uid} to {self.uid}")
        return changes

    def command(self, current: UserEntry | None) -> list[str]:
        """useradd for a missing account, usermod for an existing one."""
        options = ["--gid", self.group]
        if self.shell is not None:
            options += ["--shell", self.shell]
        if self.uid is not None:
            options += ["--uid", str(self.uid)]
        if current is None:
            return ["useradd", "--system", "--no-create-home", "--home-dir", self.home,
                    *options, self.name]
        # usermod's long option is --home (useradd's is --home-dir)
        return ["usermod", "--home", self.home, *options, self.name]

    def check(self) -> list[str] | None:
        group = group_entry(self.group)
        return self.changes(user_entry(self.name), group.gid if group else None) or None

    def apply(self) -> None:
        run_command(self.id, self.command(user_entry(self.name)))
