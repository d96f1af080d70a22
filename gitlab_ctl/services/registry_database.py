"""The container registry's metadata database, as omnibus-gitlab manages it:

- registry['database'] completed the way omnibus-gitlab's Registry.parse_database_configuration
  does (host: postgresql['listen_address'] or its socket directory; port: postgresql['port'];
  'prefer' becomes "false" when this node runs no PostgreSQL);
- on the bundled PostgreSQL (postgresql['registry']['auto_create']), the registry's role and
  database, and the backup role (read-only grants, partitions schema) and the restore role
  (SUPERUSER) when their passwords are set (registry/resources/database_objects.rb);
- `registry database migrate up` when the database is enabled and registry['auto_migrate']
  (registry/resources/database_migrations.rb), its output in a log file;
- the env files gitlab-backup reads on a backup_role node
  (gitlab/recipes/registry_{enable,disable}_backup_restore_credentials.rb).

omnibus-gitlab runs the migration on every reconfigure; here a marker keyed by the registry
binary and the database settings makes a no-op reconfigure run none (migrate up would have
nothing to do), and a new binary or a changed database runs it again."""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import os
import pwd
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Absent, Directory, File, ResourceError, Run, Step
from gitlab_ctl.services.base import Context
from gitlab_ctl.services.postgresql_roles import (
    _run_sql,
    _standby,
    password_matches,
    role_literal,
    string_literal,
)

Query = Callable[[str, str], str]  # (sql, database) -> one value, as the superuser
Psql = Callable[[str], list[str]]  # database -> psql argv reading SQL on its stdin
ENABLED_VALUES = ("prefer", "true", True)
#: schema.yml's registry['database'] default: a value equal to it counts as not set when
#: gitlab_rails['backup_registry']['database_connection'] is merged (omnibus-gitlab merges
#: only what gitlab.rb sets)
DATABASE_DEFAULTS = {"enabled": "prefer", "user": "registry", "dbname": "registry",
                     "port": None, "sslmode": "prefer"}
CONNECTION_KEYS = ("host", "port", "dbname", "sslmode", "sslcert", "sslkey", "sslrootcert")
CONNECTION_DEFAULTS = {"port": 5432, "dbname": "registry"}
BACKUP_SCHEMAS = ("public", "partitions")
BACKUP_OPTIONS = "NOINHERIT NOCREATEDB NOSUPERUSER NOREPLICATION"
MARKER = "db-migrations.applied"


def md5_password(password: str, user: str) -> str:
    """omnibus-gitlab's convert_password_to_md5: the hex digest, without its 'md5'."""
    return hashlib.md5(f"{password}{user}".encode()).hexdigest()


def _postgresql_host(context: Context) -> str:
    pg = context.section("postgresql")
    return str(pg.get("listen_address") or pg["dir"]).split(",")[0]


def database(context: Context) -> dict[str, Any]:
    """registry['database'] as config.yml gets it."""
    pg = context.section("postgresql")
    config = dict(context.section("registry").get("database") or {})
    if config.get("port") is None:
        config["port"] = pg.get("port")
    config.setdefault("host", None)
    if config["host"] is None:
        config["host"] = _postgresql_host(context)
    if config.get("enabled") == "prefer" and not pg.get("enable"):
        config["enabled"] = "false"  # only a GitLab-managed PostgreSQL has the database
    return config


def enabled(context: Context) -> bool:
    return database(context).get("enabled") in ENABLED_VALUES


