"""Peer tests: expectations of omnibus-gitlab's spec/chef/cookbooks/gitlab/recipes/
gitlab-rails_spec.rb (its Redis part: resque.yml, cable.yml, redis.<instance>.yml and
redis.yml), checked against what our reconfigure renders for the same gitlab.rb input. Each
case id names the spec context it comes from; the words are ours, the facts theirs. Also:
every gitlab_rails Redis key schema.yml declares applied reaches one of those files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Absent, Link
from gitlab_ctl.services import gitlab_rails, gitlab_rails_redis
from gitlab_ctl.services.base import Layout
from tests.unit.gitlab_ctl.test_config_templates import make_context

ETC = Path("/var/opt/gitlab/gitlab-rails/etc")
SOCKET = "unix:///var/opt/gitlab/redis/redis.socket"
SECRET = "/var/opt/gitlab/gitlab-rails/shared/encrypted_settings/redis.yml.enc"
SENTINELS = [{"host": "10.0.0.2", "port": 26379}, {"host": "10.0.0.3", "port": 26379},
             {"host": "10.0.0.4", "port": 26379}]
AC_SENTINELS = [{"host": "10.0.0.5", "port": 26379}, {"host": "10.0.0.6", "port": 26379},
                {"host": "10.0.0.7", "port": 26379}]
AC_URL = "redis://:fakepass@fake.redis.actioncable.com:8888/2"
CUSTOM = {"redis_host": "redis.example.com", "redis_port": 8888, "redis_database": 2,
          "redis_password": "my pass", "redis_enable_client": False,
          "redis_connect_timeout": 3, "redis_read_timeout": 4, "redis_write_timeout": 5}
TLS = {"redis_host": "redis.example.com", "redis_port": 8888, "redis_password": "mypass",
       "redis_ssl": True, "redis_tls_ca_cert_dir": "/tmp/certs",
       "redis_tls_ca_cert_file": "/tmp/ca.crt",
       "redis_tls_client_cert_file": "/tmp/self_signed.crt",
       "redis_tls_client_key_file": "/tmp/self_signed.key"}
TLS_PARAMS = {"ca_path": "/tmp/certs", "ca_file": "/tmp/ca.crt",
              "cert_file": "/tmp/self_signed.crt", "key_file": "/tmp/self_signed.key"}
SENTINEL_TLS = {"redis_sentinels": SENTINELS, "redis_sentinels_password": "sentinel-pass",
                "redis_sentinels_ssl": True,
                "redis_sentinels_tls_ca_cert_file": "/etc/gitlab/sentinel-certs/ca.crt",
                "redis_sentinels_tls_client_cert_file": "/etc/gitlab/sentinel-certs/client.crt",
                "redis_sentinels_tls_client_key_file": "/etc/gitlab/sentinel-certs/client.key"}
SENTINEL_PARAMS = {"ca_file": "/etc/gitlab/sentinel-certs/ca.crt",
                   "cert": "/etc/gitlab/sentinel-certs/client.crt",
                   "key": "/etc/gitlab/sentinel-certs/client.key"}
MASTER = {"redis": {"master_name": "gitlab-redis", "master_password": "toomanysecrets"}}
AC_TLS = {"redis_actioncable_instance": "rediss://redis.actioncable.example.com:6380/0",
          "redis_actioncable_ssl": True,
          "redis_actioncable_tls_ca_cert_dir": "/etc/gitlab/actioncable-certs",
          "redis_actioncable_tls_ca_cert_file": "/etc/gitlab/actioncable-certs/ca.crt",
          "redis_actioncable_tls_client_cert_file": "/etc/gitlab/actioncable-certs/client.crt",
          "redis_actioncable_tls_client_key_file": "/etc/gitlab/actioncable-certs/client.key"}
GLOBAL_TLS = {"redis_host": "redis.global.example.com", "redis_port": 6379, "redis_ssl": True,
              "redis_tls_ca_cert_dir": "/etc/gitlab/global-certs",
              "redis_tls_ca_cert_file": "/etc/gitlab/global-certs/ca.crt",
              "redis_tls_client_cert_file": "/etc/gitlab/global-certs/client.crt",
              "redis_tls_client_key_file": "/etc/gitlab/global-certs/client.key"}
GLOBAL_PARAMS = {"ca_path": "/etc/gitlab/global-certs",
                 "ca_file": "/etc/gitlab/global-certs/ca.crt",
                 "cert_file": "/etc/gitlab/global-certs/client.crt",
                 "key_file": "/etc/gitlab/global-certs/client.key"}
CLUSTER = {"redis_enable_client": False, "redis_cache_username": "cache",
           "redis_cache_password": "cache_password",
           "redis_cache_cluster_nodes": [{"host": "cache", "port": "1234"},
                                         {"host": "cache", "port": "3456"}]}
SHARED_STATE_TLS = {
    "redis_shared_state_instance": "redis://:fakepass@fake.redis.shared_state.com:8888/2",
    "redis_shared_state_sentinels": [{"host": "shared_state", "port": "1234"},
                                     {"host": "shared_state", "port": "3456"}],
    "redis_shared_state_sentinels_password": "shared_state_sentinel_pass",
    "redis_shared_state_sentinels_ssl": True,
    "redis_shared_state_sentinels_tls_ca_cert_file": "/etc/gitlab/ss/ca.crt",
    "redis_shared_state_sentinels_tls_client_cert_file": "/etc/gitlab/ss/client.crt",
    "redis_shared_state_sentinels_tls_client_key_file": "/etc/gitlab/ss/client.key"}
SECRET_FILES = {"redis_encrypted_settings_file": "/etc/gitlab/global.redis.enc",
                "redis_cache_instance": "redis://redis.cache.instance",
                "redis_cache_encrypted_settings_file": "/etc/gitlab/cache.redis.enc",
                "redis_shared_state_instance": "redis://redis.shared_state.instance"}
COMMANDS = {"redis_extra_config_command": "/opt/redis-global.sh",
            "redis_cache_instance": "redis://redis.cache.instance",
            "redis_cache_extra_config_command": "/opt/redis-cache-password.sh",
            "redis_shared_state_instance": "redis://redis.shared_state.instance"}
OVERRIDE = {"foo": "bar", "baz": [1, 2, 3], "deeply": {"nested": "value"}}


def files(settings: dict) -> dict:
    """Rails' config files (Files, and Absent for instance files not written)."""
    return {f.path: f for f in gitlab_rails.config_files(make_context(settings))}


