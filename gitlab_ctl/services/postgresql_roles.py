"""PostgreSQL roles and their passwords, as omnibus-gitlab's database_objects resource sets
them: the superuser account's password (postgresql['sql_superuser_password'], as given),
the gitlab role's (sql_user_password: the MD5 hash `gitlab-ctl pg-password-md5` prints,
stored as 'md5<hash>') and the replication role (sql_replication_user, with REPLICATION and
sql_replication_password, also an MD5 hash). A password is set only when the stored one
differs; nothing is done on a standby, which is read-only.

A password never shows: the check says which role changes, and the statement goes to psql
on its standard input, so neither the output nor the process list carries it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from gitlab_ctl.engine.resources import ResourceError, Run, Step
from gitlab_ctl.services.base import Context

Query = Callable[[str], str]  # one value from the server, as the superuser
MD5_HASH = re.compile(r"^md5[0-9a-f]{32}$")
SCRAM = re.compile(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$")
STANDBY_SIGNALS = ("standby.signal", "recovery.signal")


def role_literal(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def hashed(password: str) -> str:
    """What gitlab.rb's sql_user_password / sql_replication_password become: omnibus-gitlab
    prefixes the MD5 hash with 'md5'; a SCRAM verifier is taken as it is."""
    return password if SCRAM.match(password) else f"md5{password}"


def _scram_matches(stored: str, password: str) -> bool:
    match = SCRAM.match(stored)
    if match is None:
        return False
    iterations, salt, stored_key, server_key = match.groups()
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    return (base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
            and base64.b64encode(server).decode() == server_key)


def password_matches(stored: str, wanted: str, role: str) -> bool:
    """Whether pg_authid's `stored` password is `wanted`: hashes compare as they are (as
    omnibus-gitlab's user_password_match?); a plain password is hashed the way the
    stored one is, MD5 or SCRAM, so a server hashing with SCRAM is not asked again."""
    if MD5_HASH.match(wanted) or SCRAM.match(wanted):
        return stored == wanted
    if stored.startswith("md5"):
        return stored == "md5" + hashlib.md5(f"{wanted}{role}".encode()).hexdigest()
    return _scram_matches(stored, wanted)


def _run_sql(resource: str, argv: Sequence[str], sql: str) -> None:
    result = subprocess.run([*argv, "-v", "ON_ERROR_STOP=1", "-tAXq"], input=sql,
                            capture_output=True, text=True, cwd="/")
    if result.returncode != 0:  # psql's error names the statement's role, not the secret
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ResourceError(resource, f"psql exited {result.returncode}: {last}")


def _standby(context: Context) -> bool:
    data = Path(context.section("postgresql")["dir"]) / "data"
    return any((data / name).exists() for name in STANDBY_SIGNALS)


def _statement(id_: str, change: str, done: Callable[[], bool], sql: str,
               argv: Sequence[str], standby: bool) -> Step:
    def check(run: Run) -> list[str] | None:
        return None if standby or done() else [change]

    return Step(id_, check, lambda run: _run_sql(id_, argv, sql))


def _stored(query: Query, role: str) -> str:
    return query(f"SELECT coalesce(rolpassword, '') FROM pg_authid "
                 f"WHERE rolname = {string_literal(role)}")


def _password(role: str, password: str, query: Query, argv: Sequence[str],
              standby: bool) -> Step:
    return _statement(
        f"execute[set password for {role} postgresql user]",
        f"set the password of role {role} (value hidden)",
        lambda: password_matches(_stored(query, role), password, role),
        f"ALTER USER {role_literal(role)} WITH PASSWORD {string_literal(password)}", argv,
        standby)


def role_passwords(context: Context, query: Query, argv: Sequence[str]) -> list[Step]:
    """`argv`: psql connected to template1 as the superuser, the SQL to come on stdin."""
    pg = context.section("postgresql")
    standby = _standby(context)
    steps = []
    if pg.get("sql_superuser_password") is not None:
        steps.append(_password(pg["username"], str(pg["sql_superuser_password"]), query, argv,
                               standby))
    if pg.get("sql_user_password") is not None:
        steps.append(_password(pg["sql_user"], hashed(str(pg["sql_user_password"])), query,
                               argv, standby))
    replicator = pg["sql_replication_user"]
    literal = string_literal(replicator)
    steps += [
        _statement(f"execute[create {replicator} postgresql user]",
                   f"create role {replicator}",
                   lambda: query(f"SELECT count(*) FROM pg_roles WHERE rolname = {literal}")
                   == "1", f"CREATE USER {role_literal(replicator)}", argv, standby),
        _statement(f"execute[set options for {replicator} postgresql user]",
                   f"give role {replicator} REPLICATION",
                   lambda: query(f"SELECT rolreplication FROM pg_roles WHERE rolname = "
                                 f"{literal}") == "t",
                   f"ALTER USER {role_literal(replicator)} REPLICATION", argv, standby)]
    if pg.get("sql_replication_password") is not None:
        steps.append(_password(replicator, hashed(str(pg["sql_replication_password"])), query,
                               argv, standby))
    return steps