def roles(context: Context) -> dict[str, Any]:
    """postgresql['registry'] completed as omnibus-gitlab's parse_registry_postgresql_settings
    does: the registry's user/dbname, its password and the backup/restore roles' passwords
    as MD5 hex digests."""
    registry_db = context.section("registry").get("database") or {}
    rails = context.section("gitlab_rails")
    config = dict(context.section("postgresql").get("registry") or {})
    for key, default in (("user", "registry"), ("dbname", "registry")):
        config[key] = config.get(key) or registry_db.get(key) or default
    if config.get("password") is None and registry_db.get("password"):
        config["password"] = md5_password(str(registry_db["password"]), config["user"])
    for kind in ("backup", "restore"):
        user = rails.get(f"{kind}_registry_user")
        if user == f"registry_{kind}":  # the default: postgresql['registry']'s name wins
            user = config.get(f"database_{kind}_username") or user
        password = rails.get(f"{kind}_registry_password") or config.get(
            f"database_{kind}_password")
        config[f"database_{kind}_username"] = user
        config[f"database_{kind}_password"] = (md5_password(str(password), str(user))
                                               if password else None)
    return config


def _sql_step(name: str, change: str, done: Callable[[], bool], sql: str,
              argv: list[str]) -> Step:
    id_ = f"execute[{name}]"
    return Step(id_, lambda run: None if done() else [change],
                lambda run: _run_sql(id_, argv, sql))


def _role_steps(name: str, password: str | None, options: str, query: Query,
                psql: Psql) -> list[Step]:
    """The role, its options and its password ('md5' + the digest), each only when it
    differs from what pg_roles/pg_authid say."""
    literal, role = string_literal(name), role_literal(name)
    steps = [_sql_step(f"create {name} postgresql user", f"create role {name}",
                       lambda: query(f"SELECT count(*) FROM pg_roles WHERE rolname = {literal}",
                                     "template1") == "1",
                       f"CREATE USER {role}", psql("template1"))]
    if options:
        wanted = {"SUPERUSER": "rolsuper", "NOINHERIT": "NOT rolinherit",
                  "NOCREATEDB": "NOT rolcreatedb", "NOSUPERUSER": "NOT rolsuper",
                  "NOREPLICATION": "NOT rolreplication"}
        holds = " AND ".join(wanted[option] for option in options.split())
        steps.append(_sql_step(
            f"set options for {name} postgresql user", f"give role {name} {options}",
            lambda: query(f"SELECT {holds} FROM pg_roles WHERE rolname = {literal}",
                          "template1") == "t",
            f"ALTER USER {role} {options}", psql("template1")))
    if password:
        hashed = f"md5{password}"
        steps.append(_sql_step(
            f"set password for {name} postgresql user",
            f"set the password of role {name} (value hidden)",
            lambda: password_matches(query(f"SELECT coalesce(rolpassword, '') FROM pg_authid "
                                           f"WHERE rolname = {literal}", "template1"),
                                     hashed, name),
            f"ALTER USER {role} WITH PASSWORD {string_literal(hashed)}", psql("template1")))
    return steps


def _backup_grants_done(query: Query, dbname: str, owner: str, user: str) -> bool:
    target = string_literal(user)
    checks = [
        f"EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = "
        f"{string_literal(dbname)} AND a.privilege_type = 'CONNECT' AND a.grantee = "
        f"(SELECT oid FROM pg_roles WHERE rolname = {target}))",
        *(f"has_schema_privilege({target}, '{schema}', 'USAGE')" for schema in BACKUP_SCHEMAS),
        f"NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname IN ('public', 'partitions') AND c.relkind IN ('r', 'p', 'S') AND NOT "
        f"has_table_privilege({target}, c.oid, 'SELECT'))",
        f"(SELECT count(*) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = "
        f"d.defaclnamespace, aclexplode(d.defaclacl) a WHERE d.defaclrole = (SELECT oid FROM "
        f"pg_roles WHERE rolname = {string_literal(owner)}) AND n.nspname IN ('public', "
        f"'partitions') AND d.defaclobjtype IN ('r', 'S') AND a.privilege_type = 'SELECT' AND "
        f"a.grantee = (SELECT oid FROM pg_roles WHERE rolname = {target})) = 4"]
    return query("SELECT " + " AND ".join(checks), dbname) == "t"


