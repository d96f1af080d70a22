"""Peer tests: expectations taken from omnibus-gitlab's own specs, checked against what our
reconfigure renders for the same gitlab.rb input. Each case's id names the spec it comes
from: postgresql = spec/chef/cookbooks/postgresql/recipes/postgresql_spec.rb. The words are
ours, the facts theirs. Where we knowingly differ (SSL on with a generated certificate, an
empty log_line_prefix) there is no case."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.services import postgresql
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

DATA = Path("/var/opt/gitlab/postgresql/data")
CONF, RUNTIME, HBA = DATA / "postgresql.conf", DATA / "runtime.conf", DATA / "pg_hba.conf"

USER_SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "archive_mode": "on",
                 "ssl": "off", "ssl_crl_file": "revoke.crl", "ssl_ciphers": "ALL",
                 "log_destination": "csvlog", "logging_collector": "on",
                 "log_truncate_on_rotation": "on", "log_rotation_age": "1d",
                 "log_rotation_size": "10MB", "dynamic_shared_memory_type": "none",
                 "wal_log_hints": "on"}
RUNTIME_SETTINGS = {"log_line_prefix": "%a", "log_statement": "all",
                    "max_standby_archive_delay": "60s", "max_standby_streaming_delay": "120s",
                    "archive_command": "command", "archive_timeout": "120",
                    "log_connections": "on", "log_disconnections": "on",
                    "max_slot_wal_keep_size": "2GB"}
HBA_SETTINGS = {"hostssl": True, "trust_auth_cidr_addresses": ["127.0.0.1/32"],
                "custom_pg_hba_entries": {"foo": [{"type": "host", "database": "foo",
                                                   "user": "bar", "cidr": "127.0.0.1/32",
                                                   "method": "trust"}]},
                "cert_auth_addresses": {
                    "1.2.3.4/32": {"database": "fakedatabase", "user": "fakeuser"},
                    "fakehostname": {"database": "anotherfakedatabase",
                                     "user": "anotherfakeuser"}}}


def render(settings: dict | None = None) -> dict[Path, str]:
    context = make_context({"postgresql": settings or {}})
    return {f.path: f.content for f in service_files(context)}


# (spec it, postgresql settings, file, line pattern, whether it is there)
CASES: list[tuple[str, dict, Path, str, bool]] = [
    ("postgresql-includes-runtime-conf", {}, CONF, r"^include 'runtime.conf'$", True),
    ("postgresql-default-shared-preload-libraries", {}, CONF,
     r"^shared_preload_libraries = ''$", True),
    ("postgresql-default-disables-archive-mode", {}, CONF, r"^archive_mode = off$", True),
    ("postgresql-default-ssl-cipher-list", {}, CONF,
     r"^ssl_ciphers = 'HIGH:MEDIUM:\+3DES:!aNULL:!SSLv3:!TLSv1'$", True),
    ("postgresql-default-ssl-cert-file", {}, CONF, r"^ssl_cert_file = 'server.crt'$", True),
    ("postgresql-default-ssl-key-file", {}, CONF, r"^ssl_key_file = 'server.key'$", True),
    ("postgresql-default-ssl-ca-file", {}, CONF,
     r"^ssl_ca_file = '/opt/gitlab/embedded/ssl/certs/cacert.pem'$", True),
    ("postgresql-default-synchronous-standby-names-empty", {}, RUNTIME,
     r"^synchronous_standby_names = ''$", True),
    ("postgresql-default-wal-log-hints-off", {}, CONF, r"^wal_log_hints = off$", True),
    ("postgresql-default-no-dynamic-shared-memory-type", {}, CONF,
     r"^dynamic_shared_memory_type = ", False),
    ("postgresql-default-max-locks-per-transaction", {}, CONF,
     r"^max_locks_per_transaction = 128$", True),
    ("postgresql-default-no-geo-include", {}, CONF, r"include_if_exists 'gitlab-geo.conf'",
     False),
    ("postgresql-default-no-log-statement", {}, RUNTIME, r"^log_statement = ", False),
    ("postgresql-default-max-standby-archive-delay", {}, RUNTIME,
     r"^max_standby_archive_delay = 30s$", True),
    ("postgresql-default-max-standby-streaming-delay", {}, RUNTIME,
     r"^max_standby_streaming_delay = 30s$", True),
    ("postgresql-default-archive-command", {}, RUNTIME, r"^archive_command = ''$", True),
    ("postgresql-default-archive-timeout", {}, RUNTIME, r"^archive_timeout = 0$", True),
    ("postgresql-default-log-directory", {}, RUNTIME,
     r"^log_directory = '/var/log/gitlab/postgresql'$", True),
    ("postgresql-default-max-slot-wal-keep-size", {}, RUNTIME,
     r"^max_slot_wal_keep_size = -1$", True),
    ("postgresql-default-hot-standby-feedback-off", {}, RUNTIME,
     r"^hot_standby_feedback = off$", True),
    ("postgresql-default-random-page-cost", {}, RUNTIME, r"^random_page_cost = 2\.0$", True),
    ("postgresql-default-log-temp-files", {}, RUNTIME, r"^log_temp_files = -1$", True),
    ("postgresql-default-log-checkpoints-off", {}, RUNTIME, r"^log_checkpoints = off$", True),
    ("postgresql-default-idle-in-transaction-session-timeout", {}, RUNTIME,
     r"^idle_in_transaction_session_timeout = 60000$", True),
    ("postgresql-default-effective-io-concurrency", {}, RUNTIME,
     r"^effective_io_concurrency = 1$", True),
    ("postgresql-default-max-worker-processes", {}, RUNTIME, r"^max_worker_processes = 8$",
     True),
    ("postgresql-default-max-parallel-workers-per-gather", {}, RUNTIME,
     r"^max_parallel_workers_per_gather = 0$", True),
    ("postgresql-default-log-lock-waits", {}, RUNTIME, r"^log_lock_waits = 1$", True),
    ("postgresql-default-log-min-duration-statement", {}, RUNTIME,
     r"^log_min_duration_statement = 1000$", True),
    ("postgresql-default-deadlock-timeout", {}, RUNTIME, r"^deadlock_timeout = '5s'$", True),
    ("postgresql-default-track-io-timing-off", {}, RUNTIME, r"^track_io_timing = 'off'$", True),
    ("postgresql-default-statistics-target", {}, RUNTIME, r"^default_statistics_target = 1000$",
     True),
    ("postgresql-default-synchronous-commit-on", {}, RUNTIME, r"^synchronous_commit = on$",
     True),
    ("postgresql-default-log-connections-off", {}, RUNTIME, r"^log_connections = off$", True),
    ("postgresql-default-log-disconnections-off", {}, RUNTIME, r"^log_disconnections = off$",
     True),
    ("postgresql-default-standard-pg-hba", {}, HBA, r"^local +all +all +peer map=gitlab$", True),
    ("postgresql-default-no-cert-auth", {}, HBA, r"cert$", False),
    ("postgresql-user-shared-preload-libraries", USER_SETTINGS, CONF,
     r"^shared_preload_libraries = 'pg_stat_statements'$", True),
    ("postgresql-user-enables-archive-mode", USER_SETTINGS, CONF, r"^archive_mode = on$", True),
    ("postgresql-user-disables-ssl", USER_SETTINGS, CONF, r"^ssl = off$", True),
    ("postgresql-user-ssl-crl-file", USER_SETTINGS, CONF, r"^ssl_crl_file = 'revoke.crl'$", True),
    ("postgresql-user-ssl-ciphers", USER_SETTINGS, CONF, r"^ssl_ciphers = 'ALL'$", True),
    ("postgresql-user-logging-collector", USER_SETTINGS, CONF, r"^logging_collector = on$", True),
    ("postgresql-user-log-destination", USER_SETTINGS, RUNTIME, r"^log_destination = 'csvlog'$",
     True),
    ("postgresql-user-log-truncate-on-rotation", USER_SETTINGS, RUNTIME,
     r"^log_truncate_on_rotation = on$", True),
    ("postgresql-user-log-rotation-age", USER_SETTINGS, RUNTIME, r"^log_rotation_age = 1d$",
     True),
    ("postgresql-user-log-rotation-size", USER_SETTINGS, RUNTIME, r"^log_rotation_size = 10MB$",
     True),
    ("postgresql-user-dynamic-shared-memory-type", USER_SETTINGS, CONF,
     r"^dynamic_shared_memory_type = none$", True),
    ("postgresql-user-wal-log-hints", USER_SETTINGS, CONF, r"^wal_log_hints = on$", True),
    ("postgresql-runtime-log-line-prefix", RUNTIME_SETTINGS, RUNTIME, r"^log_line_prefix = '%a'$",
     True),
    ("postgresql-runtime-log-statement", RUNTIME_SETTINGS, RUNTIME, r"^log_statement = 'all'$",
     True),
    ("postgresql-runtime-max-standby-archive-delay", RUNTIME_SETTINGS, RUNTIME,
     r"^max_standby_archive_delay = 60s$", True),
    ("postgresql-runtime-max-standby-streaming-delay", RUNTIME_SETTINGS, RUNTIME,
     r"^max_standby_streaming_delay = 120s$", True),
    ("postgresql-runtime-archive-command", RUNTIME_SETTINGS, RUNTIME,
     r"^archive_command = 'command'$", True),
    ("postgresql-runtime-archive-timeout", RUNTIME_SETTINGS, RUNTIME, r"^archive_timeout = 120$",
     True),
    ("postgresql-runtime-log-connections", RUNTIME_SETTINGS, RUNTIME, r"^log_connections = on$",
     True),
    ("postgresql-runtime-log-disconnections", RUNTIME_SETTINGS, RUNTIME,
     r"^log_disconnections = on$", True),
    ("postgresql-runtime-max-slot-wal-keep-size", RUNTIME_SETTINGS, RUNTIME,
     r"^max_slot_wal_keep_size = 2GB$", True),
    ("postgresql-hba-prefers-hostssl", HBA_SETTINGS, HBA,
     r"^hostssl +all +all +127\.0\.0\.1/32 +trust$", True),
    ("postgresql-hba-custom-entries", HBA_SETTINGS, HBA, r"^host foo bar 127\.0\.0\.1/32 trust",
     True),
    ("postgresql-hba-cert-auth-address", HBA_SETTINGS, HBA,
     r"^hostssl fakedatabase fakeuser 1\.2\.3\.4/32 cert$", True),
    ("postgresql-hba-cert-auth-hostname", HBA_SETTINGS, HBA,
     r"^hostssl anotherfakedatabase anotherfakeuser fakehostname cert$", True),
]


@pytest.mark.parametrize("settings,path,pattern,present", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_postgresql_files_match_omnibus_gitlab(settings, path, pattern, present):
    found = re.search(pattern, render(settings)[path], re.MULTILINE) is not None
    assert found == present


def test_wal_keep_segments_become_wal_keep_size_in_16mb_segments():
    # libraries/postgresql.rb parse_wal_keep_size: PostgreSQL 13+ has no wal_keep_segments
    assert "wal_keep_size = 160\n" in render()[RUNTIME]
    assert "wal_keep_size = 320\n" in render({"wal_keep_segments": 20})[RUNTIME]
    assert "wal_keep_size = 50\n" in render({"wal_keep_size": 50})[RUNTIME]


#: a value of each applied key's type that no default has
DISTINCT = {"string": "distinct-7z", "text": "distinct-7z", "integer": 7123, "number": 0.713,
            "port": 7123, "boolean": None, "list": ["10.7.7.0/24"], "hash": None}
#: values for the keys whose shape DISTINCT cannot guess
SPECIAL: dict[str, Any] = {
    "cert_auth_addresses": {"10.7.7.7/32": {"database": "d7", "user": "u7"}},
    "custom_pg_hba_entries": {"x7": [{"type": "host", "database": "d7", "user": "u7",
                                      "cidr": "10.7.7.0/24", "method": "md5"}]},
    "sql_replication_user": "replicator7",  # rendered with a trust/md5 network
}
#: keys read only together with another one: what makes them visible
COMPANIONS: dict[str, dict] = {
    "sql_replication_user": {"md5_auth_cidr_addresses": ["10.7.7.0/24"]},
    "hostssl": {"md5_auth_cidr_addresses": ["10.7.7.0/24"]},
}
#: applied keys that configure the account, directories or service, checked elsewhere
NOT_IN_FILES = {"enable", "dir", "username", "group", "home", "shell", "uid", "gid", "sql_user",
                "port", "connect_port", "log_directory",
                # checked in test_pg_runit_tail_peer.py: runit, sysctl, ~/.profile, roles
                "ha", "user_path", "sql_user_password", "sql_superuser_password",
                "sql_replication_password", "shmmax", "shmall", "semmsl", "semmns", "semopm",
                "semmni",
                # the registry's role and database: test_registry_database.py
                "registry",
                # checked in test_postgresql_bin.py: embedded/bin's links and the restart
                "version", "auto_restart_on_version_change"}


def applied_keys() -> list[str]:
    schema = load_schema()
    return sorted(k for k in schema.keys("postgresql")
                  if schema.settings[("postgresql", k)].used and k not in NOT_IN_FILES)


def distinct_value(key: str) -> Any:
    if key in SPECIAL:
        return SPECIAL[key]
    setting = load_schema().settings[("postgresql", key)]
    if setting.type == "boolean":
        return not setting.default
    return DISTINCT[setting.type]


def server_files(settings: dict) -> str:
    files = render(settings)
    return "".join(files[p] for p in (CONF, RUNTIME, HBA, DATA / "pg_ident.conf"))


@pytest.mark.parametrize("key", applied_keys())
def test_every_applied_postgresql_key_reaches_the_server_files(key):
    base = COMPANIONS.get(key, {})
    assert server_files({**base, key: distinct_value(key)}) != server_files(base)


def test_connect_port_is_where_reconfigure_connects():
    context = make_context({"postgresql": {"connect_port": 6432}})
    assert postgresql.connect_port(context) == "6432"
    assert postgresql.connect_port(make_context()) == "5432"
