"""Peer tests: expectations taken from omnibus-gitlab's own specs, checked against what our
reconfigure renders for the same gitlab.rb input. Each case's id names the spec it comes
from: redis = spec/chef/cookbooks/redis/recipes/redis_spec.rb. The words are ours, the
facts theirs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

CONF = Path("/var/opt/gitlab/redis/redis.conf")
RUN = Path("/opt/gitlab/sv/redis/run")
RC = Path("/opt/gitlab/etc/gitlab-redis-cli-rc")

USER = {"client_output_buffer_limit_normal": "5 5 5",
        "client_output_buffer_limit_replica": "512mb 128mb 120",
        "client_output_buffer_limit_pubsub": "64mb 16mb 120", "save": ["10 15000"],
        "maxmemory": "32gb", "maxmemory_policy": "allkeys-url", "maxmemory_samples": 10,
        "tcp_backlog": 1024, "hz": 100, "username": "foo", "group": "bar",
        "rename_commands": {"FAKE_COMMAND": "RENAMED_FAKE_COMMAND",
                            "DISABLED_FAKE_COMMAND": ""},
        "startup_delay": 10, "open_files_ulimit": 60000}
TLS = {"tls_port": 6380, "tls_cert_file": "/etc/gitlab/ssl/redis.crt",
       "tls_key_file": "/etc/gitlab/ssl/redis.key",
       "tls_dh_params_file": "/etc/gitlab/ssl/redis-dhparams",
       "tls_ca_cert_file": "/etc/gitlab/ssl/redis-ca.crt",
       "tls_ca_cert_dir": "/opt/gitlab/embedded/ssl/certs", "tls_auth_clients": "no",
       "tls_replication": "yes", "tls_cluster": "yes", "tls_protocols": "TLSv1.2 TLSv1.3",
       "tls_ciphers": "DEFAULT:!MEDIUM", "tls_ciphersuites": "TLS_CHACHA20_POLY1305_SHA256",
       "tls_prefer_server_ciphers": "yes", "tls_session_caching": "no",
       "tls_session_cache_size": 10000, "tls_session_cache_timeout": 120}


def render(settings: dict | None = None) -> dict[Path, str]:
    return {f.path: f.content for f in service_files(make_context({"redis": settings or {}}))}


def case(name: str, settings: dict, path: Path, pattern: str, present: bool = True) -> tuple:
    return (name, settings, path, pattern, present)


DEFAULT_LINES = ["client-output-buffer-limit normal 0 0 0",
                 "client-output-buffer-limit replica 256mb 64mb 60",
                 "client-output-buffer-limit pubsub 32mb 8mb 60", "hz 10", "save 900 1",
                 "save 300 10", "save 60 10000", "maxmemory 0", "maxmemory-policy noeviction",
                 "maxmemory-samples 5", "tcp-backlog 511", 'rename-command KEYS ""',
                 "lazyfree-lazy-eviction no", "lazyfree-lazy-expire no", "io-threads 1",
                 "io-threads-do-reads no", "stop-writes-on-bgsave-error yes"]
USER_LINES = ["client-output-buffer-limit normal 5 5 5",
              "client-output-buffer-limit replica 512mb 128mb 120",
              "client-output-buffer-limit pubsub 64mb 16mb 120", "save 10 15000",
              "maxmemory 32gb", "maxmemory-policy allkeys-url", "maxmemory-samples 10",
              "tcp-backlog 1024", "hz 100", 'rename-command FAKE_COMMAND "RENAMED_FAKE_COMMAND"',
              'rename-command DISABLED_FAKE_COMMAND ""']
TLS_LINES = ["tls-port 6380", "tls-cert-file /etc/gitlab/ssl/redis.crt",
             "tls-key-file /etc/gitlab/ssl/redis.key",
             "tls-dh-params-file /etc/gitlab/ssl/redis-dhparams",
             "tls-ca-cert-file /etc/gitlab/ssl/redis-ca.crt",
             "tls-ca-cert-dir /opt/gitlab/embedded/ssl/certs", "tls-auth-clients no",
             "tls-replication yes", "tls-cluster yes", 'tls-protocols "TLSv1.2 TLSv1.3"',
             "tls-ciphers DEFAULT:!MEDIUM", "tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256",
             "tls-prefer-server-ciphers yes", "tls-session-caching no",
             "tls-session-cache-size 10000", "tls-session-cache-timeout 120"]

CASES = [
    *(case(f"redis-default-{line}", {}, CONF, f"^{re.escape(line)}$") for line in DEFAULT_LINES),
    case("redis-default-no-replicaof", {}, CONF, "^replicaof", False),
    case("redis-default-no-tls", {}, CONF, "^tls-", False),
    case("redis-default-startup-delay", {}, RUN, "^sleep 0$"),
    case("redis-default-redis-server-binary", {}, RUN, "/opt/gitlab/embedded/bin/redis-server"),
    case("redis-default-cli-rc-tls-auth-clients", {}, RC, "^redis_tls_auth_clients='optional'$"),
    case("redis-default-cli-rc-backend", {}, RC, "^redis_backend='redis'$"),
    *(case(f"redis-user-{line}", USER, CONF, f"^{re.escape(line)}$") for line in USER_LINES),
    case("redis-user-no-default-renamed-keys", USER, CONF, '^rename-command KEYS ""$', False),
    case("redis-user-startup-delay", USER, RUN, "^sleep 10$"),
    case("redis-user-filehandle-limit", USER, RUN, "^ulimit -n 60000$"),
    case("redis-snapshotting-disabled", {"save": []}, CONF, "^save", False),
    case("redis-snapshotting-cleared", {"save": [""]}, CONF, '^save ""$'),
    case("redis-rename-commands-disabled", {"rename_commands": {}}, CONF, "^rename-command",
         False),
    case("redis-lazy-eviction", {"lazyfree_lazy_eviction": True}, CONF,
         "^lazyfree-lazy-eviction yes$"),
    case("redis-io-threads", {"io_threads": 4, "io_threads_do_reads": True}, CONF,
         "^io-threads 4$"),
    case("redis-io-threads-do-reads", {"io_threads": 4, "io_threads_do_reads": True}, CONF,
         "^io-threads-do-reads yes$"),
    case("redis-stop-writes-on-bgsave-error-off", {"stop_writes_on_bgsave_error": False}, CONF,
         "^stop-writes-on-bgsave-error no$"),
    *(case(f"redis-tls-{line.split()[0]}", TLS, CONF, f"^{re.escape(line)}$")
      for line in TLS_LINES),
    case("redis-tls-cli-rc-port", TLS, RC, "^redis_tls_port='6380'$"),
    case("redis-tls-cli-rc-cert-file", TLS, RC,
         "^redis_tls_cert_file='/etc/gitlab/ssl/redis.crt'$"),
    case("redis-tls-cli-rc-cacert-file", TLS, RC,
         "^redis_tls_cacert_file='/etc/gitlab/ssl/redis-ca.crt'$"),
    case("redis-valkey-binary", {"backend": "valkey"}, RUN,
         "/opt/gitlab/embedded/bin/valkey-server"),
    case("redis-valkey-not-redis-binary", {"backend": "valkey"}, RUN, "bin/redis-server", False),
    case("redis-valkey-cli-rc", {"backend": "valkey"}, RC, "^redis_backend='valkey'$"),
]


@pytest.mark.parametrize("settings,path,pattern,present", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_redis_files_match_omnibus_gitlab(settings, path, pattern, present):
    found = re.search(pattern, render(settings)[path], re.MULTILINE) is not None
    assert found == present


DISTINCT = {"string": "distinct-7z", "text": "distinct-7z", "integer": 7123, "port": 7123,
            "list": ["7 77"], "hash": {"FLUSHALL": "flush7"}}
SPECIAL: dict[str, Any] = {"backend": "valkey", "log_group": "adm"}
#: TLS settings are written only with a TLS port
COMPANIONS = {key: {"tls_port": 6380} for key in load_schema().keys("redis")
              if key.startswith("tls_") and key != "tls_port"}
COMPANIONS.update({key: {"master": False, "master_ip": "10.0.0.9", "master_password": "p"}
                   for key in ("master_ip", "master_port")})
COMPANIONS.update({key: {"master_ip": "10.0.0.9", "master_password": "p"}
                   for key in ("master", "set_replicaof")})
COMPANIONS["announce_port"] = {"announce_ip": "10.0.0.8"}
SPECIAL.update({"master": False, "ha": True, "start_down": True})
#: applied keys that configure the account or directories, checked elsewhere; ha and
#: start_down are runit's down file (test_redis_replica_peer.py)
NOT_IN_FILES = {"enable", "username", "group", "home", "shell", "uid", "gid", "ha", "start_down"}


def applied_keys() -> list[str]:
    schema = load_schema()
    return sorted(k for k in schema.keys("redis")
                  if schema.settings[("redis", k)].used and k not in NOT_IN_FILES)


def distinct_value(key: str) -> Any:
    if key in SPECIAL:
        return SPECIAL[key]
    setting = load_schema().settings[("redis", key)]
    return (not setting.default) if setting.type == "boolean" else DISTINCT[setting.type]


def everything(settings: dict) -> str:
    context = make_context({"redis": settings})
    return "".join(f"{f.path}{f.content}{f.group}" for f in service_files(context)
                   if "redis" in str(f.path))


@pytest.mark.parametrize("key", applied_keys())
def test_every_applied_redis_key_reaches_the_files(key):
    base = COMPANIONS.get(key, {})
    assert everything({**base, key: distinct_value(key)}) != everything(base)
