"""Peer tests: expectations from omnibus-gitlab's
spec/chef/cookbooks/registry/recipes/registry_spec.rb, checked against what our reconfigure
renders for the same gitlab.rb input. config.yml is read back as YAML (its hashes are JSON,
as omnibus-gitlab writes them), so a spec's `"timeout":"500ms"` is the endpoint's timeout
here. Each case id names the spec context it comes from; the words are ours, the facts
theirs. Also: every registry key schema.yml declares applied changes the output."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.unit.gitlab_ctl.test_workhorse_peer import applied_keys, service_output

CONFIG = "/var/opt/gitlab/registry/config.yml"
RUN = "/opt/gitlab/sv/registry/run"
URL = {"registry_external_url": "https://registry.example.com"}


def registry(**settings: Any) -> dict:
    return {**URL, "registry": settings}


def output(settings: dict | None = None) -> dict[str, str]:
    return {path: text.split(":", 1)[1] for path, text in
            service_output("registry", settings or URL).items()}


def config(settings: dict | None = None) -> dict:
    return yaml.safe_load(output(settings)[CONFIG])


def dig(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree[int(key)] if isinstance(tree, list) else tree.get(key)
        if tree is None:
            return None
    return tree


S3 = {"accesskey": "awsaccesskey", "secretkey": "awssecretkey", "bucketname": "bucketname"}
MINIMUM = {"name": "test_endpoint", "url": "https://registry.example.com/notify"}
THRESHOLD = {**MINIMUM, "timeout": "500ms", "threshold": 5, "backoff": "1s",
             "headers": {"Authorization": ["AUTHORIZATION_EXAMPLE_TOKEN"]}}
MAXRETRIES = {**MINIMUM, "timeout": "500ms", "maxretries": 5, "backoff": "1s",
              "headers": {"Authorization": ["AUTHORIZATION_EXAMPLE_TOKEN"]}}
GEO = {"name": "geo_event", "url": "https://registry.example.com/notify", "timeout": "500ms",
       "threshold": 5, "backoff": "1s", "headers": {"Authorization": ["mysecret"]}}
OVERRIDDEN_DEFAULTS = registry(
    notifications=[MINIMUM], default_notifications_timeout="5000ms",
    default_notifications_maxretries=5, default_notifications_backoff="50s",
    default_notifications_headers={"Authorization": ["AUTHORIZATION_EXAMPLE_TOKEN1",
                                                     "AUTHORIZATION_EXAMPLE_TOKEN2"]})
THREE = registry(notifications=[
    MINIMUM, {"name": "test_endpoint2", "url": "https://registry.example.com/notify2",
              "timeout": "100ms", "threshold": 2, "backoff": "4s",
              "headers": {"Authorization": ["AUTHORIZATION_EXAMPLE_TOKEN"]}},
    {"name": "test_endpoint3", "url": "https://registry.example.com/notify3"}])
MIDDLEWARE = {"storage": [{"name": "googlecdn", "options": {
    "baseurl": "https://example.org", "privatekey": "/etc/gitlab/googlecdn.key",
    "keyname": "example-key"}}]}
REPORTING = {"sentry": {"enabled": True, "dsn": "https://<key>@sentry.io/<project>",
                        "environment": "production"}}
GC = {"disabled": False, "maxbackoff": "24h", "noidlebackoff": False,
      "transactiontimeout": "10s", "reviewafter": "24h",
      "manifests": {"disabled": False, "interval": "5s"},
      "blobs": {"disabled": False, "interval": "5s", "storagetimeout": "5s"}}
REDIS_CACHE = {
    "cache": {"enabled": True, "addr": "redis-cache.local:6379", "mainname": "cache-redis",
              "password": "redis_password", "sentinelpassword": "redis_sentinel_password",
              "db": 0, "dialtimeout": "10ms", "readtimeout": "10ms", "writetimeout": "10ms"},
    "tls": {"enabled": True, "insecure": True}, "loadbalancing": {"enabled": False},
    "pool": {"size": 10, "maxlifetime": "1h", "idletimeout": "300s"}}
REDIS_LOADBALANCING = {
    "loadbalancing": {"enabled": True, "nameserver": "localhost", "port": 8600,
                      "record": "replica.pg.service.consul"},
    "cache": {"enabled": False}}

# (spec context, gitlab.rb, dotted path in config.yml, expected value)
CASES = [
    ("health-check-disabled", registry(health_storagedriver_enabled=False),
     "health.storagedriver.enabled", False),
    ("validation-enabled", registry(validation_enabled=True), "validation.disabled", False),
    ("draintimeout-default", URL, "http.draintimeout", 0),
    ("draintimeout-set", registry(http_draintimeout=30), "http.draintimeout", 30),
    ("middleware-enabled", registry(middleware=MIDDLEWARE), "middleware", MIDDLEWARE),
    ("database-enabled-true", registry(database={"enabled": True}), "database.enabled", True),
    ("database-enabled-false", registry(database={"enabled": False}), "database.enabled",
     False),
    ("reporting-enabled", registry(reporting=REPORTING), "reporting", REPORTING),
    ("gc-present", registry(gc=GC), "gc", GC),
    ("log-formatter-json", registry(log_formatter="json"), "log.formatter", "json"),
    ("log-formatter-json-level", registry(log_formatter="json"), "log.level", "info"),
    ("schema1-compatibility", registry(compatibility_schema1_enabled=True),
     "compatibility.schema1.enabled", True),
    ("registry-port", registry(registry_http_addr="localhost:5001"), "http.addr",
     "localhost:5001"),
    ("debug-addr", registry(debug_addr="localhost:5005"), "http.debug.addr", "localhost:5005"),
    ("custom-storage", registry(storage={"s3": S3}), "storage.s3", S3),
    ("custom-storage-no-rootdirectory", registry(storage={"s3": S3}), "storage.filesystem",
     None),
    ("custom-storage-default-cache", registry(storage={"s3": S3}), "storage.cache",
     {"blobdescriptor": "inmemory"}),
    ("custom-storage-default-delete", registry(storage={"s3": S3}), "storage.delete",
     {"enabled": True}),
    ("custom-storage-cache-overridden",
     registry(storage={"s3": S3, "cache": "somewhere-else", "delete": {"enabled": False}}),
     "storage.cache", "somewhere-else"),
    ("custom-storage-delete-overridden",
     registry(storage={"s3": S3, "cache": "somewhere-else", "delete": {"enabled": False}}),
     "storage.delete", {"enabled": False}),
    ("storage-delete-disabled", registry(storage_delete_enabled=False), "storage.delete",
     {"enabled": False}),
    ("geo-authorization-header", registry(notifications=[GEO]),
     "notifications.endpoints.0.headers.Authorization", ["mysecret"]),
    ("geo-threshold", registry(notifications=[GEO]), "notifications.endpoints.0.threshold", 5),
    ("geo-no-maxretries", registry(notifications=[GEO]),
     "notifications.endpoints.0.maxretries", None),
    ("minimum-name", registry(notifications=[MINIMUM]), "notifications.endpoints.0.name",
     "test_endpoint"),
    ("minimum-url", registry(notifications=[MINIMUM]), "notifications.endpoints.0.url",
     "https://registry.example.com/notify"),
    ("minimum-timeout", registry(notifications=[MINIMUM]),
     "notifications.endpoints.0.timeout", "500ms"),
    ("minimum-maxretries", registry(notifications=[MINIMUM]),
     "notifications.endpoints.0.maxretries", 5),
    ("minimum-no-threshold", registry(notifications=[MINIMUM]),
     "notifications.endpoints.0.threshold", None),
    ("minimum-backoff", registry(notifications=[MINIMUM]),
     "notifications.endpoints.0.backoff", "1s"),
    ("defaults-overridden-timeout", OVERRIDDEN_DEFAULTS, "notifications.endpoints.0.timeout",
     "5000ms"),
    ("defaults-overridden-maxretries", OVERRIDDEN_DEFAULTS,
     "notifications.endpoints.0.maxretries", 5),
    ("defaults-overridden-no-threshold", OVERRIDDEN_DEFAULTS,
     "notifications.endpoints.0.threshold", None),
    ("defaults-overridden-backoff", OVERRIDDEN_DEFAULTS, "notifications.endpoints.0.backoff",
     "50s"),
    ("threshold-deprecated-threshold", registry(notifications=[THRESHOLD]),
     "notifications.endpoints.0.threshold", 5),
    ("threshold-deprecated-no-maxretries", registry(notifications=[THRESHOLD]),
     "notifications.endpoints.0.maxretries", None),
    ("threshold-deprecated-timeout", registry(notifications=[THRESHOLD]),
     "notifications.endpoints.0.timeout", "500ms"),
    ("maxretries-kept", registry(notifications=[MAXRETRIES]),
     "notifications.endpoints.0.maxretries", 5),
    ("maxretries-no-threshold", registry(notifications=[MAXRETRIES]),
     "notifications.endpoints.0.threshold", None),
    ("three-endpoints-first-maxretries", THREE, "notifications.endpoints.0.maxretries", 5),
    ("three-endpoints-second-timeout", THREE, "notifications.endpoints.1.timeout", "100ms"),
    ("three-endpoints-second-threshold", THREE, "notifications.endpoints.1.threshold", 2),
    ("three-endpoints-second-backoff", THREE, "notifications.endpoints.1.backoff", "4s"),
    ("three-endpoints-third-url", THREE, "notifications.endpoints.2.url",
     "https://registry.example.com/notify3"),
    ("three-endpoints-third-timeout", THREE, "notifications.endpoints.2.timeout", "500ms"),
    ("three-endpoints-third-backoff", THREE, "notifications.endpoints.2.backoff", "1s"),
    ("notifications-not-configured", URL, "notifications", None),
    ("redis-cache", registry(redis=REDIS_CACHE), "redis", REDIS_CACHE),
    ("redis-loadbalancing", registry(redis=REDIS_LOADBALANCING), "redis", REDIS_LOADBALANCING),
]


@pytest.mark.parametrize(("settings", "path", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_config_yml_holds_what_omnibus_gitlab_specs_expect(settings, path, expected):
    assert dig(config(settings), path) == expected


def test_default_headers_merge_into_each_endpoint():
    """'when the default values are overridden': default headers reach the endpoint."""
    headers = dig(config(OVERRIDDEN_DEFAULTS), "notifications.endpoints.0.headers")
    assert headers == {"Authorization": ["AUTHORIZATION_EXAMPLE_TOKEN1",
                                         "AUTHORIZATION_EXAMPLE_TOKEN2"]}


def test_hashes_are_written_as_omnibus_gitlab_writes_them():
    """'when the registry garbage collector configuration is present' and 'when registry
    reporting is enabled' match config.yml's text: compact JSON after the key."""
    text = output(registry(gc=GC, reporting=REPORTING))[CONFIG]
    assert re.search(r'^gc: \{"disabled":false', text, re.MULTILINE)
    assert ('reporting: {"sentry":{"enabled":true,"dsn":"https://<key>@sentry.io/<project>",'
            '"environment":"production"}}') in text


def test_custom_user_and_group_run_the_registry():
    """'when user and group are specified': the run script switches to them."""
    run = output(registry(username="registryuser", group="registrygroup"))[RUN]
    assert "-U registryuser:registrygroup" in run and "-u registryuser:registrygroup" in run


def test_custom_env_variable_reaches_env_dir():
    """'when registry has custom environment variables configured'."""
    files = output(registry(env={"HTTP_PROXY": "my-proxy"}))
    assert files["/opt/gitlab/etc/registry/env/HTTP_PROXY"] == "my-proxy"


DISTINCT: dict[str, Any] = {
    "storage": {"s3": S3}, "storage_delete_enabled": False, "middleware": MIDDLEWARE,
    "http_draintimeout": 30, "autoredirect": True, "validation_enabled": True,
    "compatibility_schema1_enabled": True, "notifications": [MINIMUM], "gc": GC,
    "redis": REDIS_CACHE, "reporting": REPORTING, "health_storagedriver_enabled": False,
    "database": {"enabled": True}, "env": {"PEER": "1"}, "nginx": {"listen_port": 5050},
    "default_notifications_maxretries": 9, "default_notifications_headers": {"X-Peer": ["1"]},
}


@pytest.mark.parametrize("key", applied_keys("registry"))
def test_every_applied_registry_key_changes_the_output(key):
    if key == "enable":
        pytest.skip("enable decides whether the service runs, not what it writes")
    if key in ("uid", "gid"):
        pytest.skip("the account's ids: test_accounts.py checks they reach User and Group")
    if key == "auto_migrate":
        pytest.skip("whether reconfigure migrates: test_registry_database.py checks it")
    value = DISTINCT.get(key, "/peer/value-7")
    base = {**URL, "registry": {"notifications": [MINIMUM]}}
    changed = {**URL, "registry": {"notifications": [MINIMUM], key: value}}
    if key == "notifications":
        base = URL
    # registry['nginx'] configures nginx's registry site, not the registry itself
    service = "nginx" if key == "nginx" else "registry"
    assert service_output(service, base) != service_output(service, changed)
