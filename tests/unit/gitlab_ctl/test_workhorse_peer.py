"""Peer tests: expectations from omnibus-gitlab's
spec/chef/cookbooks/gitlab/recipes/gitlab-workhorse_spec.rb, checked against what our
reconfigure renders for the same gitlab.rb input (config.toml and the runit run script).
Each case id names the spec context it comes from; the words are ours, the facts theirs.
Also: every gitlab_workhorse key schema.yml declares applied changes the output."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.config.schema import read_schema_yaml
from gitlab_ctl.services import SERVICES
from tests.unit.gitlab_ctl.test_config_templates import make_context

CONFIG = Path("/var/opt/gitlab/gitlab-workhorse/config.toml")
RUN = Path("/opt/gitlab/sv/gitlab-workhorse/run")
SENTINEL_FREE = r"^(?!.*Sentinel)"


def service_output(name: str, settings: dict | None = None) -> dict[str, str]:
    """Path -> content (or the resource's kind) of everything service `name` writes."""
    context = make_context(settings)
    service = SERVICES[name]
    output = {}
    for resource in service.configure(context) + service.runit_resources(context):
        path = getattr(resource, "path", None) or getattr(resource, "name", None)
        content = getattr(resource, "content", None)
        if content is None:  # a directory, account, command: its fields say what it is
            content = {field.name: getattr(resource, field.name) for field in fields(resource)
                       if not callable(getattr(resource, field.name))}
        output[str(path)] = f"{type(resource).__name__}:{content}"
    return output


def workhorse(settings: dict | None = None) -> dict[str, str]:
    files = service_output("gitlab-workhorse", settings)
    return {"config": files[str(CONFIG)], "run": files[str(RUN)]}


def wh(**settings: Any) -> dict:
    return {"gitlab_workhorse": settings}


SENTINELS = [{"host": "127.0.0.1", "port": 26379}]
# (spec context, gitlab.rb, file, pattern, whether it matches)
CASES = [
    ("default-auth-socket", {}, "run",
     r"-authSocket /var/opt/gitlab/gitlab-rails/sockets/gitlab\.socket", True),
    ("default-auth-backend", {}, "run", r"-authBackend http://localhost:8080", True),
    ("default-no-alt-document-root", {}, "config", r"alt_document_root", False),
    ("default-no-shutdown-timeout", {}, "config", r"shutdown_timeout", False),
    ("default-no-object-storage", {}, "config", r"object_storage", False),
    ("default-no-propagate-correlation-id", {}, "run", r"propagateCorrelationID", False),
    ("default-no-config-command", {}, "config", r"config_command", False),
    ("default-no-metadata", {}, "config", r"\[metadata\]", False),
    ("alternate-document-root", wh(alt_document_root="/tmp/test"), "config",
     r'alt_document_root = "/tmp/test"', True),
    ("shutdown-timeout", wh(shutdown_timeout="60s"), "config", r'shutdown_timeout = "60s"',
     True),
    ("auth-socket-legacy-empty-socket", wh(auth_socket="''"), "run",
     r"-authSocket /var/opt/gitlab/gitlab-rails/sockets/gitlab\.socket", True),
    ("auth-socket-legacy-empty-backend", wh(auth_socket="''"), "run",
     r"-authBackend http://localhost:8080", True),
    ("only-auth-backend-no-socket", wh(auth_backend="https://test.example.com:8080"), "run",
     r"-authSocket", False),
    ("only-auth-backend-backend", wh(auth_backend="https://test.example.com:8080"), "run",
     r"-authBackend https://test\.example\.com:8080", True),
    ("nil-auth-socket", wh(auth_socket=None), "run",
     r"-authSocket /var/opt/gitlab/gitlab-rails/sockets/gitlab\.socket", True),
    ("nil-auth-socket-with-backend",
     wh(auth_socket=None, auth_backend="https://test.example.com:8080"), "run",
     r"-authSocket", False),
    ("auth-backend-and-socket-socket",
     wh(auth_socket="/tmp/test.socket", auth_backend="https://test.example.com:8080"), "run",
     r"-authSocket /tmp/test\.socket", True),
    ("auth-backend-and-socket-backend",
     wh(auth_socket="/tmp/test.socket", auth_backend="https://test.example.com:8080"), "run",
     r"-authBackend https://test\.example\.com:8080", True),
    ("without-api-rate-limiting-limit", {}, "run", r"-apiLimit", False),
    ("without-api-rate-limiting-duration", {}, "run", r"-apiQueueDuration", False),
    ("without-api-rate-limiting-queue", {}, "run", r"-apiQueueLimit", False),
    ("api-rate-limiting-limit", wh(api_limit=3, api_queue_limit=6, api_queue_duration="1m"),
     "run", r"-apiLimit 3 ", True),
    ("api-rate-limiting-duration",
     wh(api_limit=3, api_queue_limit=6, api_queue_duration="1m"), "run",
     r"-apiQueueDuration 1m ", True),
    ("api-rate-limiting-queue", wh(api_limit=3, api_queue_limit=6, api_queue_duration="1m"),
     "run", r"-apiQueueLimit 6 ", True),
    ("without-prometheus-listen-address", wh(prometheus_listen_addr=""), "run",
     r"-prometheusListenAddr", False),
    ("with-prometheus-listen-address", wh(prometheus_listen_addr=":9229"), "run",
     r"-prometheusListenAddr :9229 ", True),
    ("without-api-ci-long-polling", {}, "run", r"-apiCiLongPollingDuration", False),
    ("with-api-ci-long-polling", wh(api_ci_long_polling_duration="60s"), "run",
     r"-apiCiLongPollingDuration 60s", True),
    ("propagate-correlation-id", wh(propagate_correlation_id=True), "run",
     r"-propagateCorrelationID", True),
    ("trusted-cidrs-for-propagation",
     wh(propagate_correlation_id=True,
        trusted_cidrs_for_propagation=["127.0.0.1/32", "192.168.0.1/8"]), "config",
     re.escape('trusted_cidrs_for_propagation = ["127.0.0.1/32","192.168.0.1/8"]'), True),
    ("trusted-cidrs-for-propagation-only",
     wh(propagate_correlation_id=True,
        trusted_cidrs_for_propagation=["127.0.0.1/32", "192.168.0.1/8"]), "config",
     r"trusted_cidrs_for_x_forwarded_for", False),
    ("trusted-cidrs-both",
     wh(propagate_correlation_id=True,
        trusted_cidrs_for_propagation=["127.0.0.1/32", "192.168.0.1/8"],
        trusted_cidrs_for_x_forwarded_for=["1.2.3.4/16", "5.6.7.8/24"]), "config",
     re.escape('trusted_cidrs_for_x_forwarded_for = ["1.2.3.4/16","5.6.7.8/24"]'), True),
    ("log-format-json", wh(log_format="json"), "run", r"-logFormat json", True),
    ("log-format-text", wh(log_format="text"), "run", r"-logFormat text", True),
    ("default-redis-socket-url", {}, "config",
     re.escape('URL = "unix:///var/opt/gitlab/redis/redis.socket"'), True),
    ("default-redis-no-sentinel", {}, "config", r"Sentinel", False),
    ("default-config-passed", {}, "run", r"-config \S*config\.toml", True),
    ("rails-host-port-password-url",
     {"gitlab_rails": {"redis_socket": False, "redis_host": "10.0.15.1", "redis_port": 1234,
                       "redis_password": "examplepassword"}}, "config",
     re.escape('URL = "redis://:examplepassword@10.0.15.1:1234/"'), True),
    ("rails-host-port-password-password",
     {"gitlab_rails": {"redis_socket": False, "redis_host": "10.0.15.1", "redis_port": 1234,
                       "redis_password": "examplepassword"}}, "config",
     re.escape('Password = "examplepassword"'), True),
    ("workhorse-username-password-url",
     wh(redis_host="10.0.15.1", redis_port=1234, redis_username="workhorse-user",
        redis_password="examplepassword"), "config",
     re.escape('URL = "redis://workhorse-user:examplepassword@10.0.15.1:1234/"'), True),
    ("workhorse-username-password-password",
     wh(redis_host="10.0.15.1", redis_port=1234, redis_username="workhorse-user",
        redis_password="examplepassword"), "config",
     re.escape('Password = "examplepassword"'), True),
    ("redis-socket-url",
     {"gitlab_rails": {"redis_socket": "/home/random/path.socket",
                       "redis_password": "examplepassword"}}, "config",
     re.escape('URL = "unix://:examplepassword@/home/random/path.socket"'), True),
    ("redis-socket-password",
     {"gitlab_rails": {"redis_socket": "/home/random/path.socket",
                       "redis_password": "examplepassword"}}, "config",
     re.escape('Password = "examplepassword"'), True),
    ("redis-socket-no-sentinel",
     {"gitlab_rails": {"redis_socket": "/home/random/path.socket",
                       "redis_password": "examplepassword"}}, "config", r"Sentinel", False),
    ("image-scaler-default-filesize", {}, "config",
     r"\[image_resizer\]\n  max_scaler_procs = \d+\n  max_filesize = 250000", True),
    ("image-scaler-fewer-than-4-cores", {}, "config",
     r"\[image_resizer\]\n  max_scaler_procs = 2", True),
    ("image-scaler-custom",
     wh(image_scaler_max_procs=5, image_scaler_max_filesize=1024), "config",
     r"\[image_resizer\]\n  max_scaler_procs = 5\n  max_filesize = 1024", True),
    ("keywatcher-enabled", wh(workhorse_keywatcher=True), "config", r"\[redis\]", True),
    ("keywatcher-disabled", wh(workhorse_keywatcher=False), "config", r"\[redis\]", False),
    ("config-command", wh(extra_config_command="/opt/workhorse-redis-config.sh"), "config",
     re.escape('config_command = "/opt/workhorse-redis-config.sh"'), True),
    ("metadata-zip-reader-limit", wh(metadata_zip_reader_limit_bytes=209715200), "config",
     r"\[metadata\]\n  zip_reader_limit_bytes = 209715200", True),
]


@pytest.mark.parametrize(("settings", "file", "pattern", "matches"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_workhorse_renders_what_omnibus_gitlab_specs_expect(settings, file, pattern, matches):
    content = workhorse(settings)[file]
    assert bool(re.search(pattern, content)) is matches, content


def test_custom_working_directory_holds_config_toml():
    """'with working directory specified': config.toml is written in the directory set."""
    files = service_output("gitlab-workhorse", wh(dir="/home/random/dir"))
    assert "/home/random/dir/config.toml" in files


def test_custom_env_variable_reaches_env_dir():
    """'when a custom env variable is specified': it is one of the env dir's files."""
    files = service_output("gitlab-workhorse", wh(env={"IAM": "CUSTOMVAR"}))
    assert files["/opt/gitlab/etc/gitlab-workhorse/env/IAM"] == "File:CUSTOMVAR"


#: A distinctive value per applied key (None: the key's type decides), with what it needs.
DISTINCT: dict[str, tuple[Any, dict]] = {
    "enable": (None, {}), "auth_socket": ("/tmp/other.socket", {}),
    "listen_network": ("tcp", {"listen_addr": "127.0.0.1:8181"}),
    "listen_umask": (0o22, {}), "workhorse_keywatcher": (False, {}),
    "propagate_correlation_id": (True, {}), "ha": (True, {}),
    "redis_host": ("10.9.9.9", {}), "redis_port": (6390, {"redis_host": "10.9.9.9"}),
    "redis_database": (3, {"redis_host": "10.9.9.9"}),
    "redis_ssl": (True, {"redis_host": "10.9.9.9"}),
    "redis_username": ("someone", {}),
    "env": ({"PEER": "1"}, {}), "metadata_zip_reader_limit_bytes": (1234, {}),
    "api_limit": (7, {}), "api_queue_limit": (9, {}), "image_scaler_max_procs": (7, {}),
    "image_scaler_max_filesize": (77, {}),
    "trusted_cidrs_for_propagation": (["10.0.0.0/8"], {}),
    "trusted_cidrs_for_x_forwarded_for": (["10.0.0.0/8"], {}),
}


def applied_keys(section: str) -> list[str]:
    """The keys schema.yml (with schema_omnibus.yml) declares applied in `section`."""
    specs = read_schema_yaml()[section]
    return sorted(key for key, spec in specs.items()
                  if not key.startswith("_") and spec.get("used", True))


@pytest.mark.parametrize("key", applied_keys("gitlab_workhorse"))
def test_every_applied_workhorse_key_changes_the_output(key):
    if key == "enable":
        pytest.skip("enable decides whether the service runs, not what it writes")
    value, extra = DISTINCT.get(key, ("/peer/value-7", {}))
    assert service_output("gitlab-workhorse", wh(**extra)) != service_output(
        "gitlab-workhorse", wh(**extra, **{key: value}))


def test_rails_redis_host_moves_workhorse_to_tcp_too():
    """omnibus-gitlab: gitlab_rails['redis_host'] means TCP for Rails and Workhorse alike;
    without a socket or a host, the local Redis on 127.0.0.1."""
    from gitlab_ctl.services import workhorse_redis

    context = make_context({"gitlab_rails": {"redis_host": "10.0.15.1", "redis_port": 1234}})
    assert workhorse_redis.params(context)["url"] == "redis://10.0.15.1:1234/"
    context = make_context({"gitlab_rails": {"redis_socket": None}})
    assert workhorse_redis.params(context)["url"].startswith("redis://127.0.0.1")
