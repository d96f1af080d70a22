"""Every setting the schema calls *applied* has an effect: set on its own to a value unlike
its default, it changes what reconfigure would write (a file, a directory, an account, a
command). A key declared applied that nothing reads fails here, naming it; that is what
keeps bench/gitlabrb_coverage.py's "applied" count honest."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.commands.reconfigure import base_resources
from gitlab_ctl.commands.reconfigure_accounts import leave_unmanaged
from gitlab_ctl.config.schema import TOP_LEVEL, Setting, load_schema
from gitlab_ctl.engine import runit
from gitlab_ctl.services import (
    SERVICES,
    gitlab_rails_redis,
    gitlab_rails_yml,
    gitlab_rails_yml_table,
)
from gitlab_ctl.services.base import Context, RenderError
from tests.unit.gitlab_ctl.test_config_templates import SITE_URLS, make_context

ADDRESS = re.compile(r" at 0x[0-9a-f]+")
#: Keys whose value has a shape the type alone does not say.
PROBES: dict[tuple[str, str], Any] = {
    ("gitlab_rails", "ldap_servers"): {"main": {"label": "LDAP", "host": "ldap.example.test"}},
    ("gitlab_rails", "object_store"): {"enabled": True, "connection": {"provider": "AWS"}},
    ("gitlab_rails", "nginx"): {"client_max_body_size": "77m"},
    ("gitlab_rails", "cell"): {"enabled": True, "id": 7},
    ("gitlab_kas", "nginx"): {"client_max_body_size": "77m"},
    ("gitlab_pages", "nginx"): {"client_max_body_size": "77m"},
    ("registry", "nginx"): {"client_max_body_size": "77m"},
    ("nginx", "status"): {"port": 8061},
    ("registry", "database"): {"enabled": True},
    ("registry", "notifications"): [{"name": "probe", "url": "https://n.example.test/"}],
    ("postgresql", "cert_auth_addresses"): {"10.1.1.0/24": {"database": "d", "user": "u"}},
    ("postgresql", "custom_pg_hba_entries"): {"probe": [{
        "type": "host", "database": "d", "user": "u", "cidr": "10.1.1.0/24", "method": "md5"}]},
    ("registry", "redis"): {"cache": {"enabled": True, "addr": "redis-cache.example.test:6379"}},
    ("registry", "default_notifications_headers"): {"X-Probe": ["1"]},
    ("gitlab_rails", "smtp_authentication"): "plain",
}
#: Settings of the same section a key only matters with, set for the probe and its baseline.
SMTP_KEYS = ("address", "port", "user_name", "password", "domain", "authentication",
             "enable_starttls_auto", "tls", "ssl", "openssl_verify_mode", "ca_path", "ca_file",
             "pool", "open_timeout", "read_timeout")
NOTIFY_ENDPOINT = {"name": "probe", "url": "https://registry.example.test/notify"}
COMPANIONS: dict[tuple[str, str], dict[str, Any]] = {
    **{(site, "redirect_http_to_https_port"): {"redirect_http_to_https": True}
       for site in ("nginx", "registry_nginx", "pages_nginx", "gitlab_kas_nginx",
                    "mattermost_nginx")},
    **{(site, "ssl_verify_depth"): {"ssl_verify_client": "on"}
       for site in ("nginx", "registry_nginx", "pages_nginx", "gitlab_kas_nginx",
                    "mattermost_nginx")},
    ("logging", "udp_log_shipping_port"): {"udp_log_shipping_host": "10.1.2.3"},
    **{("puma", key): {"ssl_listen": "0.0.0.0", "ssl_port": 8443} for key in (
        "ssl_listen", "ssl_port", "ssl_certificate", "ssl_certificate_key",
        "ssl_client_certificate", "ssl_cipher_filter", "ssl_key_password_command",
        "ssl_verify_mode")},
    ("gitlab_rails", "redis_host"): {"redis_socket": None},
    ("gitlab_rails", "redis_port"): {"redis_socket": None},
    **{("gitlab_rails", f"smtp_{key}"): {"smtp_enable": True} for key in SMTP_KEYS},
    ("postgresql", "hostssl"): {"md5_auth_cidr_addresses": ["10.7.7.0/24"]},
    ("postgresql", "sql_replication_user"): {"md5_auth_cidr_addresses": ["10.7.7.0/24"]},
    **{("redis", key): {"tls_port": 6380} for key in (
        "tls_dh_params_file", "tls_replication", "tls_cluster", "tls_protocols", "tls_ciphers",
        "tls_ciphersuites", "tls_prefer_server_ciphers", "tls_session_caching",
        "tls_session_cache_size", "tls_session_cache_timeout")},
    **{("redis", key): {"master": False, "master_ip": "10.0.0.9", "master_password": "p"}
       for key in ("master_ip", "master_port")},
    ("redis", "master"): {"master_ip": "10.0.0.9", "master_password": "p"},
    ("redis", "set_replicaof"): {"master_ip": "10.0.0.9", "master_password": "p"},
    ("redis", "announce_port"): {"announce_ip": "10.0.0.8"},
    ("gitlab_workhorse", "redis_port"): {"redis_host": "10.9.9.9"},
    ("gitlab_workhorse", "redis_database"): {"redis_host": "10.9.9.9"},
    **{("registry", f"default_notifications_{key}"): {"notifications": [NOTIFY_ENDPOINT]}
       for key in ("timeout", "maxretries", "backoff", "headers")},
}


NODES_KAS = [{"host": "probe-sentinel.example.test", "port": 26379}]


def table_companions(node: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """gitlab.yml's table writes `key if other` only when gitlab_rails['other'] is on."""
    if isinstance(node, dict):
        return {name: found for child in node.values()
                for name, found in table_companions(child).items()}
    source, _, condition = str(node).partition(" if ")
    if not condition or "." in condition:
        return {}
    return {("gitlab_rails", source.removesuffix("[]").rstrip("?+")): {condition: True}}