def _backup_grants_sql(dbname: str, owner: str, user: str) -> str:
    role, owner_role = role_literal(user), role_literal(owner)
    lines = [f"GRANT CONNECT ON DATABASE {role_literal(dbname)} TO {role};"]
    for schema in BACKUP_SCHEMAS:
        lines += [f"GRANT USAGE ON SCHEMA {schema} TO {role};",
                  f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};",
                  f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};",
                  f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA {schema} "
                  f"GRANT SELECT ON TABLES TO {role};",
                  f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA {schema} "
                  f"GRANT SELECT ON SEQUENCES TO {role};"]
    return "\n".join(lines)


def _backup_steps(config: Mapping[str, Any], query: Query, psql: Psql) -> list[Step]:
    user, owner, dbname = (config["database_backup_username"], config["user"],
                           config["dbname"])
    if not user or not config.get("database_backup_password"):
        return []
    return [
        _sql_step(f"create partitions schema in {dbname}", "create schema partitions",
                  lambda: query("SELECT count(*) FROM pg_namespace WHERE nspname = "
                                "'partitions'", dbname) == "1",
                  f"CREATE SCHEMA IF NOT EXISTS partitions AUTHORIZATION {role_literal(owner)}",
                  psql(dbname)),
        *_role_steps(user, config["database_backup_password"], BACKUP_OPTIONS, query, psql),
        _sql_step(f"grant registry database backup privileges to {user}",
                  f"grant {user} read access to {dbname}",
                  lambda: _backup_grants_done(query, dbname, owner, user),
                  _backup_grants_sql(dbname, owner, user), psql(dbname))]


def database_objects(context: Context, query: Query, psql: Psql) -> list[Step]:
    """The bundled PostgreSQL's registry objects (after its own role and database); none on
    a standby, or when postgresql['registry']['auto_create'] is off."""
    config = roles(context)
    if not config.get("auto_create") or _standby(context):
        return []
    user, dbname = config["user"], config["dbname"]
    steps = _role_steps(user, config.get("password"), "", query, psql)
    steps.append(_sql_step(
        f"create database {dbname}", f"create database {dbname} owned by {user}",
        lambda: query(f"SELECT count(*) FROM pg_database WHERE datname = "
                      f"{string_literal(dbname)}", "template1") == "1",
        f"CREATE DATABASE {role_literal(dbname)} OWNER {role_literal(user)}",
        psql("template1")))
    steps += _backup_steps(config, query, psql)
    restore, password = config["database_restore_username"], config[
        "database_restore_password"]
    if restore and password:
        steps += _role_steps(restore, password, "SUPERUSER", query, psql)
    return steps


def should_migrate(context: Context) -> bool:
    """omnibus-gitlab's should_run_migrations?: the database is enabled (true, "true", or
    "prefer" with the bundled PostgreSQL) and registry['auto_migrate'] is on."""
    return enabled(context) and bool(context.section("registry").get("auto_migrate"))


def _skip_post_deployment() -> bool:
    return os.environ.get("SKIP_POST_DEPLOYMENT_MIGRATIONS", "").lower() == "true"


def migrate_argv(context: Context) -> list[str]:
    """`registry database migrate up [-s] <dir>/config.yml`, as the registry's account."""
    registry = context.section("registry")
    user = f"{registry['username']}:{registry['group']}"
    return [str(context.layout.embedded / "bin" / "chpst"), "-u", user, "-U", user,
            str(context.layout.embedded / "bin" / "registry"), "database", "migrate", "up",
            *(["-s"] if _skip_post_deployment() else []),
            str(Path(registry["dir"]) / "config.yml")]


def migration_key(context: Context) -> str:
    """What decides whether migrate up has work: the registry binary (a new release brings
    migrations), the database it talks to and whether post-deployment ones were skipped."""
    binary = context.layout.embedded / "bin" / "registry"
    stat = binary.stat() if binary.exists() else None
    key = {"binary": [stat.st_size, stat.st_mtime_ns] if stat else None,
           "database": database(context), "skip_post_deployment": _skip_post_deployment()}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _write_log(context: Context, output: str) -> Path:
    registry = context.section("registry")
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
    log = Path(registry["log_directory"]) / f"db-migrations-{stamp}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(output)
    # an account that does not exist (a test without it): root keeps the log
    with contextlib.suppress(KeyError, PermissionError):
        os.chown(log, *_ids(registry))
    return log


