"""Rails' Redis files as omnibus-gitlab writes them: resque.yml (the main instance),
cable.yml (ActionCable: its own instance, else the main one) and redis.<name>.yml for each
separate instance gitlab_rails['redis_<name>_instance'] (or _cluster_nodes) names. Sentinels
and cluster nodes are written as given: they run elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote as url_quote

from gitlab_ctl.config.reader import ConfigError

#: The separate instances Rails can use, each written to redis.<name>.yml when configured.
INSTANCES = ("cache", "queues", "shared_state", "trace_chunks", "rate_limiting", "sessions",
             "repository_cache", "cluster_rate_limiting", "workhorse")
#: Only these may be a Redis Cluster; the others need a single primary (or Sentinels).
CLUSTER_INSTANCES = ("cache", "rate_limiting", "cluster_rate_limiting")
#: ssl_params keys -> the suffix of the TLS setting that fills it.
TLS_PARAMS = (("ca_path", "tls_ca_cert_dir"), ("ca_file", "tls_ca_cert_file"),
              ("cert_file", "tls_client_cert_file"), ("key_file", "tls_client_key_file"))
SENTINEL_TLS_PARAMS = (("ca_file", "sentinels_tls_ca_cert_file"),
                       ("cert", "sentinels_tls_client_cert_file"),
                       ("key", "sentinels_tls_client_key_file"))
DEFAULT_PORT = 6379


def credential(value: Any) -> str:
    """A user name or password percent-encoded for a URL's userinfo (RFC 3986)."""
    return url_quote(str(value), safe="-._~")


def main_url(rails: Mapping[str, Any], redis: Mapping[str, Any]) -> str:
    """The main instance's URL: the Sentinels' master by name, else TCP when redis_host is
    set (or there is no socket), else the Unix socket."""
    password = rails.get("redis_password") or redis.get("master_password")
    userinfo = f":{credential(password)}@" if password else ""
    if rails.get("redis_sentinels"):
        host = rails.get("redis_sentinel_master") or redis.get("master_name") or "gitlab-redis"
        port = rails.get("redis_sentinel_master_port") or redis.get("master_port")
    elif rails.get("redis_host") or not rails.get("redis_socket"):
        host, port = rails.get("redis_host") or "127.0.0.1", rails.get("redis_port")
    else:
        return f"unix://{userinfo}{rails['redis_socket']}"
    scheme = "rediss" if rails.get("redis_ssl") else "redis"
    port_part = f":{port}" if port and int(port) != DEFAULT_PORT else ""
    database = rails.get("redis_database")
    return f"{scheme}://{userinfo}{host}{port_part}/{'' if database is None else database}"


def tls_params(source: Mapping[str, Any], prefix: str, table: tuple) -> dict[str, Any]:
    return {key: source[prefix + suffix] for key, suffix in table
            if source.get(prefix + suffix)}