COMPANIONS.update(table_companions(gitlab_rails_yml_table.read_table_yaml()))
# gitlab-pages writes its auth-* flags only with access_control, sentry's with sentry_enabled
COMPANIONS.update({("gitlab_pages", key): {"enable": True, "access_control": True}
                   for key in ("gitlab_id", "gitlab_secret", "auth_secret", "auth_scope",
                               "auth_redirect_uri",
                               "auth_timeout", "auth_cookie_session_timeout")})
COMPANIONS.update({("gitlab_pages", "sentry_dsn"): {"sentry_enabled": True},
                   ("gitlab_pages", "sentry_environment"): {"sentry_enabled": True},
                   ("gitlab_pages", "sentry_enabled"): {"sentry_dsn": "https://zz.example.test"},
                   **{("gitlab_pages", key): {"external_https": ["0.0.0.0:443"]}
                      for key in ("cert", "cert_key")}})
# the monitoring services are off by default: each key is probed with its service on
MONITORING = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
              "postgres_exporter", "gitlab_exporter")
COMPANIONS.update({(section, key): {"enable": True} for section in MONITORING
                   for key in load_schema().keys(section)})
COMPANIONS.update({("gitlab_exporter", key): {"enable": True, "tls_enabled": True} for key in (
    "tls_cert_path", "tls_key_path", "prometheus_scrape_tls_server_name",
    "prometheus_scrape_tls_skip_verification")})
COMPANIONS.update({("gitlab_exporter", key): {
    "enable": True, "probe_elasticsearch": True, "elasticsearch_url": "http://zz.example.test"}
    for key in ("elasticsearch_authorization",)})
COMPANIONS[("gitlab_exporter", "probe_elasticsearch")] = {
    "enable": True, "elasticsearch_url": "http://zz.example.test"}
COMPANIONS[("gitlab_exporter", "elasticsearch_url")] = {"enable": True,
                                                        "probe_elasticsearch": True}
# the gitlab-backup account is made only with gitlab_backup_cli['enable']
COMPANIONS.update({("gitlab_backup_cli", key): {"enable": True}
                   for key in load_schema().keys("gitlab_backup_cli")})
