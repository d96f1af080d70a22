"""Peer tests of the agent server for Kubernetes (KAS): expectations of omnibus-gitlab's
spec/chef/cookbooks/gitlab-kas/recipes/gitlab-kas_spec.rb (each case id starts with the
`describe`/`context` it comes from), checked against what our reconfigure renders for the same
gitlab.rb input. KAS runs in the default role (test_monitoring_defaults_peer checks that);
the cases still turn it on with gitlab_kas['enable'], as the spec's stub_gitlab_rb does. The
words are ours, the facts theirs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config import secrets as secret_kinds
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.services import gitlab_kas
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

KAS_DIR = Path("/var/opt/gitlab/gitlab-kas")
CONFIG = KAS_DIR / "gitlab-kas-config.yml"
GITLAB_YML = Path("/var/opt/gitlab/gitlab-rails/etc/gitlab.yml")
HTTPS = "https://gitlab.example.com"
SENTINELS = [{"host": "a", "port": 1}, {"host": "b", "port": 2}, {"host": "c"}]
CERTS = {"certificate_file": "/path/to/cert.pem", "key_file": "/path/to/key.pem",
         "internal_api_certificate_file": "/path/to/internal-api-cert.pem",
         "internal_api_key_file": "/path/to/internal-api-key.pem",
         "kubernetes_api_certificate_file": "/path/to/kubernetes-api-cert.pem",
         "kubernetes_api_key_file": "/path/to/kubernetes-api-key.pem",
         "private_api_certificate_file": "/path/to/private-api-cert.pem",
         "private_api_key_file": "/path/to/private-api-key.pem"}
WORKSPACES = {"enabled": True, "listen": {"network": "tcp4", "address": "0.0.0.0:9000",
                                          "listen_grace_period": "2s",
                                          "shutdown_grace_period": "100s"}}
USER = {"listen_address": "localhost:5006", "listen_websocket": False,
        "observability_listen_address": "0.0.0.0:8151", "metrics_usage_reporting_period": 120,
        "sentry_dsn": "https://my_key:my_secret@sentry.io/test_project",
        "sentry_environment": "production", "log_level": "debug", "grpc_log_level": "debug",
        "workspaces": WORKSPACES, "env": {"OWN_PRIVATE_API_HOST": "fake-host.example.com"}}


def kas(external_url: str = HTTPS, rails: dict | None = None, **settings: Any) -> dict:
    """gitlab.rb with KAS on, as omnibus-gitlab's default role has it."""
    return {"external_url": external_url, "gitlab_kas": {"enable": True, **settings},
            **({"gitlab_rails": rails} if rails else {})}


def files(settings: dict) -> dict[Path, str]:
    return {f.path: f.content for f in service_files(make_context(settings))}


def config(settings: dict) -> dict:
    return yaml.safe_load(files(settings)[CONFIG])


