"""Peer tests: expectations of omnibus-gitlab's spec/chef/cookbooks/gitlab/recipes/puma_spec.rb
(ids `puma/...`) and sidekiq_spec.rb (`sidekiq/...`), checked against what our reconfigure
renders for the same gitlab.rb input: puma.rb and the runit run scripts. The words are ours,
the facts theirs. Also: every puma, sidekiq and package key declared applied changes what is
rendered."""

from __future__ import annotations

from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.runit import systemd_unit
from gitlab_ctl.paths import Layout
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

PUMA_RB = "/var/opt/gitlab/gitlab-rails/etc/puma.rb"
PUMA_RUN = "/opt/gitlab/sv/puma/run"
SIDEKIQ_RUN = "/opt/gitlab/sv/sidekiq/run"
CUSTOM_PUMA = {"puma": {"worker_timeout": 120, "worker_processes": 4, "min_threads": 5,
                        "max_threads": 10, "listen": "10.0.0.1", "port": 9000,
                        "socket": "/tmp/puma.socket", "state_path": "/tmp/puma.state",
                        "per_worker_max_memory_mb": 1200}}
SSL_PUMA = {"puma": {"worker_timeout": 120, "worker_processes": 4, "min_threads": 5,
                     "max_threads": 10, "socket": "/tmp/puma.socket", "listen": "10.0.0.1",
                     "port": 9000, "ssl_listen": "192.168.0.1", "ssl_port": 9999,
                     "ssl_certificate": "/tmp/test.crt", "ssl_certificate_key": "/tmp/test.key",
                     "ssl_key_password_command": "echo mypassword"}}
SSL_BIND = ("ssl_bind '192.168.0.1', 9999, {\n  cert: '/tmp/test.crt',\n  key: '/tmp/test.key',"
            "\n  key_password_command: 'echo mypassword',\n  verify_mode: 'none'\n}")


def files(settings: dict[str, Any]) -> dict[str, str]:
    return {str(f.path): f.content for f in service_files(make_context(settings))}


# (spec id, gitlab.rb, file, text, whether the file contains it)
CASES = [
    ("puma/runit-user", {}, PUMA_RUN, "-u git:git", True),
    ("puma/runit-group", {}, PUMA_RUN, "-U git:git", True),
    ("puma/runit-rubyopt", {}, PUMA_RUN, "RUBYOPT=-W:no-experimental", True),
    ("puma/runit-bundle-exec", {}, PUMA_RUN,
     "/opt/gitlab/embedded/bin/bundle exec puma -C /var/opt/gitlab/gitlab-rails/etc/puma.rb", True),
    ("puma/puma.rb-tag", {}, PUMA_RB, "tag 'gitlab-puma-worker'", True),
    ("puma/puma.rb-pid", {}, PUMA_RB, "pidfile '/opt/gitlab/var/puma/puma.pid'", True),
    ("puma/puma.rb-state", {}, PUMA_RB, "state_path '/opt/gitlab/var/puma/puma.state'", True),
    ("puma/puma.rb-socket", {}, PUMA_RB,
     "bind 'unix:///var/opt/gitlab/gitlab-rails/sockets/gitlab.socket'", True),
    ("puma/puma.rb-tcp", {}, PUMA_RB, "bind 'tcp://127.0.0.1:8080'", True),
    ("puma/puma.rb-working-directory", {}, PUMA_RB,
     "directory '/var/opt/gitlab/gitlab-rails/working'", True),
    ("puma/puma.rb-workers", {}, PUMA_RB, "workers 2", True),
    ("puma/puma.rb-threads", {}, PUMA_RB, "threads 4, 4", True),
    ("puma/custom-state", CUSTOM_PUMA, PUMA_RB, "state_path '/tmp/puma.state'", True),
    ("puma/custom-socket", CUSTOM_PUMA, PUMA_RB, "bind 'unix:///tmp/puma.socket'", True),
    ("puma/custom-tcp", CUSTOM_PUMA, PUMA_RB, "bind 'tcp://10.0.0.1:9000'", True),
    ("puma/custom-workers", CUSTOM_PUMA, PUMA_RB, "workers 4", True),
    ("puma/custom-threads", CUSTOM_PUMA, PUMA_RB, "threads 5, 10", True),
    ("puma/custom-worker-timeout", CUSTOM_PUMA, PUMA_RB, "worker_timeout 120", True),
    ("puma/custom-per-worker-max-memory", CUSTOM_PUMA, PUMA_RUN, "PUMA_WORKER_MAX_MEMORY=1200",
     True),
    ("puma/ssl-bind", SSL_PUMA, PUMA_RB, SSL_BIND, True),
    ("puma/ssl-tcp-kept", SSL_PUMA, PUMA_RB, "bind 'tcp://10.0.0.1:9000'", True),
    ("puma/no-ssl-by-default", {}, PUMA_RB, "ssl_bind", False),
    ("sidekiq/runit-cluster", {}, SIDEKIQ_RUN, "bin/sidekiq-cluster", True),
    ("sidekiq/runit-concurrency", {}, SIDEKIQ_RUN, "-c 20", True),
    ("sidekiq/runit-shutdown-timeout", {}, SIDEKIQ_RUN, "--timeout 25", True),
    ("sidekiq/runit-all-queues", {}, SIDEKIQ_RUN, "'*'", True),
    ("sidekiq/custom-concurrency", {"sidekiq": {"concurrency": 42}}, SIDEKIQ_RUN, "-c 42", True),
    ("sidekiq/interval-by-default", {}, SIDEKIQ_RUN, " -i ", False),
    ("sidekiq/svlogd-no-timestamps-by-default", {}, "/opt/gitlab/sv/sidekiq/log/run", "-tt",
     False),
    ("sidekiq/svlogd-timestamps-for-text-logs", {"sidekiq": {"log_format": "text"}},
     "/opt/gitlab/sv/sidekiq/log/run", "-tt", True),
]


