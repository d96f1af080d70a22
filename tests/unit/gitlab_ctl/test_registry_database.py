"""Peer tests for the container registry's metadata database (services/registry_database.py):
expectations of omnibus-gitlab's specs, checked against what our reconfigure does for the
same gitlab.rb input. Case ids name the spec file they come from:

- registry_spec = spec/chef/cookbooks/registry/recipes/registry_spec.rb
- migrations_recipe = spec/chef/cookbooks/registry/recipes/database_migrations_spec.rb
- migrations_resource = spec/chef/cookbooks/registry/resources/database_migrations_spec.rb
- objects = spec/chef/cookbooks/registry/resources/database_objects_spec.rb
- backup_enable / backup_disable = spec/chef/cookbooks/gitlab/recipes/
  registry_{enable,disable}_backup_restore_credentials_spec.rb
- rails_lib = spec/chef/cookbooks/gitlab/libraries/gitlab_rails_spec.rb

The registry program cannot be built here: `registry database migrate up` is not run; the
tests read the command line reconfigure would run. The SQL is captured from the steps
instead of sent to a server (tests/integration/test_registry_database.py runs it on a real
PostgreSQL). The words are ours, the facts theirs. Also: every key this module applies
changes what reconfigure does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.engine.resources import Absent, File
from gitlab_ctl.services import registry_database
from gitlab_ctl.services.registry_database import md5_password
from tests.unit.gitlab_ctl.test_applied_settings import everything
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

URL = {"registry_external_url": "https://registry.example.com"}
CONFIG = Path("/var/opt/gitlab/registry/config.yml")
ENV = Path("/opt/gitlab/etc/gitlab-backup/env")


def registry_config(settings: dict) -> dict:
    files = {f.path: f.content for f in service_files(make_context({**URL, **settings}))}
    return yaml.safe_load(files[CONFIG])


def config_line(settings: dict) -> str:
    files = {f.path: f.content for f in service_files(make_context({**URL, **settings}))}
    return next(line for line in files[CONFIG].splitlines() if line.startswith("database:"))


# -- config.yml's database section and its defaults --------------------------------------
CONFIG_CASES = [
    ("registry_spec-default-enabled", {}, "enabled", "prefer"),
    ("registry_spec-default-user", {}, "user", "registry"),
    ("registry_spec-default-dbname", {}, "dbname", "registry"),
    ("registry_spec-default-port", {}, "port", 5432),
    ("registry_spec-default-sslmode", {}, "sslmode", "prefer"),
    ("registry_spec-prefer-with-postgresql",
     {"postgresql": {"enable": True}, "registry": {"database": {"enabled": "prefer"}}},
     "enabled", "prefer"),
    ("registry_spec-true-with-postgresql",
     {"postgresql": {"enable": True}, "registry": {"database": {"enabled": True}}},
     "enabled", True),
    ("registry_spec-string-true-with-postgresql",
     {"postgresql": {"enable": True}, "registry": {"database": {"enabled": "true"}}},
     "enabled", "true"),
    ("registry_spec-external-prefer-becomes-false",
     {"postgresql": {"enable": False}, "registry": {"database": {"enabled": "prefer"}}},
     "enabled", "false"),
    ("registry_spec-external-explicit-true",
     {"postgresql": {"enable": False}, "registry": {"database": {"enabled": True}}},
     "enabled", True),
    ("registry_spec-external-false",
     {"postgresql": {"enable": False}, "registry": {"database": {"enabled": False}}},
     "enabled", False),
]


@pytest.mark.parametrize(("case", "settings", "key", "expected"), CONFIG_CASES,
                         ids=[case[0] for case in CONFIG_CASES])
def test_config_yml_database(case: str, settings: dict, key: str, expected: Any) -> None:
    assert registry_config(settings)["database"][key] == expected


def test_registry_spec_populates_default_database_config_exactly() -> None:
    assert config_line({}) == ('database: {"enabled":"prefer","user":"registry","dbname":'
                               '"registry","port":5432,"sslmode":"prefer",'
                               '"host":"/var/opt/gitlab/postgresql"}')


# -- when `registry database migrate up` runs --------------------------------------------
MIGRATE_CASES = [
    ("migrations_recipe-enabled-true", {"enabled": True}, {}, True),
    ("migrations_recipe-enabled-true-auto_migrate-false", {"enabled": True},
     {"auto_migrate": False}, False),
    ("migrations_recipe-enabled-true-external-postgresql", {"enabled": True},
     {"postgresql": False}, True),
    ("migrations_recipe-prefer-with-postgresql", {"enabled": "prefer"}, {}, True),
    ("migrations_recipe-prefer-auto_migrate-false", {"enabled": "prefer"},
     {"auto_migrate": False}, False),
    ("migrations_recipe-prefer-external-postgresql", {"enabled": "prefer"},
     {"postgresql": False}, False),
    ("migrations_recipe-string-true", {"enabled": "true"}, {}, True),
    ("migrations_recipe-string-true-external-postgresql", {"enabled": "true"},
     {"postgresql": False}, True),
    ("migrations_recipe-string-false", {"enabled": "false"}, {}, False),
]


@pytest.mark.parametrize(("case", "database", "options", "runs"), MIGRATE_CASES,
                         ids=[case[0] for case in MIGRATE_CASES])
def test_migrations_run_when(case: str, database: dict, options: dict, runs: bool) -> None:
    registry: dict = {"database": database}
    if "auto_migrate" in options:
        registry["auto_migrate"] = options["auto_migrate"]
    settings = {**URL, "registry": registry,
                "postgresql": {"enable": options.get("postgresql", True)}}
    steps = registry_database.migrations(make_context(settings))
    assert [step.id for step in steps] == (
        ["execute[migrate registry database: registry]"] if runs else [])


def argv(settings: dict | None = None) -> list[str]:
    return registry_database.migrate_argv(make_context({**URL, **(settings or {})}))


def test_migrations_resource_runs_the_registry_binary_with_migrate_up() -> None:
    assert argv()[5:9] == ["/opt/gitlab/embedded/bin/registry", "database", "migrate", "up"]


def test_migrations_resource_default_config_path() -> None:
    assert argv()[-1] == "/var/opt/gitlab/registry/config.yml"


def test_migrations_resource_custom_registry_directory() -> None:
    assert argv({"registry": {"dir": "/var/opt/gitlab/registry-2"}})[-1] == (
        "/var/opt/gitlab/registry-2/config.yml")


def test_migrations_resource_runs_as_the_registry_account() -> None:
    assert argv()[1:5] == ["-u", "registry:registry", "-U", "registry:registry"]


@pytest.mark.parametrize(("value", "flag"), [("true", True), ("false", False)],
                         ids=["migrations_resource-skip-post-deployment-true",
                              "migrations_resource-skip-post-deployment-false"])
def test_migrations_resource_skip_post_deployment(monkeypatch, value: str, flag: bool) -> None:
    monkeypatch.setenv("SKIP_POST_DEPLOYMENT_MIGRATIONS", value)
    assert ("-s" in argv()) is flag


class Completed:
    def __init__(self, returncode: int) -> None:
        self.returncode, self.stdout, self.stderr = returncode, "migrating\n", "boom\n"


def migrate_in(tmp_path: Path, monkeypatch, returncode: int) -> tuple[Any, list]:
    calls: list = []
    monkeypatch.setattr(registry_database.subprocess, "run",
                        lambda argv, **kw: calls.append(argv) or Completed(returncode))
    context = make_context({**URL, "registry": {
        "dir": str(tmp_path / "registry"), "log_directory": str(tmp_path / "log"),
        "username": "nobody-registry-test", "group": "nogroup-registry-test"}})
    (tmp_path / "registry").mkdir()
    return registry_database.migrations(context)[0], calls


def test_migrations_resource_log_file_and_once(tmp_path: Path, monkeypatch) -> None:
    step, calls = migrate_in(tmp_path, monkeypatch, 0)
    assert step.check() is not None
    step.apply()
    logs = list((tmp_path / "log").iterdir())
    assert re.fullmatch(r"db-migrations-\d{4}(-\d\d){5}\.log", logs[0].name)
    assert logs[0].read_text() == "migrating\nboom\n"  # both streams, as `2>&1 | tee`
    assert logs[0].stat().st_mode & 0o777 == 0o600  # umask 077
    assert step.check() is None and len(calls) == 1  # ours: a marker makes re-runs no-ops


def test_migrations_resource_failure_names_the_log(tmp_path: Path, monkeypatch) -> None:
    step, _ = migrate_in(tmp_path, monkeypatch, 3)
    with pytest.raises(Exception, match=r"exited 3; its output is in .*db-migrations-"):
        step.apply()
    assert step.check() is not None  # no marker: the next reconfigure tries again


# -- the database objects on the bundled PostgreSQL --------------------------------------
def objects(settings: dict, monkeypatch) -> list[tuple[str, str]]:
    """(step id, SQL) of every registry object step, against a server that has none."""
    ran: list[tuple[str, str]] = []
    monkeypatch.setattr(registry_database, "_run_sql",
                        lambda id_, argv, sql: ran.append((id_, sql)))
    monkeypatch.setattr(registry_database, "_standby", lambda context: False)
    context = make_context(settings)
    for step in registry_database.database_objects(
            context, lambda sql, database: "f" if "SELECT count" not in sql else "0",
            lambda database: ["psql", "-d", database]):
        assert step.check() is not None
        step.apply()
    return ran


FULL = {"postgresql": {"registry": {
    "database_backup_username": "registry_backup", "database_backup_password": "backuppassword",
    "database_restore_username": "registry_restore",
    "database_restore_password": "restorepassword"}}}
BACKUP_HASH = "md5" + md5_password("backuppassword", "registry_backup")
RESTORE_HASH = "md5" + md5_password("restorepassword", "registry_restore")
GRANTS = "execute[grant registry database backup privileges to registry_backup]"


def sql_of(ran: list[tuple[str, str]], id_: str) -> str:
    return "\n".join(sql for step, sql in ran if step == id_)


def test_objects_backup_user_with_minimal_privileges(monkeypatch) -> None:
    ran = objects(FULL, monkeypatch)
    assert "NOINHERIT NOCREATEDB NOSUPERUSER NOREPLICATION" in sql_of(
        ran, "execute[set options for registry_backup postgresql user]")
    assert BACKUP_HASH in sql_of(ran, "execute[set password for registry_backup postgresql user]")


def test_objects_restore_user_with_superuser(monkeypatch) -> None:
    ran = objects(FULL, monkeypatch)
    assert "SUPERUSER" in sql_of(ran, "execute[set options for registry_restore postgresql user]")
    assert RESTORE_HASH in sql_of(
        ran, "execute[set password for registry_restore postgresql user]")


def test_objects_partitions_schema_owned_by_registry_before_backup_user(monkeypatch) -> None:
    ran = objects(FULL, monkeypatch)
    ids = [step for step, _ in ran]
    schema = "execute[create partitions schema in registry]"
    assert 'AUTHORIZATION "registry"' in sql_of(ran, schema)
    assert ids.index(schema) < ids.index("execute[create registry_backup postgresql user]")


GRANT_PATTERNS = [
    r'GRANT CONNECT ON DATABASE.*registry.*TO.*registry_backup',
    *(rf"GRANT USAGE ON SCHEMA {schema} TO.*registry_backup" for schema in ("public",
                                                                            "partitions")),
    *(rf"GRANT SELECT ON ALL {kind} IN SCHEMA {schema} TO.*registry_backup"
      for kind in ("TABLES", "SEQUENCES") for schema in ("public", "partitions")),
    *(rf"ALTER DEFAULT PRIVILEGES FOR ROLE.*registry.*IN SCHEMA {schema}.*GRANT SELECT ON "
      rf"{kind} TO.*registry_backup" for kind in ("TABLES", "SEQUENCES")
      for schema in ("public", "partitions")),
]


@pytest.mark.parametrize("pattern", GRANT_PATTERNS,
                         ids=[f"objects-grants-{n}" for n in range(len(GRANT_PATTERNS))])
def test_objects_grants_backup_privileges(monkeypatch, pattern: str) -> None:
    assert re.search(pattern, sql_of(objects(FULL, monkeypatch), GRANTS))


def with_registry(**overrides: Any) -> dict:
    return {"postgresql": {"registry": {**FULL["postgresql"]["registry"], **overrides}}}


NO_BACKUP = "execute[create registry_backup postgresql user]"
NO_RESTORE = "execute[create registry_restore postgresql user]"
SCHEMA = "execute[create partitions schema in registry]"
ABSENCE_CASES = [
    ("objects-backup-undefined-no-user",
     with_registry(database_backup_password=None), NO_BACKUP, False),
    ("objects-backup-undefined-no-schema",
     with_registry(database_backup_password=None), SCHEMA, False),
    ("objects-backup-undefined-no-grants",
     with_registry(database_backup_password=None), GRANTS, False),
    ("objects-backup-undefined-restore-still-created",
     with_registry(database_backup_password=None), NO_RESTORE, True),
    ("objects-backup-empty-strings-no-schema",
     {"gitlab_rails": {"backup_registry_user": ""}, **with_registry(
         database_backup_username="", database_backup_password="")}, SCHEMA, False),
    ("objects-backup-empty-password-no-user",
     with_registry(database_backup_password=""), NO_BACKUP, False),
    ("objects-backup-empty-password-no-grants",
     with_registry(database_backup_password=""), GRANTS, False),
    ("objects-restore-undefined-no-user",
     with_registry(database_restore_password=None), NO_RESTORE, False),
    ("objects-restore-undefined-backup-still-created",
     with_registry(database_restore_password=None), NO_BACKUP, True),
    ("objects-restore-undefined-schema-still-created",
     with_registry(database_restore_password=None), SCHEMA, True),
    ("objects-restore-empty-password-no-user",
     with_registry(database_restore_password=""), NO_RESTORE, False),
    ("objects-none-defined-registry-user-created",
     {}, "execute[create registry postgresql user]", True),
    ("objects-none-defined-registry-database-created",
     {}, "execute[create database registry]", True),
    ("objects-none-defined-no-backup-user", {}, NO_BACKUP, False),
    ("objects-none-defined-no-restore-user", {}, NO_RESTORE, False),
]


@pytest.mark.parametrize(("case", "settings", "step", "present"), ABSENCE_CASES,
                         ids=[case[0] for case in ABSENCE_CASES])
def test_objects_created_only_with_credentials(monkeypatch, case: str, settings: dict,
                                               step: str, present: bool) -> None:
    assert (step in [id_ for id_, _ in objects(settings, monkeypatch)]) is present


def test_objects_registry_database_owned_by_registry(monkeypatch) -> None:
    assert 'CREATE DATABASE "registry" OWNER "registry"' in sql_of(
        objects({}, monkeypatch), "execute[create database registry]")


def test_objects_registry_password_from_registry_database(monkeypatch) -> None:
    # omnibus-gitlab's parse_registry_postgresql_settings: MD5 of password + user
    ran = objects({"registry": {"database": {"password": "s3cret"}}}, monkeypatch)
    assert "md5" + md5_password("s3cret", "registry") in sql_of(
        ran, "execute[set password for registry postgresql user]")


def test_objects_none_when_auto_create_is_off(monkeypatch) -> None:
    assert objects({"postgresql": {"registry": {"auto_create": False}}}, monkeypatch) == []


# -- gitlab-backup's env files (backup_role) ---------------------------------------------
def backup_files(settings: dict) -> dict[str, Any]:
    context = make_context({"gitlab_rails": {"backup_role": True, **settings}})
    return {resource.path.name: resource
            for resource in registry_database.backup_env_files(context)}


def env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


CONNECTION = {"host": "localhost", "port": 5432, "dbname": "registry_db", "sslmode": "require",
              "sslcert": "/path/to/cert.pem", "sslkey": "/path/to/key.pem",
              "sslrootcert": "/path/to/root.pem"}


def test_backup_enable_directory_root_0750() -> None:
    directory = backup_files({})["env"]
    assert (directory.path, directory.owner, directory.mode) == (ENV, "root", 0o750)


def test_backup_enable_connection_file() -> None:
    file = backup_files({"backup_registry": {"database_connection": CONNECTION}})[
        "env-connection"]
    assert (file.owner, file.mode, file.sensitive) == ("root", 0o400, True)
    assert env(file.content) == {
        "REGISTRY_DATABASE_HOST": "localhost", "REGISTRY_DATABASE_PORT": "5432",
        "REGISTRY_DATABASE_NAME": "registry_db", "REGISTRY_DATABASE_SSLMODE": "require",
        "REGISTRY_DATABASE_SSLCERT": "/path/to/cert.pem",
        "REGISTRY_DATABASE_SSLKEY": "/path/to/key.pem",
        "REGISTRY_DATABASE_SSLROOTCERT": "/path/to/root.pem"}


@pytest.mark.parametrize(("kind", "settings", "expected"), [
    ("backup", {"backup_registry_user": "backup_user",
                "backup_registry_password": "backup_secret"},
     {"REGISTRY_DATABASE_USER": "backup_user", "REGISTRY_DATABASE_PASSWORD": "backup_secret"}),
    ("backup", {}, {"REGISTRY_DATABASE_USER": "registry_backup"}),
    ("backup", {"backup_registry_user": "backup_user", "backup_registry_password": ""},
     {"REGISTRY_DATABASE_USER": "backup_user"}),
    ("restore", {"restore_registry_user": "restore_user",
                 "restore_registry_password": "restore_secret"},
     {"REGISTRY_DATABASE_USER": "restore_user", "REGISTRY_DATABASE_PASSWORD": "restore_secret"}),
    ("restore", {}, {"REGISTRY_DATABASE_USER": "registry_restore"}),
    ("restore", {"restore_registry_user": "restore_user", "restore_registry_password": ""},
     {"REGISTRY_DATABASE_USER": "restore_user"}),
], ids=["backup_enable-backup-credentials", "backup_enable-backup-default-username",
        "backup_enable-backup-empty-password", "backup_enable-restore-credentials",
        "backup_enable-restore-default-username", "backup_enable-restore-empty-password"])
def test_backup_enable_user_files(kind: str, settings: dict, expected: dict) -> None:
    file = backup_files(settings)[f"env-{kind}_user"]
    assert isinstance(file, File) and (file.mode, file.sensitive) == (0o400, True)
    assert env(file.content) == expected


def test_backup_disable_deletes_the_env_files() -> None:
    resources = registry_database.backup_env_files(make_context({}))
    assert all(isinstance(resource, Absent) for resource in resources)
    assert {resource.path for resource in resources} == {
        ENV / "env-connection", ENV / "env-backup_user", ENV / "env-restore_user"}


def connection(settings: dict) -> dict:
    return registry_database.backup_connection(make_context(settings))


RAILS_LIB_CASES = [
    ("rails_lib-only-database_connection",
     {"gitlab_rails": {"backup_registry": {"database_connection": {
         "host": "rails-db.example.com", "port": 5434, "dbname": "rails_registry",
         "sslmode": "verify-full"}}}},
     {"host": "rails-db.example.com", "port": 5434, "dbname": "rails_registry",
      "sslmode": "verify-full"}),
    ("rails_lib-registry-database-wins",
     {"registry": {"database": {"host": "reg-db.example.com", "port": 5433, "dbname": "reg_db",
                                "sslmode": "require"}},
      "gitlab_rails": {"backup_registry": {"database_connection": {
          "host": "rails-db.example.com", "port": 5434, "dbname": "rails_db",
          "sslmode": "verify-full"}}}},
     {"host": "reg-db.example.com", "port": 5433, "dbname": "reg_db", "sslmode": "require"}),
    ("rails_lib-partial-registry-database",
     {"registry": {"database": {"host": "reg-db.example.com"}},
      "gitlab_rails": {"backup_registry": {"database_connection": {
          "port": 5434, "sslmode": "verify-full", "sslcert": "/path/to/cert.pem"}}}},
     {"host": "reg-db.example.com", "port": 5434, "sslmode": "verify-full",
      "sslcert": "/path/to/cert.pem"}),
    ("rails_lib-partial-database_connection-node-defaults",
     {"registry": {"database": {"enabled": True, "user": "registry_user", "password": "x",
                                "dbname": "registry_db"}},
      "gitlab_rails": {"backup_registry": {"database_connection": {
          "port": 5434, "sslcert": "/custom/cert.pem"}}}},
     {"dbname": "registry_db", "port": 5434, "sslcert": "/custom/cert.pem",
      "sslmode": "prefer", "host": "/var/opt/gitlab/postgresql", "sslkey": None,
      "sslrootcert": None}),
    ("rails_lib-nothing-configured", {},
     {"host": "/var/opt/gitlab/postgresql", "port": 5432, "dbname": "registry",
      "sslmode": "prefer", "sslcert": None, "sslkey": None, "sslrootcert": None}),
]


@pytest.mark.parametrize(("case", "settings", "expected"), RAILS_LIB_CASES,
                         ids=[case[0] for case in RAILS_LIB_CASES])
def test_backup_connection_merge(case: str, settings: dict, expected: dict) -> None:
    merged = connection(settings)
    assert {key: merged[key] for key in expected} == expected


# -- every key this module applies reaches what reconfigure does -------------------------
APPLIED = [
    ("registry", "database", {"dbname": "zz_registry"}),
    ("registry", "auto_migrate", False),
    ("postgresql", "registry", {"dbname": "zz_registry"}),
    ("gitlab_rails", "backup_role", True),
    ("gitlab_rails", "backup_registry_user", "zz_backup"),
    ("gitlab_rails", "backup_registry_password", "zz-secret"),
    ("gitlab_rails", "backup_registry", {"database_connection": {"host": "zz.example.test"}}),
    ("gitlab_rails", "restore_registry_user", "zz_restore"),
    ("gitlab_rails", "restore_registry_password", "zz-secret"),
]


def reconfigure_output(settings: dict) -> str:
    context = make_context({**URL, **settings})
    return "\n".join([*everything(context), *(f.content for f in service_files(context))])


@pytest.mark.parametrize(("section", "key", "value"), APPLIED,
                         ids=[f"{section}-{key}" for section, key, _ in APPLIED])
def test_every_applied_key_changes_the_output(section: str, key: str, value: Any) -> None:
    base = {"gitlab_rails": {"backup_role": True}} if section == "gitlab_rails" and (
        key != "backup_role") else {}
    changed = {**base, section: {**base.get(section, {}), key: value}}
    assert reconfigure_output(changed) != reconfigure_output(base)