def _ids(registry: Mapping[str, Any]) -> tuple[int, int]:
    return pwd.getpwnam(registry["username"]).pw_uid, grp.getgrnam(registry["group"]).gr_gid


def migrations(context: Context) -> list[Step]:
    """The registry's after_start: migrate up once per migration_key; a failure names its
    log and leaves no marker, so the next reconfigure tries again."""
    if not should_migrate(context):
        return []
    marker = Path(context.section("registry")["dir"]) / MARKER
    id_ = "execute[migrate registry database: registry]"

    def check(run: Run) -> list[str] | None:
        done = marker.exists() and marker.read_text().strip() == migration_key(context)
        return None if done else ["run registry database migrate up"]

    def apply(run: Run) -> None:
        result = subprocess.run(migrate_argv(context), capture_output=True, text=True, cwd="/")
        log = _write_log(context, result.stdout + result.stderr)
        if result.returncode != 0:
            raise ResourceError(id_, f"`registry database migrate up` exited "
                                f"{result.returncode}; its output is in {log}",
                                hint="fix what the log says (is the registry database "
                                "reachable with registry['database']?), then run reconfigure "
                                "again; registry['auto_migrate'] = false skips it")
        marker.write_text(migration_key(context) + "\n")

    return [Step(id_, check, apply)]


def _env_lines(values: Mapping[str, Any]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items()
                   if value is not None and str(value) != "")


def backup_connection(context: Context) -> dict[str, Any]:
    """gitlab_rails['backup_registry']['database_connection'] as omnibus-gitlab's
    GitlabRails.parse_registry_postgresql_settings merges it: registry['database'] (what
    gitlab.rb sets), then this hash, then the defaults; the host falls back to PostgreSQL's."""
    registry_db = context.section("registry").get("database") or {}
    rails = ((context.section("gitlab_rails").get("backup_registry") or {})
             .get("database_connection") or {})
    merged = {}
    for key in CONNECTION_KEYS:
        own = registry_db.get(key)
        if own is not None and own == DATABASE_DEFAULTS.get(key, object()):
            own = None
        candidates = (own, rails.get(key), DATABASE_DEFAULTS.get(key),
                      CONNECTION_DEFAULTS.get(key))
        merged[key] = next((value for value in candidates if value is not None), None)
    if merged["host"] is None:
        merged["host"] = _postgresql_host(context)
    return merged


def backup_env_files(context: Context) -> list:
    """gitlab_rails['backup_role']: the registry database's connection and the backup and
    restore users for gitlab-backup-cli, root-only; without it, none of them."""
    env_dir = context.layout.install_dir / "etc" / "gitlab-backup" / "env"
    names = ("env-connection", "env-backup_user", "env-restore_user")
    rails = context.section("gitlab_rails")
    if not rails.get("backup_role"):
        return [Absent(env_dir / name) for name in names]
    connection = backup_connection(context)
    files: list = [Directory(env_dir, mode=0o750), File(
        env_dir / names[0], _env_lines({f"REGISTRY_DATABASE_{key.upper()}": connection[key]
                                        for key in CONNECTION_KEYS}).replace(
            "REGISTRY_DATABASE_DBNAME", "REGISTRY_DATABASE_NAME"), mode=0o400, sensitive=True)]
    for kind, name in (("backup", names[1]), ("restore", names[2])):
        user = rails.get(f"{kind}_registry_user")
        if not user:
            files.append(Absent(env_dir / name))
            continue
        files.append(File(env_dir / name, _env_lines(
            {"REGISTRY_DATABASE_USER": user,
             "REGISTRY_DATABASE_PASSWORD": rails.get(f"{kind}_registry_password")}),
            mode=0o400, sensitive=True))
    return files