@pytest.mark.parametrize(("spec", "settings", "path", "text", "present"), CASES,
                         ids=[f"{case[0]}" for case in CASES])
def test_peer(spec: str, settings: dict, path: str, text: str, present: bool) -> None:
    content = files(settings)[path]
    assert (text in content) is present, f"{spec}: {text!r} {'missing' if present else 'found'}"


def test_runsvdir_unit_takes_the_package_systemd_settings() -> None:
    """package's gitlab-runsvdir.service.erb: After=, WantedBy=, TasksMax=."""
    unit = systemd_unit(Layout(), {"systemd_after": "network.target",
                                   "systemd_wanted_by": "basic.target", "systemd_tasks_max": 77})
    assert "After=network.target\n" in unit and "WantedBy=basic.target\n" in unit
    assert "TasksMax=77\n" in unit
    assert "TasksMax" not in systemd_unit(Layout(), {"systemd_tasks_max": None})


# -- every puma and sidekiq key declared applied reaches a file --------------------------
SSL_BASE = {"ssl_listen": "0.0.0.0", "ssl_port": 8443}
VALUES: dict[str, Any] = {"ssl_listen": "10.9.9.9", "ssl_port": 9443,
                          "per_worker_max_memory_mb": 2048, "ssl_verify_mode": "peer"}
PUMA_KEYS = ["ssl_listen", "ssl_port", "ssl_certificate", "ssl_certificate_key",
             "ssl_client_certificate", "ssl_cipher_filter", "ssl_key_password_command",
             "ssl_verify_mode", "per_worker_max_memory_mb"]


@pytest.mark.parametrize(("section", "key"), [("puma", k) for k in PUMA_KEYS]
                         + [("sidekiq", "interval")])
def test_every_applied_key_changes_the_output(section: str, key: str) -> None:
    setting = load_schema().get(section, key)
    assert setting is not None and setting.used, f"{section}['{key}'] is not declared applied"
    base = {"puma": dict(SSL_BASE)} if section == "puma" else {}
    value = 7 if key == "interval" else VALUES.get(key, f"/distinct/{key}")
    changed = {**base, section: {**base.get(section, {}), key: value}}
    assert files(changed) != files(base), f"{section}['{key}'] changes nothing"


@pytest.mark.parametrize("key", ["systemd_after", "systemd_wanted_by", "systemd_tasks_max"])
def test_package_systemd_keys_change_the_unit(key: str) -> None:
    setting = load_schema().get("package", key)
    assert setting is not None and setting.used
    value = 12 if key == "systemd_tasks_max" else "distinct.target"
    assert systemd_unit(Layout(), {key: value}) != systemd_unit(Layout(), {})
