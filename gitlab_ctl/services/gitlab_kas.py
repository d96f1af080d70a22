"""The GitLab agent server for Kubernetes (KAS; off unless gitlab_kas['enable'] or
gitlab_kas_external_url is set), as omnibus-gitlab's gitlab-kas cookbook runs it: its
directory, the three secret files it shares with Rails and other KAS instances, the Redis
password files, gitlab-kas-config.yml, its env dir and its runit service. Rails' side
(gitlab.yml gitlab_kas) and the URLs are derived in config/attributes (_kas_urls); nginx's
server block in front of it is written by services/nginx_sites."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Directory, File
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-kas"),)
#: Each secret: the file KAS reads it from (in its dir) and the decoded length it must have.
SECRET_FILES = {"api_secret_key": ("authentication_secret_file", 32),
                "private_api_secret_key": ("private_api_authentication_secret_file", 32),
                "websocket_token_secret_key": ("websocket_token_secret_file", 72)}
#: What KAS takes from gitlab_rails unless gitlab.rb gives it its own Redis (redis_host or
#: redis_socket), as omnibus-gitlab's GitlabKas.parse_redis_settings; redis_username too
#: there, but gitlab_rails declares none here (KAS' own redis_username is read).
RAILS_REDIS_KEYS = (
    "redis_socket", "redis_host", "redis_port", "redis_password",
    "redis_sentinels", "redis_sentinels_password", "redis_sentinels_ssl",
    "redis_sentinels_tls_ca_cert_file", "redis_sentinels_tls_client_cert_file",
    "redis_sentinels_tls_client_key_file", "redis_ssl", "redis_tls_ca_cert_file",
    "redis_tls_client_cert_file", "redis_tls_client_key_file")
REDIS_DEFAULT_PORT = 6379


def redis_settings(context: Context) -> dict[str, Any]:
    """KAS' Redis keys: its own, else gitlab_rails' (Sentinels' master name: redis')."""
    kas = context.section("gitlab_kas")
    values = {key: kas.get(key) for key in (*RAILS_REDIS_KEYS, "redis_username",
                                            "redis_sentinels_master_name")}
    if kas.get("redis_host") is None and kas.get("redis_socket") is None:
        rails = context.section("gitlab_rails")
        for key in RAILS_REDIS_KEYS:
            if values[key] is None or values[key] == []:
                values[key] = rails.get(key)
    if values["redis_sentinels_master_name"] is None:
        values["redis_sentinels_master_name"] = context.section("redis").get("master_name")
    return values


def redis_params(values: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The redis: block's values, as omnibus-gitlab's RedisHelper::GitlabKAS: TCP when a host
    or Sentinels are given, else the socket; passwords go to files beside the config."""
    sentinels = values.get("redis_sentinels") or []
    tcp = bool(values.get("redis_host")) or bool(sentinels) or not values.get("redis_socket")
    address = (f"{values.get('redis_host')}:{values.get('redis_port') or REDIS_DEFAULT_PORT}"
               if tcp else values["redis_socket"])
    return {**values, "network": "tcp" if tcp else "unix", "address": address,
            "ssl": bool(values.get("redis_ssl")), "sentinels": sentinels,
            "default_port": REDIS_DEFAULT_PORT,
            "password_file": directory / "redis_password_file"
            if values.get("redis_password") else None,
            "sentinels_password_file": directory / "redis_sentinels_password_file"
            if values.get("redis_sentinels_password") else None}


def check_secret(key: str, value: Any) -> None:
    """A secret set in gitlab.rb must be base64 of exactly the length KAS and GitLab expect
    (omnibus-gitlab's GitlabKas.validate_secrets); generated ones are by construction."""
    length = SECRET_FILES[key][1]
    try:
        decoded = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != length:
        raise ConfigError("/etc/gitlab/gitlab.rb", f"gitlab_kas['{key}'] should be exactly "
                          f"{length} bytes", hint=f"base64 of {length} random bytes, e.g. "
                          f"`head -c {length} /dev/urandom | base64 -w0`, or leave it unset")


def secret_files(context: Context, directory: Path, group: str) -> list:
    kas = context.section("gitlab_kas")
    stored = context.secrets.get("gitlab_kas") or {}
    files = []
    for key, (name, _length) in SECRET_FILES.items():
        if kas.get(key) is not None:
            check_secret(key, kas[key])
        files.append(File(directory / name, str(kas.get(key) or stored[key]), group=group,
                          mode=0o640, sensitive=True, notifies=NOTIFY))
    return files


def env_dir(context: Context) -> Path:
    return Path(context.section("gitlab_kas")["env_directory"])


def configure(context: Context) -> list:
    kas = context.section("gitlab_kas")
    user, group = common.git_user(context)
    directory = Path(kas["dir"])
    redis = redis_params(redis_settings(context), directory)
    env = {"SSL_CERT_DIR": common.default_env(context)["SSL_CERT_DIR"],
           "GODEBUG": "tlsmlkem=0", **(kas.get("env") or {})}
    passwords = [(redis["password_file"], redis.get("redis_password")),
                 (redis["sentinels_password_file"], redis.get("redis_sentinels_password"))]
    return [
        Directory(directory, owner=user, mode=0o700),
        Directory(env_dir(context).parent, owner=user, mode=0o700),
        *secret_files(context, directory, group),
        *[File(path, str(value), group=group, mode=0o640, sensitive=True, notifies=NOTIFY)
          for path, value in passwords if path],
        context.template(directory / "gitlab-kas-config.yml",
                         "gitlab-kas/gitlab-kas-config.yml.j2", group=group, mode=0o640,
                         notifies=NOTIFY, kas=kas, redis=redis, q=common.quote, directory=directory,
                         workspaces=kas.get("workspaces") or {}),
        # its parent is the git-owned 0700 directory above, not env_dir's root one
        *[resource for resource in common.env_dir_resources(env_dir(context), env, NOTIFY)
          if not (isinstance(resource, Directory) and resource.path == env_dir(context).parent)],
    ]


def supervise(context: Context) -> list:
    kas = context.section("gitlab_kas")
    user, group = common.git_user(context)
    run_script = context.render("runit/gitlab-kas.run.j2", user=user, group=group,
                                env_dir=env_dir(context),
                                config=Path(kas["dir"]) / "gitlab-kas-config.yml")
    definition = ServiceDefinition("gitlab-kas", run_script, Path(kas["log_directory"]),
                                   log_owner=user, log_group=kas.get("log_group"))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitlab-kas", "gitlab_kas", "embedded/bin/gitlab-kas", configure, supervise)