def dig(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree[part]
    return tree


CONFIG_CASES = [
    ("defaults-agent-listen", kas(), "agent.listen",
     {"network": "tcp", "address": "localhost:8150", "websocket": True}),
    ("defaults-kubernetes-api", kas(), "agent.kubernetes_api",
     {"listen": {"address": "localhost:8154"}, "url_path_prefix": "/",
      "websocket_token_secret_file": "/var/opt/gitlab/gitlab-kas/websocket_token_secret_file"}),
    ("defaults-observability", kas(), "observability",
     {"listen": {"address": "localhost:8151", "network": "tcp"},
      "logging": {"level": "info", "grpc_level": "error"}, "usage_reporting_period": "60s"}),
    ("defaults-private-api", kas(), "private_api",
     {"listen": {"address": "localhost:8155", "network": "tcp",
                 "authentication_secret_file":
                 "/var/opt/gitlab/gitlab-kas/private_api_authentication_secret_file"}}),
    ("defaults-workspaces", kas(), "workspaces", {"enabled": False}),
    ("defaults-gitlab-external-url", kas(), "gitlab.external_url", HTTPS),
    ("user-settings-agent-listen", kas(**USER), "agent.listen",
     {"network": "tcp", "address": "localhost:5006", "websocket": False}),
    ("user-settings-observability", kas(**USER), "observability",
     {"listen": {"address": "0.0.0.0:8151", "network": "tcp"},
      "logging": {"level": "debug", "grpc_level": "debug"}, "usage_reporting_period": "120s",
      "sentry": {"dsn": "https://my_key:my_secret@sentry.io/test_project",
                 "environment": "production"}}),
    ("user-settings-workspaces", kas(**USER), "workspaces", WORKSPACES),
    ("relative-url-gitlab-external-url", kas("https://example.com/gitlab"),
     "gitlab.external_url", "https://example.com"),
    ("own-subdomain-gitlab-external-url",
     {**kas(listen_websocket=True), "gitlab_kas_external_url": "wss://kas.gitlab.example.com/"},
     "gitlab.external_url", HTTPS),
    ("redis-rails-password-file", kas(rails={"redis_password": "the-password"}),
     "redis.password_file", "/var/opt/gitlab/gitlab-kas/redis_password_file"),
    ("redis-kas-username", kas(redis_username="kas-user"), "redis.username", "kas-user"),
    ("redis-sentinels-host-only", kas(rails={"redis_host": "the-host"}), "redis",
     {"network": "tcp", "tls": {"enabled": False}, "server": {"address": "the-host:6379"}}),
    ("redis-sentinels-host-and-port", kas(rails={"redis_host": "the-host", "redis_port": 12345}),
     "redis.server", {"address": "the-host:12345"}),
    ("redis-tls-enabled", kas(rails={
        "redis_host": "the-host", "redis_port": 12345, "redis_ssl": True,
        "redis_tls_client_cert_file": "/etc/gitlab/self_signed.crt",
        "redis_tls_client_key_file": "/etc/gitlab/self_signed.key"}), "redis.tls",
     {"enabled": True, "ca_certificate_file": "/opt/gitlab/embedded/ssl/certs/cacert.pem",
      "certificate_file": "/etc/gitlab/self_signed.crt",
      "key_file": "/etc/gitlab/self_signed.key"}),
    ("redis-with-sentinel", {**kas(rails={"redis_sentinels": SENTINELS}),
                             "redis": {"master_name": "example-redis"}}, "redis.sentinel",
     {"master_name": "example-redis", "addresses": ["a:1", "b:2", "c:6379"]}),
    ("redis-sentinel-password", kas(rails={"redis_sentinels": SENTINELS,
                                           "redis_sentinels_password": "some pass"},
                                    redis_sentinels_master_name="example-redis"),
     "redis.sentinel",
     {"master_name": "example-redis", "addresses": ["a:1", "b:2", "c:6379"],
      "sentinel_password_file": "/var/opt/gitlab/gitlab-kas/redis_sentinels_password_file"}),
    ("redis-sentinel-tls-enabled", kas(rails={"redis_sentinels": SENTINELS,
                                              "redis_sentinels_ssl": True}),
     "redis.sentinel.tls", {"enabled": True}),
    ("redis-sentinel-tls-certificates", kas(
        rails={"redis_sentinels": SENTINELS, "redis_sentinels_ssl": True},
        redis_sentinels_tls_ca_cert_file="/etc/gitlab/sentinel_ca.crt",
        redis_sentinels_tls_client_cert_file="/etc/gitlab/sentinel_client.crt",
        redis_sentinels_tls_client_key_file="/etc/gitlab/sentinel_client.key"),
     "redis.sentinel.tls",
     {"enabled": True, "ca_certificate_file": "/etc/gitlab/sentinel_ca.crt",
      "certificate_file": "/etc/gitlab/sentinel_client.crt",
      "key_file": "/etc/gitlab/sentinel_client.key"}),
    ("redis-sentinel-tls-copied-from-rails", kas(rails={
        "redis_sentinels": SENTINELS[:2], "redis_sentinels_ssl": True,
        "redis_sentinels_tls_ca_cert_file": "/etc/gitlab/sentinel_ca.crt",
        "redis_sentinels_tls_client_cert_file": "/etc/gitlab/sentinel_client.crt",
        "redis_sentinels_tls_client_key_file": "/etc/gitlab/sentinel_client.key"}),
     "redis.sentinel.tls",
     {"enabled": True, "ca_certificate_file": "/etc/gitlab/sentinel_ca.crt",
      "certificate_file": "/etc/gitlab/sentinel_client.crt",
      "key_file": "/etc/gitlab/sentinel_client.key"}),
    ("redis-different-from-rails", kas(
        rails={"redis_host": "1.2.3.4", "redis_port": 6379,
               "redis_password": "rails_redis_password"},
        redis_host="4.5.6.7", redis_port=6389, redis_password="kas_redis_password"), "redis",
     {"network": "tcp", "password_file": "/var/opt/gitlab/gitlab-kas/redis_password_file",
      "server": {"address": "4.5.6.7:6389"}, "tls": {"enabled": False}}),
    ("certificates-agent-listen", kas(listen_websocket=False, **CERTS), "agent.listen",
     {"network": "tcp", "address": "localhost:8150", "websocket": False,
      "certificate_file": "/path/to/cert.pem", "key_file": "/path/to/key.pem"}),
    ("certificates-kubernetes-api", kas(**CERTS), "agent.kubernetes_api.listen",
     {"address": "localhost:8154", "certificate_file": "/path/to/kubernetes-api-cert.pem",
      "key_file": "/path/to/kubernetes-api-key.pem"}),
    ("certificates-api", kas(**CERTS), "api.listen.certificate_file",
     "/path/to/internal-api-cert.pem"),
    ("certificates-api-key", kas(**CERTS), "api.listen.key_file",
     "/path/to/internal-api-key.pem"),
    ("certificates-private-api", kas(**CERTS), "private_api.listen.certificate_file",
     "/path/to/private-api-cert.pem"),
    ("certificates-private-api-key", kas(**CERTS), "private_api.listen.key_file",
     "/path/to/private-api-key.pem"),
    ("extra-config-command", kas(extra_config_command="/opt/kas-redis-config.sh"), "config",
     {"command": "/opt/kas-redis-config.sh"}),
    ("extra-config-command-default", kas(), "config", None),
]


@pytest.mark.parametrize(("settings", "path", "expected"),
                         [case[1:] for case in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_kas_config_matches_omnibus_gitlab(settings, path, expected):
    assert dig(config(settings), path) == expected


def test_no_sentinel_block_without_sentinels_and_no_server_with_them():
    """redis-sentinels-host-only / redis-with-sentinel: one of server and sentinel."""
    assert "sentinel" not in config(kas(rails={"redis_host": "the-host"}))["redis"]
    assert "server" not in config(kas(rails={"redis_sentinels": SENTINELS}))["redis"]


def test_sentinel_tls_disabled_writes_no_tls_block():
    """redis-sentinel-tls-disabled."""
    settings = kas(rails={"redis_sentinels": SENTINELS, "redis_sentinels_ssl": False})
    assert "tls" not in config(settings)["redis"]["sentinel"]


def test_no_redis_password_or_username_by_default():
    """redis-no-password / redis-no-username: neither key, and no password file."""
    written = files(kas())
    assert not {"password_file", "username"} & set(yaml.safe_load(written[CONFIG])["redis"])
    assert KAS_DIR / "redis_password_file" not in written


def test_incomplete_certificate_bundles_are_not_rendered():
    """certificate-bundles-not-correctly-defined: a certificate without its key is left out."""
    rendered = files(kas(certificate_file="/path/to/file.pem",
                         internal_api_certificate_file="/path/to/file.pem",
                         kubernetes_api_key_file="/path/to/file.pem",
                         private_api_key_file="/path/to/file.pem"))[CONFIG]
    assert "certificate_file" not in rendered and "key_file" not in rendered


FILE_CASES = [
    ("defaults-run-file", kas(), Path("/opt/gitlab/sv/gitlab-kas/run"),
     "--configuration-file /var/opt/gitlab/gitlab-kas/gitlab-kas-config.yml"),
    ("defaults-ssl-cert-dir", kas(), Path("/opt/gitlab/etc/gitlab-kas/env/SSL_CERT_DIR"),
     "/opt/gitlab/embedded/ssl/certs/"),
    ("defaults-godebug", kas(), Path("/opt/gitlab/etc/gitlab-kas/env/GODEBUG"), "tlsmlkem=0"),
    ("user-settings-own-private-api-host", kas(**USER),
     Path("/opt/gitlab/etc/gitlab-kas/env/OWN_PRIVATE_API_HOST"), "fake-host.example.com"),
    ("redis-rails-password-file-content", kas(rails={"redis_password": "the-password"}),
     KAS_DIR / "redis_password_file", "the-password"),
    ("redis-sentinel-password-file-content",
     kas(rails={"redis_sentinels": SENTINELS, "redis_sentinels_password": "some pass"}),
     KAS_DIR / "redis_sentinels_password_file", "some pass"),
    ("redis-different-from-rails-password-file",
     kas(rails={"redis_host": "1.2.3.4", "redis_password": "rails_redis_password"},
         redis_host="4.5.6.7", redis_password="kas_redis_password"),
     KAS_DIR / "redis_password_file", "kas_redis_password"),
]


@pytest.mark.parametrize(("settings", "path", "text"), [case[1:] for case in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_kas_files_match_omnibus_gitlab(settings, path, text):
    assert text in files(settings)[path]


SECRETS = {"api_secret_key": base64.b64encode(b"1" * 32).decode(),
           "private_api_secret_key": base64.b64encode(b"2" * 32).decode(),
           "websocket_token_secret_key": base64.b64encode(b"3" * 72).decode()}


def test_user_secrets_reach_their_files():
    """user-settings: the secret files hold gitlab.rb's secrets."""
    written = files(kas(**SECRETS))
    for key, (name, _length) in gitlab_kas.SECRET_FILES.items():
        assert written[KAS_DIR / name] == SECRETS[key]


@pytest.mark.parametrize("key", sorted(SECRETS))
def test_secret_of_wrong_length_is_refused(key):
    """GitlabKas.validate_secrets (libraries/gitlab_kas.rb): exactly 32 or 72 bytes."""
    with pytest.raises(ConfigError, match="should be exactly"):
        files(kas(**{key: base64.b64encode(b"x" * 16).decode()}))


def test_generated_secrets_have_omnibus_gitlab_lengths():
    """defaults: the generated secrets decode to 32, 32 and 72 bytes."""
    for key, kind in secret_kinds.SECRETS["gitlab_kas"].items():
        length = gitlab_kas.SECRET_FILES[key][1]
        assert len(base64.b64decode(secret_kinds.GENERATORS[kind]())) == length


YML_CASES = [
    ("gitlab.yml-defaults", kas(), {
        "enabled": True, "external_url": "wss://gitlab.example.com/-/kubernetes-agent/",
        "internal_url": "grpc://localhost:8153",
        "external_k8s_proxy_url": "https://gitlab.example.com/-/kubernetes-agent/k8s-proxy/"}),
    ("gitlab.yml-not-https", kas("http://gitlab.example.com"),
     {"external_url": "ws://gitlab.example.com/-/kubernetes-agent/"}),
    ("gitlab.yml-custom-listen-addresses",
     kas(listen_address="custom-address:1234",
         internal_api_listen_address="custom-api-address:9999"), {
        "enabled": True, "external_url": "wss://gitlab.example.com/-/kubernetes-agent/",
        "internal_url": "grpc://custom-api-address:9999",
        "external_k8s_proxy_url": "https://gitlab.example.com/-/kubernetes-agent/k8s-proxy/"}),
    ("gitlab.yml-explicit-urls", kas(rails={
        "gitlab_kas_external_url": "wss://kas.example.com",
        "gitlab_kas_internal_url": "grpc://kas.internal",
        "gitlab_kas_external_k8s_proxy_url": "https://kas.example.com/k8s-proxy"}), {
        "external_url": "wss://kas.example.com", "internal_url": "grpc://kas.internal",
        "external_k8s_proxy_url": "https://kas.example.com/k8s-proxy"}),
    ("gitlab.yml-relative-url", kas("https://example.com/gitlab"), {
        "enabled": True, "external_url": "wss://example.com/gitlab/-/kubernetes-agent/",
        "internal_url": "grpc://localhost:8153",
        "external_k8s_proxy_url": "https://example.com/gitlab/-/kubernetes-agent/k8s-proxy/"}),
    ("gitlab.yml-own-subdomain", {**kas(listen_websocket=True),
                                  "gitlab_kas_external_url": "wss://kas.gitlab.example.com/"},
     {"external_url": "wss://kas.gitlab.example.com/",
      "external_k8s_proxy_url": "https://kas.gitlab.example.com/k8s-proxy/"}),
]


@pytest.mark.parametrize(("settings", "expected"), [case[1:] for case in YML_CASES],
                         ids=[c[0] for c in YML_CASES])
def test_gitlab_yml_kas_matches_omnibus_gitlab(settings, expected):
    gitlab_yml = yaml.safe_load(files(settings)[GITLAB_YML])["production"]["gitlab_kas"]
    assert {key: gitlab_yml[key] for key in expected} == expected


def test_own_subdomain_needs_websocket():
    """gitlab.yml-own-subdomain: gitlab_kas['listen_websocket'] must be true."""
    with pytest.raises(ConfigError, match="listen_websocket"):
        make_context({**kas(listen_websocket=False),
                      "gitlab_kas_external_url": "wss://kas.gitlab.example.com"})


def test_explicitly_disabled_writes_no_kas_service():
    """explicitly-disabled: off, gitlab.yml says so."""
    context = make_context({"external_url": HTTPS, "gitlab_kas": {"enable": False}})
    assert context.section("gitlab_kas")["enable"] is False
    assert context.section("gitlab_rails")["gitlab_kas_enabled"] is False


def test_log_group_reaches_svlogd_and_log_directory():
    """log-directory-and-runit-group custom values: the log dir is git's, group fugee."""
    context = make_context(kas(log_group="fugee"))
    resources = gitlab_kas.SERVICE.runit_resources(context)
    log_dir = next(r for r in resources if getattr(r, "path", None)
                   == Path("/var/log/gitlab/gitlab-kas") and hasattr(r, "owner"))
    assert (log_dir.owner, log_dir.group) == ("git", "fugee")


# -- every key declared applied reaches the output ------------------------------------------
DISTINCT: dict[str, Any] = {
    "workspaces": {"enabled": True}, "redis_sentinels": [{"host": "zz", "port": 9}],
    "env": {"ZZ_PROBE": "1"}, "internal_api_listen_network": "unix", **SECRETS}
NEEDS: dict[str, dict[str, Any]] = {
    "sentry_environment": {"sentry_dsn": "https://k@sentry.example.test/1"},
    "redis_port": {"redis_host": "zz.example.test"},
    "redis_sentinels_password": {"redis_sentinels": SENTINELS},
    **{f"redis_tls_{k}": {"redis_ssl": True}
       for k in ("ca_cert_file", "client_cert_file", "client_key_file")},
    **{f"redis_sentinels_{k}": {"redis_sentinels": SENTINELS, "redis_sentinels_ssl": True}
       for k in ("master_name", "ssl", "tls_ca_cert_file", "tls_client_cert_file",
                 "tls_client_key_file")},
    **{f"{api}{half}_file": {f"{api}certificate_file": "/a.crt", f"{api}key_file": "/a.key"}
       for api in ("", "internal_api_", "kubernetes_api_", "private_api_")
       for half in ("certificate", "key")}}


def probe(setting: Any) -> Any:
    if setting.key in DISTINCT:
        return DISTINCT[setting.key]
    kind = setting.type
    return {"boolean": not setting.default, "integer": 4321, "port": 4321,
            "list": ["zz-probe"], "hash": {"zz": "probe"}}.get(kind, "/zz-probe")


SCHEMA = load_schema()
#: enable is what kas() sets (test_explicitly_disabled...); nginx is the nginx site's
APPLIED = [s for s in (SCHEMA.get("gitlab_kas", key) for key in SCHEMA.keys("gitlab_kas"))
           if s is not None and s.used and s.key not in ("enable", "nginx")]


@pytest.mark.parametrize("setting", APPLIED, ids=[s.key for s in APPLIED])
def test_every_applied_kas_key_reaches_output(setting):
    key = setting.key
    base = {k: v for k, v in NEEDS.get(key, {}).items() if k != key}
    assert files(kas(**base)) != files(kas(**{**base, key: probe(setting)}))


VHOST = Path("/var/opt/gitlab/nginx/conf/service_conf/gitlab-rails.conf")


def test_nginx_routes_kas_under_gitlab_s_url_as_omnibus_gitlab_s_vhost_does():
    """nginx-gitlab-rails.conf.erb: with KAS on, /-/kubernetes-agent/ to its agent listener,
    gitlab.agent. over gRPC, and the Kubernetes API proxy unbuffered."""
    vhost = files({"external_url": "https://example.com/gitlab"})[VHOST]
    assert ("location = /gitlab/-/kubernetes-agent/ {\n"
            "    proxy_pass http://localhost:8150/;") in vhost
    assert "location /gitlab/gitlab.agent. {\n    grpc_pass grpc://localhost:8150;" in vhost
    assert ("location /gitlab/-/kubernetes-agent/k8s-proxy/ {\n"
            "    proxy_pass http://localhost:8154/;\n    proxy_buffering off;") in vhost


def test_kas_with_its_own_certificate_is_reached_over_tls():
    """gitlab_kas.rb parse_upstream_tls: certificate_file and key_file make the upstreams
    https:// and grpcs://."""
    vhost = files(kas(certificate_file="/etc/gitlab/ssl/kas.crt",
                      key_file="/etc/gitlab/ssl/kas.key"))[VHOST]
    assert "proxy_pass https://localhost:8150/;" in vhost
    assert "grpc_pass grpcs://localhost:8150;" in vhost


def test_no_kas_locations_when_kas_is_off():
    vhost = files({"external_url": HTTPS, "gitlab_kas": {"enable": False}})[VHOST]
    assert "kubernetes-agent" not in vhost and "gitlab.agent." not in vhost
