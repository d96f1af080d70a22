"""System accounts and groups (gitlab_ctl/engine/accounts.py) and what manage_accounts and
manage_storage_directories leave alone (gitlab_ctl/commands/reconfigure_accounts.py). The
decisions are pure functions of the wanted and current entries: no account is created on
the machine running the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.commands import reconfigure_accounts
from gitlab_ctl.commands.reconfigure import base_resources, plan
from gitlab_ctl.commands.reconfigure_accounts import AccountsPresent, leave_unmanaged
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.accounts import Group, GroupEntry, User, UserEntry
from gitlab_ctl.engine.resources import Directory, File, ResourceError, Run
from tests.unit.gitlab_ctl.test_config_templates import make_context

GIT = User("git", "git", "/var/opt/gitlab", "/bin/sh", uid=1100)
GIT_NOW = UserEntry(uid=998, gid=997, home="/var/opt/gitlab", shell="/bin/sh")


def test_a_missing_group_is_created_with_its_gid_and_members():
    group = Group("gitlab-www", gid=1200, members=("www-data",))
    assert group.commands(None) == [["groupadd", "--system", "--gid", "1200", "gitlab-www"],
                                    ["gpasswd", "--add", "www-data", "gitlab-www"]]
    assert group.changes(None) == ["create system group gitlab-www with gid 1200, "
                                   "members www-data"]


def test_a_missing_group_without_gid_takes_the_next_free_one():
    assert Group("git").commands(None) == [["groupadd", "--system", "git"]]


def test_an_existing_group_with_another_gid_is_changed_with_groupmod():
    group = Group("git", gid=1100)
    assert group.changes(GroupEntry(997, ())) == ["change gid from 997 to 1100"]
    assert group.commands(GroupEntry(997, ())) == [["groupmod", "--gid", "1100", "git"]]


def test_an_existing_group_as_wanted_needs_nothing():
    group = Group("gitlab-www", gid=1200, members=("www-data",))
    assert group.changes(GroupEntry(1200, ("www-data", "other"))) == []
    assert group.commands(GroupEntry(1200, ("www-data", "other"))) == []


def test_only_missing_members_are_added_and_none_removed():
    group = Group("gitlab-www", members=("www-data", "nginx"))
    current = GroupEntry(1200, ("nginx", "someone"))
    assert group.changes(current) == ["add members www-data"]
    assert group.commands(current) == [["gpasswd", "--add", "www-data", "gitlab-www"]]


def test_a_group_without_gid_keeps_the_existing_one():
    assert Group("git").changes(GroupEntry(4242, ())) == []


def test_a_missing_user_is_created_with_its_uid():
    assert GIT.command(None) == [
        "useradd", "--system", "--no-create-home", "--home-dir", "/var/opt/gitlab", "--gid",
        "git", "--shell", "/bin/sh", "--uid", "1100", "git"]
    assert GIT.changes(None, None) == [
        "create system user git (group git, home /var/opt/gitlab, shell /bin/sh, uid 1100)"]


def test_an_existing_user_with_another_uid_is_changed_with_usermod():
    assert GIT.changes(GIT_NOW, 997) == ["change uid from 998 to 1100"]
    # usermod spells the home option --home (a real usermod refuses useradd's --home-dir)
    assert GIT.command(GIT_NOW)[:3] == ["usermod", "--home", "/var/opt/gitlab"]
    assert GIT.command(GIT_NOW)[-3:] == ["--uid", "1100", "git"]


def test_a_user_without_uid_keeps_the_existing_one():
    user = User("git", "git", "/var/opt/gitlab", "/bin/sh")
    assert user.changes(GIT_NOW, 997) == []
    assert "--uid" not in user.command(None)


def test_every_difference_of_an_existing_user_is_said():
    current = UserEntry(uid=1100, gid=5, home="/home/git", shell="/bin/bash")
    assert GIT.changes(current, 997) == ["change home to /var/opt/gitlab",
                                         "change shell to /bin/sh", "change group to git"]


def test_a_user_whose_group_is_not_created_yet_will_change_group():
    user = User("git", "git", "/var/opt/gitlab", "/bin/sh")
    assert user.changes(GIT_NOW, None) == ["change group to git"]


def accounts_of(settings: dict) -> dict[str, Any]:
    context = make_context(settings)
    accounts: dict[str, Any] = {}
    for resource in plan(context, Run()):  # the first of each: Rails' gitlab-www adds nothing
        if isinstance(resource, (Group, User)):
            accounts.setdefault(resource.id, resource)
    return accounts


@pytest.mark.parametrize("section, account, group", [
    ("user", "git", "git"), ("web_server", "gitlab-www", "gitlab-www"),
    ("postgresql", "gitlab-psql", "gitlab-psql"), ("redis", "gitlab-redis", "gitlab-redis"),
    ("registry", "registry", "registry")])
def test_each_account_gets_the_uid_and_gid_of_its_section(section, account, group):
    settings: dict[str, Any] = {section: {"uid": 3001, "gid": 3002},
                                "registry_external_url": "https://registry.example.test"}
    for service in ("postgresql", "redis"):
        settings.setdefault(service, {})["enable"] = True
    accounts = accounts_of(settings)
    assert accounts[f"account[{account}]"].uid == 3001
    assert accounts[f"group[{group}]"].gid == 3002


def test_the_web_server_account_exists_without_the_bundled_nginx():
    accounts = accounts_of({"nginx": {"enable": False},
                            "web_server": {"external_users": ["www-data"]}})
    assert accounts["group[gitlab-www]"].members == ("www-data",)
    assert "account[gitlab-www]" in accounts


def fake_host(monkeypatch, groups: set[str], users: set[str]) -> None:
    monkeypatch.setattr(reconfigure_accounts, "group_entry",
                        lambda name: GroupEntry(1, ()) if name in groups else None)
    monkeypatch.setattr(reconfigure_accounts, "user_entry",
                        lambda name: GIT_NOW if name in users else None)


def unmanaged_plan() -> list:
    return plan(make_context({"manage_accounts": {"enable": False}}), Run())


def test_unmanaged_accounts_are_checked_first_and_never_changed(monkeypatch):
    resources = unmanaged_plan()
    assert isinstance(resources[0], AccountsPresent)
    assert not any(isinstance(r, (Group, User)) for r in resources)
    # gitlab-prometheus: Prometheus, Alertmanager and node_exporter run by default
    every = {"git", "gitlab-www", "gitlab-psql", "gitlab-redis", "gitlab-prometheus"}
    fake_host(monkeypatch, every, every)
    assert resources[0].check() is None


def test_missing_unmanaged_accounts_fail_the_run_naming_them_and_how_to_create(monkeypatch):
    present = {"gitlab-www", "gitlab-psql", "gitlab-redis"}
    fake_host(monkeypatch, present, present)
    with pytest.raises(ResourceError) as error:
        unmanaged_plan()[0].check()
    assert "group[git], account[git]" in error.value.message
    assert "groupadd --system git; useradd --system" in error.value.hint


def test_managed_accounts_are_converged_as_before():
    assert not any(isinstance(r, AccountsPresent) for r in plan(make_context(), Run()))


STORAGE_SETTINGS = {"gitlab_rails": {"shared_path": "/tmp/shared",
                                     "uploads_directory": "/tmp/uploads"},
                    "gitlab_ci": {"builds_directory": "/tmp/builds"}}


def directories(settings: dict) -> set[Path]:
    return {r.path for r in plan(make_context(settings), Run()) if isinstance(r, Directory)}


def test_unmanaged_storage_directories_are_left_alone():
    managed = directories(STORAGE_SETTINGS)
    unmanaged = directories({**STORAGE_SETTINGS,
                             "manage_storage_directories": {"enable": False}})
    left = {"/tmp/shared", "/tmp/shared/artifacts", "/tmp/uploads", "/tmp/builds",
            "/var/opt/gitlab/git-data/repositories", "/var/opt/gitlab/.ssh",
            "/var/opt/gitlab/backups"}
    assert {Path(p) for p in left} <= managed
    assert {Path(p) for p in left} <= managed - unmanaged
    assert all(str(p).startswith(("/tmp/", "/var/opt/gitlab/git-data")) or p in {
        Path("/var/opt/gitlab/.ssh"), Path("/var/opt/gitlab/backups"),
        Path("/var/opt/gitlab/gitlab-rails/shared/registry")} for p in managed - unmanaged)
    assert Path("/var/opt/gitlab/gitlab-rails/etc") in unmanaged


def test_unmanaged_etc_is_left_alone():
    def etc(settings: dict) -> bool:
        return any(isinstance(r, Directory) and r.path == Path("/etc/gitlab")
                   for r in base_resources(make_context(settings)))
    assert etc({}) and not etc({"manage_storage_directories": {"manage_etc": False}})


def test_leave_unmanaged_keeps_everything_by_default():
    context = make_context()
    resources = base_resources(context)
    assert leave_unmanaged(context, resources) == resources


#: each applied key of these sections, a distinctive value, and what it needs beside it
MINE = {"user": ("uid", "gid", "git_user_name", "git_user_email"),
        "web_server": ("uid", "gid", "external_users"),
        "postgresql": ("uid", "gid"), "redis": ("uid", "gid"), "registry": ("uid", "gid"),
        "manage_accounts": ("enable",),
        "manage_storage_directories": ("enable", "manage_etc")}
DISTINCT = {"integer": 4321, "string": "probe-value", "list": ["probe-user"], "boolean": False}
NEEDS: dict[str, dict] = {"postgresql": {"postgresql": {"enable": True}},
                          "redis": {"redis": {"enable": True}},
                          "registry": {"registry_external_url": "https://r.example.test"}}


def output(settings: dict) -> list[str]:
    return [repr(r) for r in plan(make_context(settings), Run())]


@pytest.mark.parametrize("section, key", [(s, k) for s, keys in MINE.items() for k in keys])
def test_every_applied_key_reaches_what_reconfigure_converges(section, key):
    setting = load_schema().settings[(section, key)]
    assert setting.used, f"{section}['{key}'] is declared not applied"
    base = NEEDS.get(section, {})
    changed = {**base, section: {**base.get(section, {}), key: DISTINCT[setting.type]}}
    assert output(changed) != output(base)


def test_the_gitconfig_is_the_git_account_s():
    files = {r.path: r for r in base_resources(make_context()) if isinstance(r, File)}
    gitconfig = files[Path("/var/opt/gitlab/.gitconfig")]
    assert (gitconfig.owner, gitconfig.group, gitconfig.mode) == ("git", "git", 0o644)


def test_a_group_declared_twice_is_one_resource_with_every_member():
    # gitlab-backup joins git, gitlab-psql and registry, which their accounts declare
    resources = [Group("git", 998), Directory(Path("/x")), Group("git", members=("b",),
                                                                  manage_only=True),
                 Group("extra", members=("b",), manage_only=True),
                 Group("git", members=("c",), notifies=(("restart", "puma"),))]
    merged = reconfigure_accounts.merge_groups(resources)
    assert merged == [Group("git", 998, ("b", "c"), (("restart", "puma"),)),
                      Directory(Path("/x")), Group("extra", members=("b",), manage_only=True)]


def test_a_group_only_joined_is_not_created_nor_required():
    joined = Group("registry", members=("gitlab-backup",), manage_only=True)
    assert joined.changes(None) == [] and joined.commands(None) == []
    assert joined.commands(GroupEntry(5, ())) == [["gpasswd", "--add", "gitlab-backup",
                                                   "registry"]]


def test_a_user_without_a_shell_gets_useradds_default_and_keeps_its_own():
    backup = User("gitlab-backup", "gitlab-backup", "/var/opt/gitlab/backups", None)
    assert "--shell" not in backup.command(None)
    assert backup.changes(UserEntry(990, 990, "/var/opt/gitlab/backups", "/bin/zsh"), 990) == []
