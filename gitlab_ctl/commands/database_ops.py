"""omnibus-gitlab's database commands that work with this package's PostgreSQL and Redis:
get-redis-master, pg-password-md5 and set-replication-password."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitlab_ctl.commands.console import out
from gitlab_ctl.commands.ops import installed_attributes
from gitlab_ctl.engine import runit
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout
from gitlab_ctl.services.postgresql_roles import role_literal, string_literal

Out = Callable[[str], None]


class PasswordMismatch(GitlabCtlError):
    def __init__(self) -> None:
        super().__init__("", "Passwords do not match")


def read_password(prompt: Callable[[str], str] = getpass.getpass) -> str:
    """omnibus-gitlab's get_password: on a terminal asked twice, and both must match;
    otherwise the first line of standard input (for scripts)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    password = prompt("Enter password: ")
    if prompt("Confirm password: ") != password:
        raise PasswordMismatch()
    return password


def md5_password_hash(user: str, password: str) -> str:
    """PostgreSQL's MD5 password hash, without its 'md5' prefix, as omnibus-gitlab prints
    it for gitlab.rb's sql_user_password (reconfigure adds the prefix)."""
    return hashlib.md5(f"{password}{user}".encode()).hexdigest()


# --- get-redis-master ------------------------------------------------------------------


def redis_cli(layout: Layout, *args: str, password: str | None = None
              ) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"REDISCLI_AUTH": password} if password else {})}
    return subprocess.run([str(layout.embedded / "bin" / "redis-cli"), *args],
                          capture_output=True, text=True, env=env, timeout=30)


def tls_arguments(rails: Mapping[str, Any]) -> list[str]:
    """omnibus-gitlab's --tls options for redis-cli, from gitlab_rails['redis_tls_*']."""
    if not rails.get("redis_ssl"):
        return []
    options = {"cacert": "redis_tls_ca_cert_file", "cacertdir": "redis_tls_ca_cert_dir",
               "cert": "redis_tls_client_cert_file", "key": "redis_tls_client_key_file"}
    return ["--tls", *(item for option, key in options.items() if rails.get(key)
                       for item in (f"--{option}", str(rails[key])))]


def master_line(host: str, port: str) -> str:
    return f"Redis master found at host {host} listening on port {port}"


def from_sentinels(layout: Layout, attributes: Mapping[str, Any], out: Out) -> int:
    """Ask each Sentinel in turn for redis['master_name']'s address, as omnibus-gitlab."""
    rails, redis = attributes["gitlab_rails"], attributes["redis"]
    if not redis.get("master_name"):
        out("No Redis master name defined in /etc/gitlab/gitlab.rb. Exiting.")
        return 1
    for sentinel in rails["redis_sentinels"]:
        host, port = str(sentinel.get("host")), str(sentinel.get("port", 26379))
        result = redis_cli(layout, "-h", host, "-p", port, *tls_arguments(rails), "SENTINEL",
                           "get-master-addr-by-name", redis["master_name"],
                           password=rails.get("redis_sentinels_password"))
        answer = result.stdout.split()
        if result.returncode == 0 and len(answer) == 2:
            out(master_line(*answer))
            return 0
        out(f"Error fetching Redis master information from sentinel running at "
            f"`{host}:{port}`. Trying a different sentinel node.")
    out("Failed to fetch Redis master host and port.")
    return 1


def replication_info(text: str) -> dict[str, str]:
    """INFO replication's `key:value` lines."""
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def from_local_redis(layout: Layout, redis: Mapping[str, Any], out: Out) -> int:
    """No Sentinels: the bundled Redis says whether it is the master (then its own address)
    or a replica (then its master's)."""
    result = redis_cli(layout, "-s", str(redis["unixsocket"]), "INFO", "replication",
                       password=redis.get("password"))
    info = replication_info(result.stdout)
    if result.returncode != 0 or "role" not in info:
        raise GitlabCtlError(str(redis["unixsocket"]), "Redis does not answer: "
                             f"{(result.stderr or result.stdout).strip() or 'no output'}",
                             hint="`gitlab-ctl status redis` shows whether it runs")
    if info["role"] != "master":
        out(master_line(info.get("master_host", "?"), info.get("master_port", "?")))
    elif redis.get("port"):
        out(master_line(str(redis["bind"]).split()[0], str(redis["port"])))
    else:  # port 0: the bundled Redis listens on its socket only
        out(f"Redis master found at unix socket {redis['unixsocket']} (redis['port'] is 0: "
            "no TCP port)")
    return 0


