"""Redis on a Unix socket in its own directory, which the git user's group may enter."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Directory, Group, User
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services.base import Context, Service

#: redis.conf's TLS settings after tls-port, as omnibus-gitlab writes them: each only when set
TLS_SETTINGS = ("tls_cert_file", "tls_key_file", "tls_dh_params_file", "tls_ca_cert_file",
                "tls_ca_cert_dir", "tls_auth_clients", "tls_replication", "tls_cluster",
                "tls_protocols", "tls_ciphers", "tls_ciphersuites", "tls_prefer_server_ciphers",
                "tls_session_caching", "tls_session_cache_size", "tls_session_cache_timeout")
#: what omnibus-gitlab renames when rename_commands is unset: KEYS blocks the server
DEFAULT_RENAMED_COMMANDS = {"KEYS": ""}


def settings(context: Context) -> dict:
    """The redis section with what omnibus-gitlab derives (libraries/redis.rb)."""
    values = dict(context.section("redis"))
    if values.get("timeout") is not None:  # this gitlab-ctl's older name wins when set
        values["tcp_timeout"] = values["timeout"]
    if values.get("rename_commands") is None:
        values["rename_commands"] = DEFAULT_RENAMED_COMMANDS
    if values.get("tls_protocols") is not None:  # a space-separated list: one quoted value
        values["tls_protocols"] = f'"{values["tls_protocols"]}"'
    return {**values, **replication(values)}


def replication(redis: dict) -> dict:
    """A replica's settings as omnibus-gitlab derives them (libraries/redis.rb and the redis
    service resource): `ha` starts it down and leaves replication to a failover; otherwise
    a node that is not the master replicates master_ip:master_port, authenticating with
    master_password (the node's own password unless set)."""
    derived: dict = {}
    if redis.get("announce_ip") and not redis.get("announce_port"):
        derived["announce_port"] = redis["port"] or None
    replica = not redis.get("master", True)
    if redis.get("ha"):
        derived["set_replicaof"] = False
    elif replica:
        derived["set_replicaof"] = True
    if replica and not redis.get("master_password"):
        derived["master_password"] = redis.get("password")
    if derived.get("set_replicaof", redis.get("set_replicaof")):
        for key in ("master_ip", "master_password"):
            if not {**redis, **derived}.get(key):
                raise ConfigError("/etc/gitlab/gitlab.rb", f"redis '{key}' is not defined",
                                  f"a Redis replica needs redis['{key}'] (its master's)")
    return derived


def configure(context: Context) -> list:
    redis = settings(context)
    git_group = context.section("user")["group"]
    directory = Path(redis["dir"])
    return [
        Group(redis["group"], redis.get("gid")),
        User(redis["username"], redis["group"], redis["home"] or redis["dir"], redis["shell"],
             redis.get("uid")),
        Directory(directory, owner=redis["username"], group=git_group, mode=0o750),
        context.template(directory / "redis.conf", "redis/redis.conf.j2",
                         owner=redis["username"], group=git_group, mode=0o640,
                         sensitive=bool(redis.get("password")),
                         notifies=(("restart", "redis"),), redis=redis,
                         tls_settings=TLS_SETTINGS),
        context.template(context.layout.install_dir / "etc" / "gitlab-redis-cli-rc",
                         "redis/gitlab-redis-cli-rc.j2", redis=context.section("redis")),
    ]


def supervise(context: Context) -> list:
    redis = context.section("redis")
    run_script = context.render("runit/redis.run.j2", redis=redis)
    definition = ServiceDefinition("redis", run_script, Path(redis["log_directory"]),
                                   log_owner=redis["username"], log_group=redis.get("log_group"),
                                   start_down=bool(redis.get("ha") or redis.get("start_down")),
                                   sv_timeout=redis.get("runit_sv_timeout"))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("redis", "redis", "embedded/bin/redis-server", configure, supervise)