def port(value: Any) -> Any:
    """A port as a number, as omnibus-gitlab's template writes a '26379' given as text."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def sentinel_entries(sentinels: list, ssl: bool, params: dict[str, Any]) -> list[dict]:
    entries = []
    for sentinel in sentinels:
        entry: dict[str, Any] = {"host": sentinel.get("host"),
                                 "port": port(sentinel.get("port"))}
        if ssl:
            entry.update({"ssl": True, "ssl_params": params})
        entries.append(entry)
    return entries


def connection(rails: Mapping[str, Any], prefix: str, url: Any, *,
               sentinels_from: str | None = None) -> dict[str, Any]:
    """url, ssl and Sentinels of one file; `prefix` is 'redis_' or 'redis_<name>_', and
    `sentinels_from` the prefix whose Sentinels are used (the instance's own by default)."""
    tree: dict[str, Any] = {"url": url}
    if rails.get(prefix + "ssl"):
        tree.update({"ssl": True, "ssl_params": tls_params(rails, prefix, TLS_PARAMS)})
    source = sentinels_from or prefix
    sentinels = rails.get(source + "sentinels") or []
    if sentinels:
        password = rails.get(prefix + "sentinels_password") or rails.get(
            source + "sentinels_password")
        if password:
            tree["sentinel_password"] = password
        ssl = rails.get(prefix + "sentinels_ssl") or rails.get(source + "sentinels_ssl")
        params = tls_params(rails, source, SENTINEL_TLS_PARAMS)
        params.update(tls_params(rails, prefix, SENTINEL_TLS_PARAMS))
        tree["sentinels"] = sentinel_entries(sentinels, bool(ssl), params)
    return tree


def client_options(rails: Mapping[str, Any], command: Any, timeouts: bool) -> dict[str, Any]:
    """config_command, the blank client id (redis_enable_client false) and the timeouts."""
    tree: dict[str, Any] = {}
    if command:
        tree["config_command"] = command
    if not rails.get("redis_enable_client", True):
        tree["id"] = None
    for name in ("connect_timeout", "read_timeout", "write_timeout") if timeouts else ():
        if rails.get(f"redis_{name}"):
            tree[name] = rails[f"redis_{name}"]
    return tree


def encrypted_settings_file(rails: Mapping[str, Any], name: str | None) -> str:
    if name and rails.get(f"redis_{name}_encrypted_settings_file"):
        return rails[f"redis_{name}_encrypted_settings_file"]
    shared = f"{rails['shared_path']}/encrypted_settings"
    if rails.get("redis_encrypted_settings_file"):
        return rails["redis_encrypted_settings_file"]
    return f"{shared}/redis.{name}.yml.enc" if name else f"{shared}/redis.yml.enc"


def resque(rails: Mapping[str, Any], redis: Mapping[str, Any]) -> dict[str, Any]:
    """resque.yml's `production` tree."""
    tree = client_options(rails, rails.get("redis_extra_config_command"), timeouts=True)
    conn = connection(rails, "redis_", main_url(rails, redis))
    tree["url"] = conn.pop("url")
    tree["secret_file"] = encrypted_settings_file(rails, None)
    return {**tree, **conn}


def cable(rails: Mapping[str, Any], redis: Mapping[str, Any]) -> dict[str, Any]:
    """cable.yml's `production` tree: ActionCable's instance, else the main one's."""
    tree = client_options(rails, rails.get("redis_extra_config_command"), timeouts=False)
    own = rails.get("redis_actioncable_instance")
    if own:
        fallback = None if rails.get("redis_actioncable_sentinels") else "redis_"
        conn = connection(rails, "redis_actioncable_", own, sentinels_from=fallback)
    else:
        conn = connection(rails, "redis_", main_url(rails, redis))
    return {**tree, "adapter": "redis", **conn}


def instance(rails: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """redis.<name>.yml's `production` tree, None when the instance is not configured."""
    prefix = f"redis_{name}_"
    url, nodes = rails.get(prefix + "instance"), rails.get(prefix + "cluster_nodes") or []
    check_shards(rails, name, nodes)
    if not url and not nodes:
        return None
    command = rails.get(prefix + "extra_config_command") or rails.get(
        "redis_extra_config_command")
    tree = client_options(rails, command, timeouts=False)
    if nodes:
        for key in ("username", "password"):
            if rails.get(prefix + key):
                tree[key] = rails[prefix + key]
        tree["cluster"] = [{"host": n.get("host"), "port": port(n.get("port"))} for n in nodes]
        return tree
    conn = connection(rails, prefix, url)
    tree["url"] = conn.pop("url")
    tree["secret_file"] = encrypted_settings_file(rails, name)
    return {**tree, **conn}


def check_shards(rails: Mapping[str, Any], name: str, nodes: list) -> None:
    if not nodes:
        return
    where = f"gitlab_rails['redis_{name}_cluster_nodes']"
    if rails.get(f"redis_{name}_sentinels"):
        raise ConfigError(where, f"{name} has both Sentinels and cluster nodes",
                          hint=f"set redis_{name}_sentinels or redis_{name}_cluster_nodes")
    if name not in CLUSTER_INSTANCES:
        raise ConfigError(where, f"{name} cannot be a Redis Cluster",
                          hint="cluster nodes are for " + ", ".join(CLUSTER_INSTANCES))

