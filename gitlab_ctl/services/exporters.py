"""The Prometheus exporters of the host and the data stores, as omnibus-gitlab runs them:
node_exporter (as gitlab-prometheus, with the runit and textfile collectors), redis_exporter
(as the Redis account, reading Rails' Redis) and postgres_exporter (as the PostgreSQL
account, with its queries.yaml and the DATA_SOURCE_NAME of GitLab's database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import service_resources
from gitlab_ctl.services import common, gitlab_rails_redis, prometheus
from gitlab_ctl.services.base import Context, Service


def restart(name: str) -> tuple[tuple[str, str], ...]:
    return (("restart", name),)


def with_flags(values: dict[str, Any], derived: dict[str, Any]) -> dict[str, Any]:
    """The section with its flags: the derived ones, then gitlab.rb's over them."""
    return {**values, "flags": {**derived, **(values.get("flags") or {})}}


# node_exporter ----------------------------------------------------------------------------

def node_settings(context: Context) -> dict[str, Any]:
    values = dict(context.section("node_exporter"))
    return with_flags(values, {
        "web.listen-address": values["listen_address"], "collector.mountstats": True,
        "collector.runit": True, "collector.runit.servicedir": str(context.layout.sv_dir),
        "collector.textfile.directory": str(Path(values["home"]) / "textfile_collector")})


def node_configure(context: Context) -> list:
    node = node_settings(context)
    user = prometheus.account(context)[0]
    return [
        *prometheus.account_resources(context),
        *common.env_dir_resources(Path(node["env_directory"]), prometheus.go_env(context, node),
                                  restart("node-exporter")),
        Directory(Path(node["home"]), owner=user, mode=0o755),
        Directory(Path(node["flags"]["collector.textfile.directory"]), owner=user, mode=0o755),
    ]


def node_supervise(context: Context) -> list:
    return prometheus.kingpin_service(context, "node-exporter", node_settings(context))


# redis_exporter ---------------------------------------------------------------------------

def redis_url(context: Context) -> str:
    """Rails' Redis, as redis_exporter's --redis.addr: a socket without its password."""
    rails = context.section("gitlab_rails")
    url = gitlab_rails_redis.main_url(rails, context.section("redis"))
    return f"unix://{rails['redis_socket']}" if url.startswith("unix://") else url


def redis_settings(context: Context) -> dict[str, Any]:
    values = dict(context.section("redis_exporter"))
    derived: dict[str, Any] = {"web.listen-address": values["listen_address"]}
    if context.section("gitlab_rails").get("redis_enable_client") is False:
        derived["set-client-name"] = "false"
    return with_flags(values, derived)


def redis_configure(context: Context) -> list:
    values = redis_settings(context)
    return common.env_dir_resources(Path(values["env_directory"]),
                                    prometheus.go_env(context, values), restart("redis-exporter"))


def redis_supervise(context: Context) -> list:
    values = redis_settings(context)
    user, group = context.section("redis")["username"], common.git_user(context)[1]
    run_script = context.render("runit/redis-exporter.run.j2", user=user, group=group,
                                env_dir=values["env_directory"], redis_url=redis_url(context),
                                flags=prometheus.flags(values["flags"]))
    return service_resources(context.layout, prometheus.definition(
        context, "redis-exporter", values, run_script, user), context.section("logging"))


# postgres_exporter ------------------------------------------------------------------------

def data_source_name(context: Context, sslmode: Any) -> str:
    """The local server's socket directory as its account, else Rails' database server."""
    rails, postgresql = context.section("gitlab_rails"), context.section("postgresql")
    if postgresql.get("enable"):
        connection = f"host={postgresql['dir']} user={postgresql['username']}"
    else:
        connection = (f"host={rails['db_host']} port={rails['db_port']} "
                      f"user={rails['db_username']} password={rails.get('db_password') or ''}")
    database = rails["db_database"] + (f" sslmode={sslmode}" if sslmode is not None else "")
    return f"{connection} database={database}"


def postgres_settings(context: Context) -> dict[str, Any]:
    values = dict(context.section("postgres_exporter"))
    # the attributes' flags come first, then the derived ones (gitlab.rb's win)
    values["flags"] = {**(values.get("flags") or {}),
                       "web.listen-address": values["listen_address"],
                       "extend.query-path": str(Path(values["home"]) / "queries.yaml"),
                       **{key: value for key, value in (values.get("flags") or {}).items()
                          if key in ("web.listen-address", "extend.query-path")}}
    values["env"] = {"DATA_SOURCE_NAME": data_source_name(context, values.get("sslmode")),
                     **(values.get("env") or {})}
    return values


def postgres_configure(context: Context) -> list:
    values = postgres_settings(context)
    user = context.section("postgresql")["username"]
    home = Path(values["home"])
    return [
        Directory(home, owner=user, mode=0o700),
        *common.env_dir_resources(Path(values["env_directory"]),
                                  prometheus.go_env(context, values),
                                  restart("postgres-exporter")),
        context.template(home / "queries.yaml", "postgres-exporter/queries.yaml.j2", owner=user,
                         notifies=restart("postgres-exporter")),
    ]


def postgres_supervise(context: Context) -> list:
    values = postgres_settings(context)
    user, group = context.section("postgresql")["username"], common.git_user(context)[1]
    run_script = context.render("runit/postgres-exporter.run.j2", user=user, group=group,
                                env_dir=values["env_directory"],
                                flags=prometheus.kingpin_flags(values["flags"]))
    return service_resources(context.layout, prometheus.definition(
        context, "postgres-exporter", values, run_script, user), context.section("logging"))


SERVICES = (
    Service("node-exporter", "node_exporter", "embedded/bin/node_exporter", node_configure,
            node_supervise),
    Service("redis-exporter", "redis_exporter", "embedded/bin/redis_exporter", redis_configure,
            redis_supervise),
    Service("postgres-exporter", "postgres_exporter", "embedded/bin/postgres_exporter",
            postgres_configure, postgres_supervise),
)