# the registry database's backup env files are written only on a backup_role node
COMPANIONS.update({("gitlab_rails", key): {"backup_role": True} for key in (
    "backup_registry_user", "backup_registry", "restore_registry_user")})
PROBES[("gitlab_rails", "backup_registry")] = {"database_connection": {"host": "zz.example.test"}}
PROBES[("postgresql", "registry")] = {"dbname": "zz_registry"}
PROBES.update({("prometheus", "scrape_configs"): [{"job_name": "zz", "static_configs": []}],
               ("gitlab_exporter", "prometheus_scrape_scheme"): "https"})
PROBES[("puma", "prometheus_scrape_scheme")] = "https"
COMPANIONS.update({("puma", key): {"prometheus_scrape_scheme": "https"} for key in (
    "prometheus_scrape_tls_server_name", "prometheus_scrape_tls_skip_verification")})
# gitlab-sshd's keys matter only when it runs; KAS' TLS files in pairs, its Redis keys with
# what selects them (a host, TLS, Sentinels)
COMPANIONS.update({("gitlab_sshd", key): {"enable": True}
                   for key in load_schema().keys("gitlab_sshd")})
COMPANIONS.update({("gitlab_kas", f"{api}{half}_file"): {
    f"{api}certificate_file": "/zz.crt", f"{api}key_file": "/zz.key"}
    for api in ("", "internal_api_", "kubernetes_api_", "private_api_")
    for half in ("certificate", "key")})
COMPANIONS.update({
    ("gitlab_kas", "sentry_environment"): {"sentry_dsn": "https://k@sentry.example.test/1"},
    ("gitlab_kas", "redis_port"): {"redis_host": "zz.example.test"},
    **{("gitlab_kas", f"redis_tls_{k}"): {"redis_ssl": True}
       for k in ("ca_cert_file", "client_cert_file", "client_key_file")},
    **{("gitlab_kas", f"redis_sentinels_{k}"): {"redis_sentinels": NODES_KAS,
                                                "redis_sentinels_ssl": True}
       for k in ("master_name", "ssl", "tls_ca_cert_file", "tls_client_cert_file",
                 "tls_client_key_file")}})
# gitlab-sshd lists the host certificates on disk: a dir of this test suite stands for them
HERE = str(Path(__file__).parent)
COMPANIONS.update({("gitlab_sshd", "host_certs_dir"): {"enable": True, "host_certs_glob": "*.py"},
                   ("gitlab_sshd", "host_certs_glob"): {"enable": True, "host_certs_dir": HERE}})
PROBES.update({("gitlab_sshd", "host_certs_dir"): HERE, ("gitlab_sshd", "host_certs_glob"): "*.py",
               ("gitlab_kas", "workspaces"): {"enabled": True, "listen": {"address": "zz:1"}},
               ("gitlab_kas", "redis_sentinels"): NODES_KAS,
               ("gitlab_kas", "api_secret_key"): base64.b64encode(b"1" * 32).decode(),
               ("gitlab_kas", "private_api_secret_key"): base64.b64encode(b"2" * 32).decode(),
               ("gitlab_kas", "websocket_token_secret_key"): base64.b64encode(b"3" * 72).decode()})

# the single-server LDAP keys are written only with ldap_host (and no ldap_servers)
COMPANIONS.update({("gitlab_rails", f"ldap_{key}"): {"ldap_host": "ldap.example.test"}
                   for key in gitlab_rails_yml.LEGACY_LDAP_KEYS if key != "host"})


#: Rails' Redis and database keys: lists of {host, port} and the hashes Rails reads.
NODES = [{"host": "probe-node.example.test", "port": 26380}]
PROBES.update({("gitlab_rails", key): NODES for key in load_schema().keys("gitlab_rails")
               if key.endswith(("_sentinels", "_cluster_nodes"))})
PROBES.update({("gitlab_rails", "databases"): {"ci": {"enable": True, "db_database": "zz"}},
               ("gitlab_rails", "db_load_balancing"): {"hosts": ["zz.example.test"]}})
