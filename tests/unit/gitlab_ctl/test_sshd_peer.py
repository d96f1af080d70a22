"""Peer tests of gitlab-sshd: expectations of omnibus-gitlab's
spec/chef/cookbooks/gitlab/recipes/gitlab-shell_spec.rb (ids starting shell-, its "with
gitlab-sshd enabled" contexts) and spec/chef/cookbooks/gitlab/libraries/gitlab_sshd_spec.rb
(ids starting library-), checked against what our reconfigure renders for the same gitlab.rb
input. Where the spec stubs Dir[] with host key and certificate files, these tests make
those files in a temporary directory. The words are ours, the facts theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Command, Directory
from gitlab_ctl.services import gitlab_sshd
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

SHELL_CONFIG = Path("/var/opt/gitlab/gitlab-shell/config.yml")
RUN = Path("/opt/gitlab/sv/gitlab-sshd/run")
EXPECTED_KEYS = {"listen", "proxy_protocol", "proxy_policy", "web_listen",
                 "concurrent_sessions_limit", "client_alive_interval", "grace_period",
                 "login_grace_time", "proxy_header_timeout", "macs", "kex_algorithms",
                 "ciphers", "public_key_algorithms", "host_key_files", "host_key_certs",
                 "trusted_user_ca_keys"}
ALGORITHMS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256", "rsa-sha2-512"]
CA_KEYS = ["/etc/gitlab/ssh_user_ca.pub", "/etc/gitlab/ssh_user_ca2.pub"]


def sshd_settings(**settings: Any) -> dict:
    return {"gitlab_sshd": {"enable": True, **settings}}


def files(settings: dict) -> dict[Path, str]:
    return {f.path: f.content for f in service_files(make_context(settings))}


def sshd_block(settings: dict) -> Any:
    return yaml.safe_load(files(settings)[SHELL_CONFIG]).get("sshd")


@pytest.fixture
def host_keys(tmp_path: Path) -> Path:
    """The spec's stubbed /tmp/host_keys: two keys and two certificates."""
    for name in ("ssh_key1", "ssh_key2", "ssh_cert1", "ssh_cert2"):
        (tmp_path / name).write_text("")
    return tmp_path


def custom_paths(directory: Path) -> dict:
    return sshd_settings(log_directory="/tmp/log", host_keys_dir=str(directory),
                         host_keys_glob="ssh_key*", host_certs_dir=str(directory),
                         host_certs_glob="ssh_cert*")


BLOCK_CASES = [
    ("shell-default-settings-no-sshd", {}, None, None),
    ("shell-default-globs-listen", sshd_settings(), "listen", "localhost:2222"),
    ("shell-default-globs-web-listen", sshd_settings(), "web_listen", "localhost:9122"),
    ("shell-default-globs-proxy-protocol", sshd_settings(), "proxy_protocol", False),
    ("shell-default-globs-host-key-certs", sshd_settings(), "host_key_certs", []),
    ("shell-custom-public-key-algorithms", sshd_settings(public_key_algorithms=ALGORITHMS),
     "public_key_algorithms", ALGORITHMS),
    ("shell-custom-trusted-user-ca-keys", sshd_settings(trusted_user_ca_keys=CA_KEYS),
     "trusted_user_ca_keys", CA_KEYS),
]


@pytest.mark.parametrize(("settings", "key", "expected"), [c[1:] for c in BLOCK_CASES],
                         ids=[c[0] for c in BLOCK_CASES])
def test_sshd_block_matches_omnibus_gitlab(settings, key, expected):
    block = sshd_block(settings)
    assert (block if key is None else block[key]) == expected


def test_sshd_block_has_omnibus_gitlab_keys():
    """shell-default-globs: exactly the keys gitlab-shell reads, none of omnibus' own."""
    assert set(sshd_block(sshd_settings())) == EXPECTED_KEYS


def test_custom_host_key_paths(host_keys):
    """shell-custom-host-key-path: the files the globs find, in order."""
    block = sshd_block(custom_paths(host_keys))
    assert set(block) == EXPECTED_KEYS
    assert block["host_key_files"] == [str(host_keys / "ssh_key1"), str(host_keys / "ssh_key2")]
    assert block["host_key_certs"] == [str(host_keys / "ssh_cert1"),
                                       str(host_keys / "ssh_cert2")]


