"""PostgreSQL: the gitlab-psql account, initdb, its config files, the runit service, and the
gitlab role and database that Rails connects to over the Unix socket (peer auth, mapped)."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

from gitlab_ctl.engine.resources import (
    Command,
    Directory,
    File,
    Group,
    ResourceError,
    Run,
    Skip,
    Step,
    User,
)
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources, wants_up
from gitlab_ctl.engine.sysctl import kernel_parameters
from gitlab_ctl.services import postgresql_bin, postgresql_roles, registry_database
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.configcheck import ConfigCheck

READY_TIMEOUT = 60.0
#: runsv writes its first status record just after it is seen alive: a service that looks
#: "not kept up" for this long really is down
DOWN_GRACE = 2.0


def data_dir(context: Context) -> Path:
    return Path(context.section("postgresql")["dir"]) / "data"


#: Settings PostgreSQL reads as booleans: gitlab.rb may give true/false or 'on'/'off'
ON_OFF_PARAMETERS = ("log_checkpoints", "log_connections", "log_disconnections", "autovacuum",
                     "track_io_timing", "log_lock_waits", "hot_standby", "hot_standby_feedback",
                     "wal_log_hints", "log_truncate_on_rotation", "logging_collector", "ssl")
#: wal_keep_segments is gone since PostgreSQL 13: omnibus-gitlab turns it into wal_keep_size
#: (segments of 16 MB) when wal_keep_size is unset
WAL_SEGMENT_MB = 16


def _on_off(value: object) -> object:
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def settings(context: Context) -> dict:
    """The postgresql section with what omnibus-gitlab computes from the host."""
    values = dict(context.section("postgresql"))
    if values.get("shared_buffers") is None:
        values["shared_buffers"] = f"{max(128, context.facts.memory_kb // 4 // 1024)}MB"
    if values.get("effective_cache_size") is None:
        values["effective_cache_size"] = f"{max(128, context.facts.memory_kb // 2 // 1024)}MB"
    if values.get("ssl_ca_file") is None:
        values["ssl_ca_file"] = str(context.layout.embedded / "ssl" / "certs" / "cacert.pem")
    if values.get("wal_keep_size") is None:
        values["wal_keep_size"] = int(values["wal_keep_segments"] or 0) * WAL_SEGMENT_MB
    for name in ON_OFF_PARAMETERS:
        values[name] = _on_off(values.get(name))
    return values


#: omnibus-gitlab's shared memory defaults: larger on 64-bit machines
SHM_DEFAULTS = {True: (17179869184, 4194304), False: (4294967295, 1048575)}


def sysctl_values(context: Context) -> dict[str, object]:
    """The kernel parameters omnibus-gitlab's postgresql::sysctl recipe sets."""
    pg = context.section("postgresql")
    shmmax, shmall = SHM_DEFAULTS[platform.machine() in ("x86_64", "aarch64")]
    semmni = pg.get("semmni")
    if semmni is None:
        semmni = int(pg["max_connections"]) // 16 + 250
    sem = " ".join(str(value) for value in (pg["semmsl"], pg["semmns"], pg["semopm"], semmni))
    return {"kernel.shmmax": shmmax if pg.get("shmmax") is None else pg["shmmax"],
            "kernel.shmall": shmall if pg.get("shmall") is None else pg["shmall"],
            "kernel.sem": sem}


def user_profile(context: Context, home: str) -> File:
    """The account's ~/.profile, so a shell as gitlab-psql finds the bundled programs."""
    pg = context.section("postgresql")
    path = pg.get("user_path") or (f"{context.layout.embedded / 'bin'}:"
                                   f"{context.layout.install_dir / 'bin'}:$PATH")
    return File(Path(home) / ".profile", f"PATH={path}\n", owner=pg["username"], mode=0o600)


def _as_postgres(context: Context, program: str, *args: str) -> list[str]:
    pg = context.section("postgresql")
    user = f"{pg['username']}:{pg['group']}"
    return [str(context.layout.embedded / "bin" / "chpst"), "-u", user, "-U", user,
            str(context.layout.embedded / "bin" / program), *args]