def production(settings: dict, name: str) -> Any:
    return yaml.safe_load(files(settings)[ETC / name].content)["production"]


def rails(**settings: Any) -> dict:
    return {"gitlab_rails": settings}


def dig(tree: Any, path: str) -> Any:
    for key in path.split(".") if path else ():
        tree = tree[int(key)] if isinstance(tree, list) else tree.get(key)
    return tree


# (spec context, gitlab.rb, file, dotted path in production ('' = all of it), expected)
CASES = [
    ("default-resque-url", {}, "resque.yml", "url", SOCKET),
    ("default-resque-no-id", {}, "resque.yml", "id", None),
    ("default-resque-whole", {}, "resque.yml", "", {"url": SOCKET, "secret_file": SECRET}),
    ("default-resque-no-timeouts", {}, "resque.yml", "connect_timeout", None),
    ("default-cable-url", {}, "cable.yml", "url", SOCKET),
    ("default-cable-no-ssl-params", {}, "cable.yml", "ssl_params", None),
    ("custom-resque-url", rails(**CUSTOM), "resque.yml", "url",
     "redis://:my%20pass@redis.example.com:8888/2"),
    ("custom-resque-connect-timeout", rails(**CUSTOM), "resque.yml", "connect_timeout", 3),
    ("custom-resque-read-timeout", rails(**CUSTOM), "resque.yml", "read_timeout", 4),
    ("custom-resque-write-timeout", rails(**CUSTOM), "resque.yml", "write_timeout", 5),
    ("custom-cable-url", rails(**CUSTOM), "cable.yml", "url",
     "redis://:my%20pass@redis.example.com:8888/2"),
    ("sentinels-redis-subkey", {**MASTER, **rails(redis_sentinels=SENTINELS)}, "resque.yml",
     "", {"url": "redis://:toomanysecrets@gitlab-redis/", "sentinels": SENTINELS,
          "secret_file": SECRET}),
    ("sentinels-rails-subkey", rails(redis_sentinel_master="gitlab-redis",
                                     redis_password="toomanysecrets",
                                     redis_sentinels=SENTINELS), "resque.yml", "",
     {"url": "redis://:toomanysecrets@gitlab-redis/", "sentinels": SENTINELS,
      "secret_file": SECRET}),
    ("sentinels-password-resque", {**MASTER, **rails(
        redis_sentinels=SENTINELS, redis_sentinels_password="global sentinel pass")},
     "resque.yml", "sentinel_password", "global sentinel pass"),
    ("sentinels-password-cable", {**MASTER, **rails(
        redis_sentinels=SENTINELS, redis_sentinels_password="global sentinel pass")},
     "cable.yml", "", {"adapter": "redis", "url": "redis://:toomanysecrets@gitlab-redis/",
                       "sentinel_password": "global sentinel pass", "sentinels": SENTINELS}),
    ("sentinels-ssl-resque", {**MASTER, **rails(redis_sentinels=SENTINELS,
                                                redis_sentinels_ssl=True)},
     "resque.yml", "sentinels.0.ssl", True),
    ("sentinels-ssl-cable", {**MASTER, **rails(redis_sentinels=SENTINELS,
                                               redis_sentinels_ssl=True)},
     "cable.yml", "sentinels.2.ssl", True),
    ("actioncable-sentinels-cable", {**MASTER, **rails(
        redis_sentinels=SENTINELS, redis_sentinels_password="global sentinel pass",
        redis_actioncable_instance=AC_URL, redis_actioncable_sentinels=AC_SENTINELS)},
     "cable.yml", "", {"adapter": "redis", "url": AC_URL, "sentinels": AC_SENTINELS}),
    ("actioncable-sentinels-resque", {**MASTER, **rails(
        redis_sentinels=SENTINELS, redis_sentinels_password="global sentinel pass",
        redis_actioncable_instance=AC_URL, redis_actioncable_sentinels=AC_SENTINELS)},
     "resque.yml", "sentinels", SENTINELS),
    ("tls-resque-ssl-params", rails(**TLS), "resque.yml", "ssl_params", TLS_PARAMS),
    ("tls-cable-ssl-params", rails(**TLS), "cable.yml", "ssl_params", TLS_PARAMS),
    ("actioncable-tls-url", rails(**AC_TLS), "cable.yml", "url",
     "rediss://redis.actioncable.example.com:6380/0"),
    ("actioncable-tls-params", rails(**AC_TLS), "cable.yml", "ssl_params",
     {"ca_path": "/etc/gitlab/actioncable-certs",
      "ca_file": "/etc/gitlab/actioncable-certs/ca.crt",
      "cert_file": "/etc/gitlab/actioncable-certs/client.crt",
      "key_file": "/etc/gitlab/actioncable-certs/client.key"}),
    ("actioncable-tls-global-resque", rails(**GLOBAL_TLS, **AC_TLS), "resque.yml",
     "ssl_params", GLOBAL_PARAMS),
    ("global-tls-fallback-cable", rails(**GLOBAL_TLS), "cable.yml", "ssl_params",
     GLOBAL_PARAMS),
    ("global-tls-url", rails(**GLOBAL_TLS), "cable.yml", "url",
     "rediss://redis.global.example.com/"),
    ("sentinels-and-tls-resque-ssl", rails(**TLS, redis_sentinels=SENTINELS,
                                           redis_sentinels_password="sentinel-password"),
     "resque.yml", "ssl", True),
    ("sentinels-and-tls-cable-ssl", rails(**TLS, redis_sentinels=SENTINELS),
     "cable.yml", "ssl", True),
    ("sentinels-and-tls-no-sentinel-ssl", rails(**TLS, redis_sentinels=SENTINELS),
     "resque.yml", "sentinels.0.ssl", None),
    ("sentinels-tls-resque-params", rails(**SENTINEL_TLS), "resque.yml",
     "sentinels.1.ssl_params", SENTINEL_PARAMS),
    ("sentinels-tls-cable-params", rails(**SENTINEL_TLS), "cable.yml",
     "sentinels.1.ssl_params", SENTINEL_PARAMS),
    ("actioncable-global-sentinel-tls", rails(**SENTINEL_TLS, redis_actioncable_instance=AC_URL),
     "cable.yml", "sentinels.0.ssl_params", SENTINEL_PARAMS),
    ("sentinels-tls-only-ca", rails(redis_sentinels=SENTINELS, redis_sentinels_ssl=True,
                                    redis_sentinels_tls_ca_cert_file="/etc/gitlab/ca.crt"),
     "resque.yml", "sentinels.0.ssl_params", {"ca_file": "/etc/gitlab/ca.crt"}),
    ("password-socket-resque", rails(redis_password="my pass@"), "resque.yml", "",
     {"url": "unix://:my%20pass%40@/var/opt/gitlab/redis/redis.socket",
      "secret_file": SECRET}),
    ("password-socket-cable", rails(redis_password="my pass@"), "cable.yml", "",
     {"adapter": "redis", "url": "unix://:my%20pass%40@/var/opt/gitlab/redis/redis.socket"}),
    ("multiple-actioncable-url",
     rails(redis_enable_client=False, redis_actioncable_instance=AC_URL), "cable.yml", "url",
     AC_URL),
    ("multiple-actioncable-no-cluster", rails(redis_actioncable_instance=AC_URL), "cable.yml",
     "cluster", None),
    ("cluster-configs-no-url", rails(**CLUSTER), "redis.cache.yml", "url", None),
    ("cluster-configs-no-sentinels", rails(**CLUSTER), "redis.cache.yml", "sentinels", None),
    ("cluster-configs-nodes", rails(**CLUSTER), "redis.cache.yml", "cluster",
     [{"host": "cache", "port": 1234}, {"host": "cache", "port": 3456}]),
    ("cluster-configs-username", rails(**CLUSTER), "redis.cache.yml", "username", "cache"),
    ("cluster-configs-password", rails(**CLUSTER), "redis.cache.yml", "password",
     "cache_password"),
    ("shared-state-sentinel-tls-url", rails(**SHARED_STATE_TLS), "redis.shared_state.yml",
     "url", "redis://:fakepass@fake.redis.shared_state.com:8888/2"),
    ("shared-state-sentinel-password", rails(**SHARED_STATE_TLS), "redis.shared_state.yml",
     "sentinel_password", "shared_state_sentinel_pass"),
    ("shared-state-sentinel-ssl-params", rails(**SHARED_STATE_TLS), "redis.shared_state.yml",
     "sentinels.1.ssl_params", {"ca_file": "/etc/gitlab/ss/ca.crt",
                                "cert": "/etc/gitlab/ss/client.crt",
                                "key": "/etc/gitlab/ss/client.key"}),
    ("encrypted-settings-file-cache", rails(**SECRET_FILES), "redis.cache.yml", "secret_file",
     "/etc/gitlab/cache.redis.enc"),
    ("encrypted-settings-file-global", rails(**SECRET_FILES), "redis.shared_state.yml",
     "secret_file", "/etc/gitlab/global.redis.enc"),
    ("extra-config-command-resque", rails(redis_extra_config_command="/opt/redis-global.sh"),
     "resque.yml", "config_command", "/opt/redis-global.sh"),
    ("extra-config-command-cable", rails(redis_extra_config_command="/opt/redis-global.sh"),
     "cable.yml", "config_command", "/opt/redis-global.sh"),
    ("extra-config-command-cache", rails(**COMMANDS), "redis.cache.yml", "config_command",
     "/opt/redis-cache-password.sh"),
    ("extra-config-command-global", rails(**COMMANDS), "redis.shared_state.yml",
     "config_command", "/opt/redis-global.sh"),
    ("redis-yml-override", rails(redis_yml_override=OVERRIDE), "redis.yml", "", OVERRIDE),
]


