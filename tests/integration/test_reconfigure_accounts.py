"""System accounts on a real host (the container of test_reconfigure.py): reconfigure creates
them with the uid/gid gitlab.rb asks for, changes an existing one's id as omnibus-gitlab's
account resource does (usermod -u, groupmod -g; --dry-run says so first), adds
web_server['external_users'] to the web server group, and with manage_accounts['enable'] =
false fails on a missing account before changing anything. The services that would run as
these accounts are off, so the run stays short and no process holds the ids."""

from __future__ import annotations

import pytest

from tests.integration.runtime_host import (
    docker,
    gitlab_ctl,
    install_tree,
    runtime_image,  # noqa: F401 (a fixture)
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

QUIET = ("postgresql['enable'] = false\nredis['enable'] = false\nnginx['enable'] = false\n"
         "logrotate['enable'] = false\n")


def write_rb(host: str, text: str) -> None:
    sh(host, "printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
       env={"RB": "external_url 'http://gitlab.example.test'\n" + QUIET + text})


def ids(host: str, name: str) -> tuple[str, str]:
    """(uid, gid) of account `name`, and of the group of the same name."""
    uid = sh(host, f"id -u {name}").stdout.strip()
    gid = sh(host, f"getent group {name} | cut -d: -f3").stdout.strip()
    return uid, gid


@pytest.fixture(scope="module")
def host(runtime_image, tmp_path_factory):  # noqa: F811
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def created(host):
    write_rb(host, "user['uid'] = 1234\nuser['gid'] = 1235\n"
                   "web_server['uid'] = 1236\nweb_server['gid'] = 1237\n"
                   "web_server['external_users'] = ['www-data']\n")
    return gitlab_ctl(host, "reconfigure")


def test_new_accounts_get_the_ids_asked_for(host, created):
    assert "gitlab Reconfigured!" in created.stdout
    assert ids(host, "git") == ("1234", "1235")
    assert ids(host, "gitlab-www") == ("1236", "1237")


def test_external_users_join_the_web_server_group(host, created):
    assert "gitlab-www" in sh(host, "id -nG www-data").stdout.split()


def test_the_git_account_gets_its_gitconfig(host, created):
    gitconfig = sh(host, "cat /var/opt/gitlab/.gitconfig").stdout
    assert "name = GitLab" in gitconfig and "email = gitlab@gitlab.example.test" in gitconfig
    assert sh(host, "stat -c '%U:%G %a' /var/opt/gitlab/.gitconfig").stdout.strip() == \
        "git:git 644"


def test_an_existing_account_is_changed_to_the_new_id(host, created):
    write_rb(host, "user['uid'] = 1334\nuser['gid'] = 1335\n")
    dry = gitlab_ctl(host, "reconfigure", "--dry-run")
    assert "change uid from 1234 to 1334" in dry.stdout
    assert "change gid from 1235 to 1335" in dry.stdout
    assert ids(host, "git") == ("1234", "1235")  # a dry run changes nothing
    gitlab_ctl(host, "reconfigure")
    assert ids(host, "git") == ("1334", "1335")
    second = gitlab_ctl(host, "reconfigure")
    assert "account[git]" not in second.stdout and "group[git]" not in second.stdout


def test_unmanaged_accounts_must_exist_and_nothing_changes(host, created):
    write_rb(host, "manage_accounts['enable'] = false\nuser['username'] = 'ghost'\n"
                   "user['group'] = 'ghost'\n")
    before = sh(host, "cat /var/opt/gitlab/.gitconfig").stdout
    run = gitlab_ctl(host, "reconfigure", check=False)
    assert run.returncode == 1
    assert "group[ghost], account[ghost]" in run.stderr
    assert "groupadd --system ghost" in run.stderr
    assert sh(host, "getent passwd ghost", check=False).returncode != 0
    assert sh(host, "cat /var/opt/gitlab/.gitconfig").stdout == before