def connect_port(context: Context) -> str:
    """The port reconfigure's own psql connects to (omnibus-gitlab's connect_port, for a
    server reached through a pooler); the server's port when unset."""
    pg = context.section("postgresql")
    return str(pg.get("connect_port") or pg["port"])


def query(context: Context, sql: str, database: str = "template1") -> str:
    """One value from the server, as the database superuser over the socket."""
    pg = context.section("postgresql")
    argv = _as_postgres(context, "psql", "-h", pg["dir"], "-p", connect_port(context), "-d",
                        database, "-tAXqc", sql)
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/")
    if result.returncode != 0:
        raise Skip(f"PostgreSQL does not answer ({result.stderr.strip() or 'no output'})",
                   hint=f"see {pg['log_directory']}/current; `gitlab-ctl status postgresql` "
                   "shows whether it runs")
    return result.stdout.strip()


def configure(context: Context) -> list:
    pg = settings(context)
    owner = {"owner": pg["username"], "group": pg["group"]}
    notify = (("hup", "postgresql"),)
    data = data_dir(context)
    home = pg["home"] or pg["dir"]
    server_files = (
        context.template(data / "postgresql.conf", "postgresql/postgresql.conf.j2", **owner,
                         notifies=notify, pg=pg),
        context.template(data / "runtime.conf", "postgresql/runtime.conf.j2", **owner,
                         notifies=notify, pg=pg),
    )
    return [
        *postgresql_bin.binaries(context, lambda sql: query(context, sql)),  # before initdb
        Group(pg["group"], pg.get("gid")),
        User(pg["username"], pg["group"], home, pg["shell"], pg.get("uid")),
        Directory(Path(pg["dir"]), **owner, mode=0o2775),
        *([] if home == pg["dir"] else [Directory(Path(home), **owner, mode=0o2775)]),
        user_profile(context, home),
        *kernel_parameters(bool(context.section("package")["modify_kernel_parameters"]),
                           context.layout.install_dir / "etc" / "sysctl", sysctl_values(context)),
        Directory(data, **owner, mode=0o700),
        Command("initdb", _as_postgres(context, "initdb", "-D", str(data), "-E", "UTF8",
                                       "--locale=C", "--auth-local=peer", "--auth-host=md5"),
                guard=(data / "PG_VERSION").exists),
        config_check(context, server_files).step(),  # before either file is replaced
        *server_files,
        context.template(data / "pg_hba.conf", "postgresql/pg_hba.conf.j2", **owner,
                         notifies=notify, pg=pg),
        context.template(data / "pg_ident.conf", "postgresql/pg_ident.conf.j2", **owner,
                         notifies=notify, pg=pg),
        context.template(context.layout.install_dir / "etc" / "gitlab-psql-rc",
                         "postgresql/gitlab-psql-rc.j2", pg=pg),
    ]


def config_check(context: Context, files: tuple) -> ConfigCheck:
    """`postgres -C` parses the configuration file and what it includes (runtime.conf,
    next to the copy) and fails on an unknown setting, a bad value or a syntax error. It may
    run beside the live server. pg_hba.conf and pg_ident.conf are only read when the server
    starts or reloads (a reload with errors keeps the previous rules): no program checks
    them beforehand."""
    pg = context.section("postgresql")
    data = data_dir(context)
    return ConfigCheck(
        "postgresql", context.layout.embedded / "bin" / "postgres", files, data,
        owner=pg["username"], group=pg["group"],
        argv=lambda scratch: _as_postgres(context, "postgres", "-D", str(data), "-C",
                                          "data_directory", "-c",
                                          f"config_file={scratch / 'postgresql.conf'}"))


def _not_running(context: Context) -> ResourceError:
    return ResourceError("wait[postgresql]", "PostgreSQL is not running, so the gitlab role, "
                         "database and extensions cannot be checked",
                         hint="start it with `gitlab-ctl start postgresql` (`gitlab-ctl "
                         "status postgresql` shows its state), then run reconfigure again")