def get_redis_master(layout: Layout, out: Out) -> int:
    _settings, attributes = installed_attributes(layout)
    if attributes["gitlab_rails"].get("redis_sentinels"):
        return from_sentinels(layout, attributes, out)
    if "redis" in runit.enabled_services(layout):
        return from_local_redis(layout, attributes["redis"], out)
    raise GitlabCtlError(str(layout.config_file), "no Redis Sentinels defined "
                         "(gitlab_rails['redis_sentinels']) and no Redis enabled here: "
                         "there is no one to ask", hint="set gitlab_rails['redis_sentinels'] "
                         "and redis['master_name']")


# --- pg-password-md5 and set-replication-password --------------------------------------


def pg_password_md5(user: str | None, out: Out) -> int:
    if not user:
        print("You must inform the username for which the password will be encrypted.\n"
              "PostgreSQL encryption algorithm is salted with the user.", file=sys.stderr)
        return 1
    out(md5_password_hash(user, read_password()))
    return 0


def alter_password_sql(role: str, password: str) -> str:
    return (f"ALTER USER {role_literal(role)} WITH ENCRYPTED PASSWORD "
            f"{string_literal(password)};\n")


def psql_argv(layout: Layout, pg: Mapping[str, Any]) -> Sequence[str]:
    """psql as the database superuser's account on the socket, into template1."""
    account = f"{pg['username']}:{pg['group']}"
    return [str(layout.embedded / "bin" / "chpst"), "-u", account, "-U", account,
            str(layout.embedded / "bin" / "psql"), "-h", str(pg["dir"]), "-p",
            str(pg.get("connect_port") or pg["port"]), "-d", "template1", "-v",
            "ON_ERROR_STOP=1", "-tAXq"]


def set_replication_password(layout: Layout, out: Out) -> int:
    """ALTER USER sql_replication_user with the password asked for, in the bundled
    PostgreSQL; the statement goes to psql on stdin, so no process list shows it."""
    if "postgresql" not in runit.enabled_services(layout):
        out("There is no PostgreSQL instance enabled in Omnibus, exiting...")
        return 1
    _settings, attributes = installed_attributes(layout)
    pg = attributes["postgresql"]
    role = str(pg.get("sql_replication_user") or "").strip()
    if not role:
        raise GitlabCtlError(str(layout.config_file), "Replication user not defined in "
                             "`sql_replication_user`!", hint="set postgresql["
                             "'sql_replication_user'] (default gitlab_replicator)",
                             exit_code=2)
    password = read_password()
    result = subprocess.run(psql_argv(layout, pg), input=alter_password_sql(role, password),
                            capture_output=True, text=True, cwd="/")
    if result.returncode != 0:
        raise GitlabCtlError(f"postgresql role {role}", f"psql exited {result.returncode}: "
                             f"{result.stderr.strip() or 'no output'}",
                             hint="`gitlab-ctl status postgresql` shows whether it runs")
    out(f"Password of the PostgreSQL replication role {role} changed")
    return 0


def _user_argument(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("user", nargs="?", metavar="USER",
                        help="the PostgreSQL role (the hash is salted with its name)")
    parser.epilog = ("Asks for the password twice on a terminal, else reads one line from "
                     "standard input; prints the hash for sql_user_password.")


def _no_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    pass


COMMANDS = {
    "get-redis-master": ("print the Redis master's address: from the Sentinels, else from "
                         "the bundled Redis", _no_arguments,
                         lambda args, layout: get_redis_master(layout, out)),
    "pg-password-md5": ("print the MD5 hash of a PostgreSQL user's password, in "
                        "PostgreSQL's format", _user_argument,
                        lambda args, layout: pg_password_md5(args.user, out)),
    "set-replication-password": ("set the password of the replication role "
                                 "(sql_replication_user) in the bundled PostgreSQL",
                                 _no_arguments,
                                 lambda args, layout: set_replication_password(layout, out)),
}
#: Commands that need no root: they only read a password and print.
NO_ROOT = frozenset({"pg-password-md5"})