@pytest.mark.parametrize(("settings", "name", "path", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_redis_files_match_omnibus_gitlab_specs(settings, name, path, expected):
    assert dig(production(settings, name), path) == expected


def test_custom_settings_write_a_blank_client_id():
    # gitlab-rails_spec.rb: "with custom host, port, password and database" matches /id:$/
    content = files(rails(**CUSTOM))[ETC / "resque.yml"].content
    assert "\n  id: null\n" in content


def test_redis_yml_is_empty_by_default():
    # gitlab-rails_spec.rb 'redis.yml override': 'renders empty redis.yml'
    assert yaml.safe_load(files({})[ETC / "redis.yml"].content) is None


@pytest.mark.parametrize("name", gitlab_rails_redis.INSTANCES)
def test_instance_files_are_deleted_when_not_configured(name):
    # gitlab-rails_spec.rb: by default every redis.<instance>.yml and its link is deleted
    resources = gitlab_rails.config_files(make_context({}))
    assert Absent(ETC / f"redis.{name}.yml", notifies=gitlab_rails.common.RAILS_NOTIFY) \
        in resources


@pytest.mark.parametrize("name", gitlab_rails_redis.INSTANCES)
def test_each_instance_url_is_written(name):
    # gitlab-rails_spec.rb "with multiple instances", "with Sentinel passwords"
    url = f"redis://:fakepass@fake.redis.{name}.com:8888/2"
    settings = rails(redis_enable_client=False, **{
        f"redis_{name}_instance": url,
        f"redis_{name}_sentinels": [{"host": name, "port": "1234"}],
        f"redis_{name}_sentinels_password": "sentinelpass"})
    tree = production(settings, f"redis.{name}.yml")
    assert (tree["url"], tree["sentinel_password"], tree["sentinels"], tree["id"]) == (
        url, "sentinelpass", [{"host": name, "port": 1234}], None)
    assert tree["secret_file"].endswith(f"/encrypted_settings/redis.{name}.yml.enc")


@pytest.mark.parametrize("name", ["queues", "shared_state", "trace_chunks", "sessions"])
def test_cluster_nodes_are_refused_for_an_instance_that_cannot_be_a_cluster(name):
    # gitlab-rails_spec.rb: 'instances does not support redis cluster'
    settings = rails(**{f"redis_{name}_cluster_nodes": [{"host": "c1", "port": "12345"}]})
    with pytest.raises(ConfigError, match="cannot be a Redis Cluster"):
        files(settings)


def test_cluster_nodes_are_accepted_for_the_cluster_instances():
    # gitlab-rails_spec.rb: 'with allowed instances' does not raise
    nodes = [{"host": "cluster1.example.com", "port": "12345"}]
    settings = rails(**{f"redis_{name}_cluster_nodes": nodes
                        for name in gitlab_rails_redis.CLUSTER_INSTANCES})
    for name in gitlab_rails_redis.CLUSTER_INSTANCES:
        assert production(settings, f"redis.{name}.yml")["cluster"][0]["port"] == 12345


def test_sentinels_and_cluster_nodes_together_are_refused():
    settings = rails(redis_cache_sentinels=SENTINELS,
                     redis_cache_cluster_nodes=[{"host": "c1", "port": 1}])
    with pytest.raises(ConfigError, match="both Sentinels and cluster nodes"):
        files(settings)


def test_a_configured_instance_is_linked_into_rails(tmp_path):
    layout = Layout(install_dir=tmp_path)
    (layout.embedded / "service" / "gitlab-rails" / "config").mkdir(parents=True)
    context = make_context(rails(redis_cache_instance="redis://cache"), layout)
    links = {r.path: r for r in gitlab_rails.package_links(context)}
    config = layout.embedded / "service" / "gitlab-rails" / "config"
    assert isinstance(links[config / "redis.cache.yml"], Link)
    assert isinstance(links[config / "redis.queues.yml"], Absent)


# Distinctive values per schema type; a key whose output does not change fails.
APPLIED_PROBES: dict[str, Any] = {
    "redis_host": "redis.probe.test", "redis_socket": "/probe.sock",
    "redis_password": "probe-pass", "redis_ssl": True,
    "redis_enable_client": False, "redis_connect_timeout": 9, "redis_read_timeout": 9,
    "redis_write_timeout": 9, "redis_sentinels": [{"host": "s.probe", "port": 26380}],
    "redis_yml_override": {"probe": True},
}
#: Keys that matter only over TCP or with Sentinels, with what they need and their probe.
NEEDS: dict[str, dict[str, Any]] = {
    "redis_port": {"redis_host": "redis.probe.test", "redis_port": 7001},
    "redis_database": {"redis_host": "redis.probe.test", "redis_database": 7},
    "redis_sentinel_master": {"redis_sentinels": SENTINELS,
                              "redis_sentinel_master": "probe-master"},
    "redis_sentinel_master_port": {"redis_sentinels": SENTINELS,
                                   "redis_sentinel_master_port": 7002},
}


def applied_redis_keys() -> list[str]:
    schema = load_schema()
    return sorted(key for key in schema.keys("gitlab_rails")
                  if key.startswith("redis_") and schema.settings[("gitlab_rails", key)].used)


def probe(key: str) -> dict[str, Any]:
    """gitlab_rails settings that make `key` matter, with a distinctive value for it."""
    if key in APPLIED_PROBES:
        return {key: APPLIED_PROBES[key]}
    if key in NEEDS:
        return NEEDS[key]
    name = next((n for n in ("actioncable", *gitlab_rails_redis.INSTANCES)
                 if key.startswith(f"redis_{n}_")), None)
    prefix = f"redis_{name}_" if name else "redis_"
    base: dict[str, Any] = {}
    if name and not key.endswith(("_instance", "_cluster_nodes")):
        base[prefix + "instance"] = "redis://probe.base"
    suffix = key[len(prefix):]
    if suffix.startswith("tls_"):
        base[prefix + "ssl"] = True
    if suffix.startswith("sentinels_"):
        base[prefix + "sentinels"] = SENTINELS
        base[prefix + "sentinels_ssl"] = True
    if suffix in ("username", "password"):
        base[prefix + "cluster_nodes"] = [{"host": "n", "port": 1}]
    value: Any = "/probe/value"
    if suffix == "ssl" or suffix == "sentinels_ssl":
        value = True
        base.pop(key, None)
    elif suffix in ("sentinels", "cluster_nodes"):
        value = [{"host": "probe.node", "port": 1}]
    elif suffix == "instance":
        value = "redis://probe.instance"
    return {**base, key: value}


def redis_output(settings: dict[str, Any]) -> dict[str, str]:
    """Only the Redis files (gitlab.yml and the rest are not rendered: this runs per key)."""
    context = make_context(rails(**settings))
    values = {"q": gitlab_rails.common.quote, "to_yaml": gitlab_rails.to_yaml}
    written = gitlab_rails.redis_files(context, gitlab_rails.settings(context), {}, values)
    return {str(f.path): getattr(f, "content", "absent") for f in written}


@pytest.mark.parametrize("key", applied_redis_keys())
def test_every_applied_redis_key_reaches_a_file(key):
    settings = probe(key)
    without = {k: v for k, v in settings.items() if k != key}
    assert redis_output(settings) != redis_output(without), key