def _wait_ready(context: Context, timeout: float = READY_TIMEOUT) -> Step:
    """Wait until the server answers a query, as pg_isready's "accepting connections": a
    socket file proves nothing (a killed server leaves it behind, and a server in crash
    recovery has one but says "the database system is starting up"). A server runit does
    not keep up (stopped, or runsv gone) fails at once; one that never answers fails after
    `timeout` with its last answer."""
    def answer() -> str | None:
        try:
            query(context, "SELECT 1")
            return None
        except Skip as reason:
            return str(reason)

    def check(run: Run) -> list[str] | None:
        return None if answer() is None else ["wait for PostgreSQL to accept connections"]

    def apply(run: Run) -> None:
        deadline = time.monotonic() + timeout
        kept_up = time.monotonic()  # when runit was last seen keeping it up
        while (reason := answer()) is not None:
            if wants_up(context.layout, "postgresql"):
                kept_up = time.monotonic()
            elif time.monotonic() - kept_up > DOWN_GRACE:
                raise _not_running(context)
            if time.monotonic() > deadline:
                raise ResourceError(
                    "wait[postgresql]", f"PostgreSQL did not accept connections in "
                    f"{timeout:.0f} s: {reason}",
                    hint=f"see {context.section('postgresql')['log_directory']}/current")
            time.sleep(0.2)

    return Step("wait[postgresql]", check, apply)


def _object_command(context: Context, name: str, sql: str, exists: str,
                    database: str = "template1") -> Command:
    def guard() -> bool:
        # wait[postgresql] ran just before: a server that does not answer now fails the run
        return query(context, exists, database) == "1"

    pg = context.section("postgresql")
    argv = _as_postgres(context, "psql", "-h", pg["dir"], "-p", connect_port(context), "-d",
                        database, "-v", "ON_ERROR_STOP=1", "-tAXqc", sql)
    return Command(name, argv, guard=guard, cwd=Path("/"))


def database_objects(context: Context) -> list:
    # omnibus-gitlab's database_objects recipe: the role is postgresql['sql_user'] (Rails
    # connects as gitlab_rails['db_username'], the same "gitlab" unless one is changed)
    user = context.section("postgresql")["sql_user"]
    database = context.section("gitlab_rails")["db_database"]
    objects = [
        _object_command(context, f"create role {user}", f'CREATE USER "{user}"',
                        f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'"),
        _object_command(context, f"create database {database}",
                        f'CREATE DATABASE "{database}" OWNER "{user}"',
                        f"SELECT 1 FROM pg_database WHERE datname = '{database}'"),
    ]
    for extension in ("pg_trgm", "btree_gist", "amcheck"):
        objects.append(_object_command(
            context, f"enable extension {extension}", f"CREATE EXTENSION IF NOT EXISTS {extension}",
            f"SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = '{extension}')"
            f" OR NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = '{extension}')"
            " THEN 1 ELSE 0 END", database))
    return objects


def supervise(context: Context) -> list:
    pg = context.section("postgresql")
    run_script = context.render("runit/postgresql.run.j2", pg=pg, data=data_dir(context))
    definition = ServiceDefinition("postgresql", run_script, Path(pg["log_directory"]),
                                   log_owner=pg["username"], reload_action="hup",
                                   start_down=pg["ha"])
    return service_resources(context.layout, definition, context.section("logging"))


def after_start(context: Context) -> list:
    pg = context.section("postgresql")
    def psql(database: str) -> list[str]:
        return _as_postgres(context, "psql", "-h", pg["dir"], "-p", connect_port(context),
                            "-d", database)

    return [_wait_ready(context), *database_objects(context),
            *postgresql_roles.role_passwords(context, lambda sql: query(context, sql),
                                             psql("template1")),
            *registry_database.database_objects(
                context, lambda sql, database: query(context, sql, database), psql)]


def pending_restart(context: Context) -> list[str]:
    """A reload leaves some settings (shared_buffers, max_connections, ...) waiting for a
    restart; restarting the database on its own would cut every connection, so say so."""
    for _ in range(20):  # the server applies a reload asynchronously
        try:
            names = query(context, "SELECT string_agg(name, ', ' ORDER BY name) FROM pg_settings"
                          " WHERE pending_restart")
        except Skip:
            return []
        if names:
            return [f"postgresql: {names} change only when PostgreSQL restarts; run "
                    "`gitlab-ctl restart postgresql` when a short outage is acceptable"]
        time.sleep(0.1)
    return []


SERVICE = Service("postgresql", "postgresql", "embedded/bin/postgres", configure, supervise,
                  after_start, pending_restart)
