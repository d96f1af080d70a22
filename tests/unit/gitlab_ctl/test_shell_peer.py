"""Peer tests: expectations of omnibus-gitlab's spec/chef/cookbooks/gitlab/recipes/
gitlab-shell_spec.rb, checked against the config.yml our reconfigure renders for the same
gitlab.rb input. Each case id names the spec context it comes from; the words are ours, the
facts theirs. Also: every gitlab_shell key schema.yml declares applied reaches config.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Directory, KeptFile
from gitlab_ctl.services import gitlab_shell
from tests.unit.gitlab_ctl.test_config_templates import make_context

SOCKET_URL = "http+unix://%2Fvar%2Fopt%2Fgitlab%2Fgitlab-workhorse%2Fsockets%2Fsocket"


def resources(settings: dict[str, Any]) -> list:
    return gitlab_shell.configure(make_context(settings))


def config(settings: dict[str, Any]) -> dict[str, Any]:
    file = next(r for r in resources(settings) if getattr(r, "path", Path()).name
                == "config.yml" and hasattr(r, "content"))
    return yaml.safe_load(file.content)


# (spec context, gitlab.rb, config.yml key, expected)
CASES = [
    ("default-secret-file", {}, "secret_file",
     "/var/opt/gitlab/gitlab-rails/etc/gitlab_shell_secret"),
    ("default-log-file", {}, "log_file", "/var/log/gitlab/gitlab-shell/gitlab-shell.log"),
    ("default-log-format", {}, "log_format", "json"),
    ("default-gitlab-url", {}, "gitlab_url", SOCKET_URL),
    ("default-no-relative-path", {}, "gitlab_relative_path", None),
    ("default-ssl-cert-dir", {}, "ssl_cert_dir", "/opt/gitlab/embedded/ssl/certs/"),
    ("default-no-sshd", {}, "sshd", None),
    ("default-no-lfs", {}, "lfs", None),
    ("default-pat", {}, "pat", {"enabled": True, "allowed_scopes": []}),
    ("default-auth-file-in-home", {"user": {"home": "/tmp/user"}}, "auth_file",
     "/tmp/user/.ssh/authorized_keys"),
    ("custom-auth-file", {"user": {"home": "/tmp/user"},
                          "gitlab_shell": {"auth_file": "/tmp/ssh/authorized_keys"}},
     "auth_file", "/tmp/ssh/authorized_keys"),
    ("custom-log-format", {"gitlab_shell": {"log_format": "json"}}, "log_format", "json"),
    ("pat-disabled", {"gitlab_shell": {"pat": {"enabled": False, "allowed_scopes": []}}},
     "pat", {"enabled": False, "allowed_scopes": []}),
    ("workhorse-socket-without-sockets-directory",
     {"gitlab_workhorse": {"listen_addr": "/fake/workhorse/socket"}}, "gitlab_url",
     "http+unix://%2Ffake%2Fworkhorse%2Fsocket"),
    ("tcp-workhorse-listener", {"external_url": "http://example.com/gitlab",
                                "gitlab_workhorse": {"listen_network": "tcp",
                                                     "listen_addr": "localhost:1234"}},
     "secret_file", "/var/opt/gitlab/gitlab-rails/etc/gitlab_shell_secret"),
    ("relative-path-url", {"external_url": "http://example.com/gitlab"}, "gitlab_url",
     SOCKET_URL),
    ("lfs-pure-ssh-protocol", {"gitlab_shell": {"lfs_pure_ssh_protocol": True}}, "lfs",
     {"pure_ssh_protocol": True}),
]


@pytest.mark.parametrize(("settings", "key", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_config_yml_matches_omnibus_gitlab_specs(settings, key, expected):
    assert config(settings).get(key) == expected


def test_custom_auth_file_gets_its_directory_and_is_created_once():
    # gitlab-shell_spec.rb: 'creates the auth_file's parent directory', 'creates
    # authorized_keys file if missing'
    settings = {"gitlab_shell": {"auth_file": "/tmp/ssh/authorized_keys"}}
    found = {(type(r), r.path) for r in resources(settings)}
    assert (Directory, Path("/tmp/ssh")) in found
    assert (KeptFile, Path("/tmp/ssh/authorized_keys")) in found


def test_non_default_directory_holds_the_config():
    # gitlab-shell_spec.rb: 'with a non-default directory'
    settings = {"gitlab_shell": {"dir": "/export/gitlab/gitlab-shell"}}
    paths = {getattr(r, "path", None) for r in resources(settings)}
    assert Path("/export/gitlab/gitlab-shell/config.yml") in paths


PROBES: dict[str, Any] = {
    "audit_usernames": True, "http_settings": {"user": "probe", "password": "probe"},
    "git_trace_log_file": "/var/log/probe.log", "ssl_cert_dir": "/probe/certs/",
    "lfs_pure_ssh_protocol": True, "pat": {"enabled": False, "allowed_scopes": ["api"]},
    "log_level": "DEBUG", "log_format": "text", "auth_file": "/probe/authorized_keys",
    "log_directory": "/var/log/probe-shell", "dir": "/var/opt/probe-shell"}
#: Keys that shape resources rather than config.yml's text.
NOT_IN_TEXT = ("enable", "dir")


def applied_shell_keys() -> list[str]:
    schema = load_schema()
    return sorted(key for key in schema.keys("gitlab_shell")
                  if schema.settings[("gitlab_shell", key)].used and key not in NOT_IN_TEXT)


@pytest.mark.parametrize("key", applied_shell_keys())
def test_every_applied_shell_key_reaches_config_yml(key):
    assert config({"gitlab_shell": {key: PROBES[key]}}) != config({}), key