# nats and managed_settings are written only with servers / settings
PROBES.update({("gitlab_rails", "nats"): {"servers": ["nats://zz.example.test:4222"]},
               ("gitlab_rails", "managed_settings"): {"settings": {"zz_setting": True}},
               ("gitlab_rails", "clickhouse_databases"): {"main": {"database": "zz"}},
               ("gitlab_rails", "repositories_storages"): {
                   "default": {"gitaly_address": "tcp://zz.example.test:8075"}}})


def rails_redis_companions(key: str) -> dict[str, Any]:
    """What a gitlab_rails Redis key needs to matter: its instance's URL, ssl for its TLS
    keys, Sentinels for theirs, cluster nodes for a cluster's credentials, TCP for the
    database number."""
    name = next((n for n in ("actioncable", *gitlab_rails_redis.INSTANCES)
                 if key.startswith(f"redis_{n}_")), None)
    prefix = f"redis_{name}_" if name else "redis_"
    suffix, needs = key[len(prefix):], {}
    if name and suffix not in ("instance", "cluster_nodes"):
        needs[prefix + "instance"] = "redis://probe-base.example.test"
    if suffix.startswith("tls_"):
        needs[prefix + "ssl"] = True
    if suffix.startswith(("sentinels_", "sentinel_master")):
        needs[prefix + "sentinels"] = NODES
    if suffix.startswith("sentinels_tls_"):
        needs[prefix + "sentinels_ssl"] = True
    if suffix in ("username", "password") and name:
        needs[prefix + "cluster_nodes"] = NODES
    if key == "redis_database":
        needs.update({"redis_host": "10.9.9.9"})
    return needs


COMPANIONS.update({("gitlab_rails", key): rails_redis_companions(key)
                   for key in load_schema().keys("gitlab_rails") if key.startswith("redis_")
                   and ("gitlab_rails", key) not in COMPANIONS})
COMPANIONS.update({("gitlab_rails", "db_sslcert"): {"db_sslkey": "/zz/client.key"},
                   ("gitlab_rails", "db_sslkey"): {"db_sslcert": "/zz/client.crt"}})


def probe(setting: Setting) -> Any:
    """A value of the setting's type that differs from its default."""
    if (setting.section, setting.key) in PROBES:
        return PROBES[(setting.section, setting.key)]
    if setting.key == "enable":  # services are on by default: turning one off is the change
        return False
    kind, default = setting.type.split("|")[0], setting.default
    if setting.choices:
        return next(choice for choice in setting.choices if choice != default)
    numeric = isinstance(default, int) and not isinstance(default, bool)
    if kind == "boolean":
        return not default if isinstance(default, bool) else True
    if kind in ("integer", "number"):
        low = setting.range[0] if setting.range else 0
        return default + 7 if numeric else low + 77
    return {"port": 4243, "mode": 0o640 if default != 0o640 else 0o600,
            "list": [f"zz-{setting.key}"], "hash": {f"zz_{setting.key}": "zz"},
            }.get(kind, f"/zz/{setting.key}")


@pytest.fixture(scope="module")
def render():
    """Everything reconfigure would converge for a gitlab.rb, as text."""

    def rendered(settings: dict | None = None, base: dict | None = None) -> list[str]:
        return everything(make_context({**(base or {}), **(settings or {})}))
    return rendered


def everything(context: Context) -> list[str]:
    """The services that run, then each resource's repr (without the addresses of the
    functions some carry)."""
    running = [name for name, service in SERVICES.items()
               if context.section(service.section).get("enable")]
    # the systemd unit, whether or not this machine runs systemd (none without detect_init)
    package = context.section("package")
    unit = runit.systemd_unit(context.layout, package) if runit.detects_init(package) else ""
    resources = base_resources(context) + [
        resource for service in SERVICES.values()
        for resource in (service.configure(context) + service.runit_resources(context)
                         + service.after_start(context))]
    # what manage_accounts and manage_storage_directories leave out, as plan() does
    return [" ".join(running), unit] + [
        ADDRESS.sub("", repr(r)) for r in leave_unmanaged(context, resources)]


#: Keys that act on the secrets resolved before rendering (the render here starts from
#: complete fixed ones), and the test that proves each changes what reconfigure does.
BEFORE_RENDER = {("package", "generate_default_secrets"):
                 "test_lastkeys_peer.py::test_applied_generate_default_secrets_changes_the_run"}