def test_keys_found_are_not_generated(host_keys):
    """shell: the host keys are generated only when no key matches the glob."""
    context = make_context(custom_paths(host_keys))
    command = next(r for r in gitlab_sshd.SERVICE.configure(context) if isinstance(r, Command))
    assert command.check() is None


def test_config_change_restarts_sshd():
    """shell-default-globs: the config template notifies runit_service[gitlab-sshd]."""
    shell = next(f for f in service_files(make_context(sshd_settings()))
                 if f.path == SHELL_CONFIG)
    assert ("restart", "gitlab-sshd") in shell.notifies


RUN_TEXT = ["cd /var/opt/gitlab/gitlab-sshd",
            "/opt/gitlab/embedded/service/gitlab-shell/bin/gitlab-sshd",
            "-config-dir /var/opt/gitlab/gitlab-shell"]


@pytest.mark.parametrize("text", RUN_TEXT)
def test_run_script_matches_omnibus_gitlab(text):
    """shell-default-globs: correctly renders out the gitlab_sshd service file."""
    assert text in files(sshd_settings())[RUN]


@pytest.mark.parametrize(("settings", "group"), [(sshd_settings(), None),
                                                 (sshd_settings(log_group="fugee"), "fugee")],
                         ids=["shell-log-default-values", "shell-log-custom-values"])
def test_log_directory_owner_and_group(settings, group):
    """shell-log-*: the log directory belongs to git, with log_group when set."""
    resources = gitlab_sshd.SERVICE.runit_resources(make_context(settings))
    log_dir = next(r for r in resources if isinstance(r, Directory)
                   and r.path == Path("/var/log/gitlab/gitlab-sshd"))
    assert (log_dir.owner, log_dir.group) == ("git", group)


@pytest.mark.parametrize("keys", [None, ["/etc/gitlab/ssh_user_ca.pub"]],
                         ids=["library-nil", "library-array"])
def test_trusted_user_ca_keys_accepted(keys):
    assert gitlab_sshd.shell_config(make_context(sshd_settings(trusted_user_ca_keys=keys))) \
        is not None


def test_trusted_user_ca_keys_string_refused():
    """library-string: must be an Array."""
    with pytest.raises(ConfigError, match="must be an Array"):
        gitlab_sshd.shell_config(make_context(sshd_settings(
            trusted_user_ca_keys="/etc/gitlab/ssh_user_ca.pub")))


def test_disabled_sshd_writes_no_block_even_with_keys_set():
    """library: the settings are only read while gitlab-sshd runs (gitlab_sshd: nil)."""
    assert sshd_block({"gitlab_sshd": {"trusted_user_ca_keys": CA_KEYS}}) is None


# -- every key declared applied reaches the output ------------------------------------------
SCHEMA = load_schema()
APPLIED = [s for s in (SCHEMA.get("gitlab_sshd", k) for k in SCHEMA.keys("gitlab_sshd"))
           if s is not None and s.used and s.key != "enable"]
HERE = str(Path(__file__).parent)
DISTINCT = {"host_keys_dir": HERE, "host_keys_glob": "*.py", "host_certs_dir": HERE,
            "host_certs_glob": "*.py", "env": {"ZZ_PROBE": "1"}}
NEEDS = {"host_certs_dir": {"host_certs_glob": "*.py"},
         "host_certs_glob": {"host_certs_dir": HERE}}


def output(settings: dict) -> list:
    """Everything gitlab-sshd's settings reach: the files, and the host key command."""
    context = make_context(settings)
    commands = [(r.argv, r.check()) for r in gitlab_sshd.SERVICE.configure(context)
                if isinstance(r, Command)]
    return [files(settings), commands]


def probe(setting: Any) -> Any:
    if setting.key in DISTINCT:
        return DISTINCT[setting.key]
    return {"boolean": not setting.default, "integer": 4321, "list": ["zz-probe"],
            "hash": {"zz": "probe"}}.get(setting.type, "/zz-probe")


@pytest.mark.parametrize("setting", APPLIED, ids=[s.key for s in APPLIED])
def test_every_applied_sshd_key_reaches_output(setting):
    base = NEEDS.get(setting.key, {})
    assert output(sshd_settings(**base)) != output(
        sshd_settings(**{**base, setting.key: probe(setting)}))
