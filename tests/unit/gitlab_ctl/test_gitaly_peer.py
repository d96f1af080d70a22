"""Peer tests: expectations from omnibus-gitlab's
spec/chef/cookbooks/gitaly/recipes/gitaly_spec.rb, checked against what our reconfigure
renders for the same gitlab.rb input: config.toml (read back as TOML, as the spec's
get_rendered_toml does), the runit run script, .gitlab_secret and the env dir. Each case
id names the spec context it comes from; the words are ours, the facts theirs. Also: every
gitaly key schema.yml declares applied changes the output."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from gitlab_ctl.services import gitaly
from tests.unit.gitlab_ctl.test_workhorse_peer import applied_keys, service_output

SHELL_DIR = {"dir": "/opt/gitlab/embedded/service/gitlab-shell"}
CONFIG = "/var/opt/gitlab/gitaly/config.toml"
RUN = "/opt/gitlab/sv/gitaly/run"
SECRET = "/var/opt/gitlab/gitaly/.gitlab_secret"


def output(settings: dict | None = None) -> dict[str, str]:
    return {path: text.split(":", 1)[1] for path, text in
            service_output("gitaly", settings).items()}


def config(settings: dict | None = None) -> dict:
    return tomllib.loads(output(settings)[CONFIG])


def configured(**configuration: Any) -> dict:
    return {"gitaly": {"configuration": configuration}}


CGROUPS = {"mountpoint": "/sys/fs/cgroup", "hierarchy_root": "gitaly", "memory_bytes": 2097152,
           "cpu_shares": 512,
           "repositories": {"count": 10, "memory_bytes": 1048576, "cpu_shares": 128}}
# 'with user settings': gitaly['configuration'] as the spec sets it
USER_CONFIGURATION = {
    "socket_path": "/tmp/gitaly.socket", "listen_addr": "localhost:7777",
    "tls_listen_addr": "localhost:8888", "string_value": "some value",
    "runtime_dir": "/var/opt/gitlab/gitaly/user_defined/run",
    "git": {"signing_key": "/path/to/signing_key.gpg", "catfile_cache_size": 50},
    "prometheus": {"grpc_latency_buckets": [0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 10.0, 30.0,
                                            60.0, 300.0, 1500.0]},
    "prometheus_listen_addr": "localhost:9000", "graceful_restart_timeout": "20m",
    "auth": {"token": "123#$secret456", "transitioning": True},
    "tls": {"certificate_path": "/path/to/cert.pem", "key_path": "/path/to/key.pem"},
    "storage": [{"name": "default", "path": "/tmp/path-1"}, {"name": "nfs1", "path": "/mnt/nfs1"}],
    "logging": {"level": "warn", "format": "default",
                "sentry_dsn": "https://my_key:my_secret@sentry.io/test_project",
                "sentry_environment": "production"},
    "hooks": {"custom_hooks_dir": "/path/to/gitaly/custom/hooks"},
    "pack_objects_cache": {"enabled": True, "dir": "/pack-objects-cache", "max_age": "10m"},
    "cgroups": CGROUPS,
    "daily_maintenance": {"disabled": False, "start_hour": 21, "start_minute": 9,
                          "duration": "45m", "storages": ["storage0", "storage1"]},
    "concurrency": [{"rpc": "/gitaly.SmartHTTPService/PostReceivePack", "max_per_repo": 20},
                    {"rpc": "/gitaly.SSHService/SSHUploadPack", "max_per_repo": 5}],
    "rate_limiting": [
        {"rpc": "/gitaly.SmartHTTPService/PostReceivePack", "interval": "1s", "burst": 100},
        {"rpc": "/gitaly.SSHService/SSHUploadPack", "interval": "1s", "burst": 200}],
    "subsection": {"array_value": [1, 2, 3]},
}
USER = {"gitaly": {"open_files_ulimit": 10000, "configuration": USER_CONFIGURATION},
        "user": {"username": "foo", "group": "bar"}}
OVERRIDDEN = configured(socket_path="overridden_socket_path",
                        logging={"dir": "overridden_logging_path"},
                        custom_section={"custom_key": "custom_value"},
                        storage=[{"name": "custom_storage", "path": "custom_path"}],
                        cgroups={"mountpoint": "/mycgroups", "hierarchy_root": "myroot",
                                 "cpu_shares": 100, "repositories": {"count": 10}})

# (spec context, gitlab.rb, top-level key of config.toml, expected value)
TOML_CASES = [
    ("default-bin-dir", {}, "bin_dir", "/opt/gitlab/embedded/bin"),
    ("default-git", {}, "git", {"ignore_gitconfig": True}),
    ("default-gitlab", {}, "gitlab", {
        "relative_url_root": "",
        "url": "http+unix://%2Fvar%2Fopt%2Fgitlab%2Fgitlab-workhorse%2Fsockets%2Fsocket",
        "secret_file": "/var/opt/gitlab/gitaly/.gitlab_secret"}),
    ("default-gitlab-shell", {}, "gitlab-shell", SHELL_DIR),
    ("default-logging", {}, "logging", {"dir": "/var/log/gitlab/gitaly", "format": "json"}),
    ("default-prometheus-listen-addr", {}, "prometheus_listen_addr", "localhost:9236"),
    ("default-runtime-dir", {}, "runtime_dir", "/var/opt/gitlab/gitaly/run"),
    ("default-socket-path", {}, "socket_path", "/var/opt/gitlab/gitaly/gitaly.socket"),
    ("default-storage", {}, "storage",
     [{"name": "default", "path": "/var/opt/gitlab/git-data/repositories"}]),
    ("overridden-socket-path", OVERRIDDEN, "socket_path", "overridden_socket_path"),
    ("overridden-logging-keeps-format", OVERRIDDEN, "logging",
     {"dir": "overridden_logging_path", "format": "json"}),
    ("overridden-custom-section", OVERRIDDEN, "custom_section", {"custom_key": "custom_value"}),
    ("overridden-storage", OVERRIDDEN, "storage",
     [{"name": "custom_storage", "path": "custom_path"}]),
    ("overridden-cgroups", OVERRIDDEN, "cgroups", {
        "mountpoint": "/mycgroups", "hierarchy_root": "myroot", "cpu_shares": 100,
        "repositories": {"count": 10}}),
    ("overridden-bin-dir-pinned", OVERRIDDEN, "bin_dir", "/opt/gitlab/embedded/bin"),
    ("user-auth", USER, "auth", {"token": "123#$secret456", "transitioning": True}),
    ("user-cgroups", USER, "cgroups", CGROUPS),
    ("user-concurrency", USER, "concurrency", USER_CONFIGURATION["concurrency"]),
    ("user-daily-maintenance", USER, "daily_maintenance", USER_CONFIGURATION["daily_maintenance"]),
    ("user-git", USER, "git", {"catfile_cache_size": 50, "ignore_gitconfig": True,
                               "signing_key": "/path/to/signing_key.gpg"}),
    ("user-gitlab-shell", USER, "gitlab-shell", SHELL_DIR),
    ("user-graceful-restart-timeout", USER, "graceful_restart_timeout", "20m"),
    ("user-hooks", USER, "hooks", {"custom_hooks_dir": "/path/to/gitaly/custom/hooks"}),
    ("user-listen-addr", USER, "listen_addr", "localhost:7777"),
    ("user-logging", USER, "logging", {
        "dir": "/var/log/gitlab/gitaly", "format": "default", "level": "warn",
        "sentry_dsn": "https://my_key:my_secret@sentry.io/test_project",
        "sentry_environment": "production"}),
    ("user-pack-objects-cache", USER, "pack_objects_cache",
     {"enabled": True, "dir": "/pack-objects-cache", "max_age": "10m"}),
    ("user-prometheus", USER, "prometheus", USER_CONFIGURATION["prometheus"]),
    ("user-prometheus-listen-addr", USER, "prometheus_listen_addr", "localhost:9000"),
    ("user-rate-limiting", USER, "rate_limiting", USER_CONFIGURATION["rate_limiting"]),
    ("user-runtime-dir", USER, "runtime_dir", "/var/opt/gitlab/gitaly/user_defined/run"),
    ("user-socket-path", USER, "socket_path", "/tmp/gitaly.socket"),
    ("user-storage", USER, "storage", USER_CONFIGURATION["storage"]),
    ("user-string-value", USER, "string_value", "some value"),
    ("user-subsection", USER, "subsection", {"array_value": [1, 2, 3]}),
    ("user-tls", USER, "tls", {"certificate_path": "/path/to/cert.pem",
                               "key_path": "/path/to/key.pem"}),
    ("user-tls-listen-addr", USER, "tls_listen_addr", "localhost:8888"),
]


@pytest.mark.parametrize(("settings", "key", "expected"), [c[1:] for c in TOML_CASES],
                         ids=[c[0] for c in TOML_CASES])
def test_config_toml_holds_what_omnibus_gitlab_specs_expect(settings, key, expected):
    assert config(settings).get(key) == expected


# (spec context, gitlab.rb, file, pattern, whether it matches)
TEXT_CASES = [
    ("default-run-ulimit", {}, RUN, r"ulimit -n 30000", True),
    ("user-run-ulimit", USER, RUN, r"ulimit -n 10000", True),
    ("secrets-match", {"gitaly": {"gitlab_secret": "my-super-secret-password"}}, SECRET,
     r"^my-super-secret-password$", True),
    ("secrets-differ", {"gitaly": {"gitlab_secret": "password-for-gitaly"}}, SECRET,
     r"^password-for-gitaly$", True),
    ("wrapper-enabled", {"gitaly": {"use_wrapper": True}}, RUN,
     r"/opt/gitlab/embedded/bin/gitaly-wrapper", True),
    ("wrapper-disabled", {"gitaly": {"use_wrapper": False}}, RUN,
     r"/opt/gitlab/embedded/bin/gitaly-wrapper", False),
    ("default-storage-text", {}, CONFIG,
     r'\[\[storage\]\]\s+name = "default"\s+path = "/var/opt/gitlab/git-data/repositories"',
     True),
    ("concurrency-no-queue-settings", configured(concurrency=[
        {"rpc": "/gitaly.SmartHTTPService/PostReceivePack", "max_per_repo": 20}]), CONFIG,
     r"max_queue_size|max_queue_wait", False),
    ("concurrency-quoted-max-queue-wait", configured(concurrency=[
        {"rpc": "/gitaly.SmartHTTPService/PostReceivePack", "max_queue_wait": "10s"}]), CONFIG,
     r'\[\[concurrency\]\]\s+rpc = "/gitaly.SmartHTTPService/PostReceivePack"\s+'
     r'max_queue_wait = "10s"', True),
    ("workhorse-listen-address", {"gitlab_workhorse": {"listen_addr": "/fake/workhorse/socket"}},
     CONFIG, r'\[gitlab\]\s+url = "http\+unix://%2Ffake%2Fworkhorse%2Fsocket"\s+'
     r'relative_url_root = ""', True),
    ("tcp-workhorse-url", {"external_url": "http://example.com/gitlab", "gitlab_workhorse": {
        "listen_network": "tcp", "listen_addr": "localhost:1234"}}, CONFIG,
     r'\[gitlab\]\s+url = "http://localhost:1234/gitlab"', True),
    ("tcp-workhorse-no-relative-root", {"external_url": "http://example.com/gitlab",
                                        "gitlab_workhorse": {"listen_network": "tcp",
                                                             "listen_addr": "localhost:1234"}},
     CONFIG, r"relative_url_root", False),
    ("relative-path-in-external-url", {"external_url": "http://example.com/gitlab"}, CONFIG,
     r'\[gitlab\]\s+url = "http\+unix://%2Fvar%2Fopt%2Fgitlab%2Fgitlab-workhorse%2Fsockets'
     r'%2Fsocket"\s+relative_url_root = "/gitlab"', True),
    ("custom-gitlab-values", configured(gitlab={"url": "http://localhost:9999",
                                                "relative_url_root": "/gitlab-ee"}), CONFIG,
     r'\[gitlab\]\s+url = "http://localhost:9999"\s+relative_url_root = "/gitlab-ee"', True),
]


@pytest.mark.parametrize(("settings", "path", "pattern", "matches"),
                         [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_gitaly_files_hold_what_omnibus_gitlab_specs_expect(settings, path, pattern, matches):
    content = output(settings)[path]
    assert bool(re.search(pattern, content, re.MULTILINE)) is matches, content


def test_default_secret_is_gitlab_shells_token():
    """'by default': .gitlab_secret holds the secret GitLab Shell authenticates with."""
    from tests.unit.gitlab_ctl.test_config_templates import make_context

    token = make_context().secrets["gitlab_shell"]["secret_token"]
    assert output()[SECRET] == str(token)


def test_cgroups_left_out_without_repository_cgroups():
    """The recipe writes cgroups only when repositories.count is positive."""
    assert "cgroups" not in config(configured(cgroups={"cpu_shares": 100}))


@pytest.mark.parametrize(("v2", "patterns"), [
    (True, [r"mkdir -m 0700 -p /sys/fs/cgroup/gitaly", r"chown -R foo:bar /sys/fs/cgroup"]),
    (False, [r"mkdir -m 0700 -p /sys/fs/cgroup/memory/gitaly",
             r"mkdir -m 0700 -p /sys/fs/cgroup/cpu/gitaly",
             r"chown foo:bar /sys/fs/cgroup/memory/gitaly",
             r"chown foo:bar /sys/fs/cgroup/cpu/gitaly"]),
], ids=["user-cgroups-v2", "user-cgroups-v1"])
def test_run_script_makes_the_cgroup_hierarchy(monkeypatch, v2, patterns):
    monkeypatch.setattr(gitaly, "cgroups_v2", lambda mountpoint: v2)
    run = output(USER)[RUN]
    for pattern in patterns:
        assert re.search(pattern, run), run


def test_custom_env_variable_and_home():
    """'computes env variables based on other values': HOME follows user['home']."""
    files = output({"user": {"home": "/my/random/path"}})
    assert files["/opt/gitlab/etc/gitaly/env/HOME"] == "/my/random/path"


DISTINCT: dict[str, Any] = {"open_files_ulimit": 1234, "use_wrapper": False,
                            "env": {"PEER": "1"}, "gitlab_secret": "peer-secret",
                            "configuration": {"peer_key": "peer"}}


@pytest.mark.parametrize("key", applied_keys("gitaly"))
def test_every_applied_gitaly_key_changes_the_output(key):
    if key == "enable":
        pytest.skip("enable decides whether the service runs, not what it writes")
    value = DISTINCT.get(key, "/peer/value-7")
    assert service_output("gitaly") != service_output("gitaly", {"gitaly": {key: value}})