def applied(section: str) -> list[Setting]:
    return [setting for (name, _key), setting in load_schema().settings.items()
            if name == section and setting.used and not setting.inferred]


SECTIONS = sorted({name for name, _key in load_schema().settings} - {TOP_LEVEL})


#: The gitlab.rb a key is tried against: plain http, then https with every other site (a
#: site's settings only matter when its URL is set, TLS ones only over https). A key must
#: change the output against at least one.
BASES: tuple[dict, ...] = (
    {}, {"external_url": "https://gitlab.example.test", **SITE_URLS},
    {"external_url": "https://gitlab.example.test", **SITE_URLS,
     "pages_external_url": "https://pages.example.test"},
    # https sites with their own certificates (Let's Encrypt, auto-enabled, would replace them)
    {"external_url": "https://gitlab.example.test", **SITE_URLS, "letsencrypt": {"enable": False}},
    # prometheus_monitoring['enable'] = false only shows with a monitoring service on
    {"prometheus": {"enable": True}})


def has_effect(render, setting: Setting) -> bool:
    companions = COMPANIONS.get((setting.section, setting.key), {})
    for value in probes(setting):
        for base in BASES:
            before = {**base, setting.section: companions}
            after = {**base, setting.section: {**companions, setting.key: value}}
            if render(after) != render(before):
                return True
    return False


def probes(setting: Setting) -> list[Any]:
    """The probe, and for a switch without a default (on or off by derivation) both values."""
    if setting.key == "enable":  # off where it is on, and on where it is off by default
        return [False, True]
    if setting.type == "boolean" and setting.default is None:
        return [True, False]
    return [probe(setting)]


@pytest.mark.parametrize("section", [s for s in SECTIONS if applied(s)])
def test_every_applied_setting_changes_what_reconfigure_writes(render, section):
    without_effect, failing = [], []
    for setting in applied(section):
        if setting.choices and len(setting.choices) == 1:
            continue  # one valid value (db_adapter): validation is what applies it
        if (setting.section, setting.key) in BEFORE_RENDER:
            continue
        try:
            if not has_effect(render, setting):
                without_effect.append(setting.name)
        except Exception as error:  # the key is reported, and the test fails
            failing.append(f"{setting.name}: {type(error).__name__}: {error}")
    assert without_effect == [], f"declared applied, but nothing reads them: {without_effect}"
    assert failing == [], f"rendering fails with these set on their own: {failing}"


def test_a_setting_of_the_wrong_shape_is_a_clear_error_not_a_traceback():
    context = make_context({"postgresql": {"cert_auth_addresses": {"10.1.1.0/24": "all"}}})
    with pytest.raises(RenderError) as error:
        everything(context)
    assert error.value.where == "/etc/gitlab/gitlab.rb"
    assert error.value.message.startswith("the settings of postgresql do not fit its "
                                          "pg_hba.conf (UndefinedError: ")
    assert "wrong shape" in error.value.hint


def test_the_probe_tells_an_unread_key_from_a_read_one(render):
    """The check above can fail: a key nothing reads leaves the output as it was."""
    assert render({"gitlab_rails": {"zz_not_read_anywhere": "x"}}) == render()
    assert render({"redis": {"maxclients": 77}}) != render()


@pytest.mark.parametrize(("line", "message"), [
    ("postgresql['cert_auth_addresses'] = { '10.1.1.0/24' => 'all' }",
     "the settings of postgresql do not fit its pg_hba.conf"),
    ("redis['master'] = false\nredis['master_password'] = 'p'",
     "redis 'master_ip' is not defined"),
])
def test_check_config_refuses_what_only_rendering_finds(tmp_path, capsys, line, message):
    """check-config renders every enabled service in memory, as reconfigure does before
    changing anything, so the package's preinst refuses these too."""
    from gitlab_ctl.cli import main

    config = tmp_path / "gitlab.rb"
    config.write_text(f"external_url 'http://gitlab.example.test'\n{line}\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert message in capsys.readouterr().err
