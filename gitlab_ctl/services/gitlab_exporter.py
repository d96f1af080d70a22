"""gitlab-exporter as omnibus-gitlab runs it: as the git account, from its home with
gitlab-exporter.yml (probes of GitLab's database, of Sidekiq through Rails' Redis, and
optionally of Elasticsearch), its env dir and runit service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import service_resources
from gitlab_ctl.services import common, gitlab_rails_redis, prometheus
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-exporter"),)
#: gitlab-exporter's Ruby and TLS environment (omnibus-gitlab's defaults)
RUBY_ENV = {"MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0",
            "RUBY_GC_HEAP_INIT_SLOTS": 80000, "RUBY_GC_HEAP_FREE_SLOTS_MIN_RATIO": 0.055,
            "RUBY_GC_HEAP_FREE_SLOTS_MAX_RATIO": 0.111}
#: redis_ssl_params' keys and the gitlab_rails settings they come from
SSL_PARAMS = (("ca_file", "redis_tls_ca_cert_file"), ("cert", "redis_tls_client_cert_file"),
              ("key", "redis_tls_client_key_file"))


def env(context: Context) -> dict[str, Any]:
    embedded = context.layout.embedded
    return {**RUBY_ENV, "SSL_CERT_DIR": f"{embedded}/ssl/certs/",
            "SSL_CERT_FILE": f"{embedded}/ssl/cert.pem",
            **(context.section("gitlab_exporter").get("env") or {})}


def connection_string(context: Context) -> str:
    """GitLab's database as Rails reaches it. omnibus-gitlab's recipe means to use the local
    server's socket directory when postgresql['enabled'] is set, a key that does not exist,
    so it always writes Rails' host, port and password; so does this."""
    rails = context.section("gitlab_rails")
    return (f"dbname={rails['db_database']} user={rails['db_username']} "
            f"host={rails['db_host']} port={rails['db_port']} "
            f"password={rails.get('db_password') or ''}")


def redis(context: Context) -> dict[str, Any]:
    """Rails' Redis, as the Sidekiq probe reads it (RedisHelper::GitlabExporter)."""
    rails = context.section("gitlab_rails")
    ssl_params = ({name: rails[key] for name, key in SSL_PARAMS if rails.get(key)}
                  if rails.get("redis_ssl") else None)
    sentinel_tls = {name: rails.get(f"redis_sentinels_{key.removeprefix('redis_')}")
                    for name, key in SSL_PARAMS}
    return {"url": gitlab_rails_redis.main_url(rails, context.section("redis")),
            "enable_client": rails.get("redis_enable_client"), "ssl_params": ssl_params,
            "sentinels": rails.get("redis_sentinels") or [],
            "sentinels_password": rails.get("redis_sentinels_password"),
            "sentinels_ssl": rails.get("redis_sentinels_ssl"), "sentinels_tls": sentinel_tls}


def configure(context: Context) -> list:
    exporter = context.section("gitlab_exporter")
    user = common.git_user(context)[0]
    home = Path(exporter["home"])
    return [
        Directory(home, owner=user, mode=0o755),
        *common.env_dir_resources(Path(exporter["env_directory"]), env(context), NOTIFY),
        # it holds the database and Redis passwords
        context.template(home / "gitlab-exporter.yml", "gitlab-exporter/gitlab-exporter.yml.j2",
                         owner=user, mode=0o600, sensitive=True, notifies=NOTIFY,
                         exporter=exporter, redis=redis(context),
                         connection_string=connection_string(context),
                         postgresql=context.section("gitlab_rails")["db_adapter"] == "postgresql"),
    ]


def supervise(context: Context) -> list:
    exporter = context.section("gitlab_exporter")
    user, group = common.git_user(context)
    run_script = context.render("runit/gitlab-exporter.run.j2", user=user, group=group,
                                env_dir=exporter["env_directory"], exporter=exporter)
    return service_resources(context.layout, prometheus.definition(
        context, "gitlab-exporter", exporter, run_script, user), context.section("logging"))


SERVICE = Service("gitlab-exporter", "gitlab_exporter", "embedded/bin/gitlab-exporter",
                  configure, supervise)
