"""Peer tests for the last gitlab_rails keys and what gitlab.yml reads from other sections
(puma, sidekiq, gitaly_client, gitlab_ci, gitlab_pages, the URLs), plus the smaller files
gitlab-rails.rb writes. Each case's id names the omnibus-gitlab spec it comes from, under
spec/chef/cookbooks/gitlab/recipes/: yml/<name> = gitlab-rails/gitlab_yml/<name>_spec.rb,
click_house / managed_settings = gitlab-rails/<name>_yml_spec.rb, and rails =
gitlab-rails_spec.rb. The words are ours, the facts theirs. The last test checks that every
key this part declares applied reaches what reconfigure writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Absent, Directory, File, Link
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import gitlab_rails, registry
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

ETC = Path("/var/opt/gitlab/gitlab-rails/etc")
AWS = {"provider": "AWS", "region": "eu-west-1", "aws_access_key_id": "AKIAKIAKI",
       "aws_secret_access_key": "secret123"}
PAGES_URL = {"pages_external_url": "https://pages.example.com"}
ROUTING = [["resource_boundary=cpu", "cpu_boundary"], ["feature_category=pages", None],
           ["feature_category=search", ""],
           ["feature_category=memory|resource_boundary=memory", ""], ["*", "default"]]
NATS_FULL = {"servers": ["tls://nats.example.com:4222"], "connect_timeout": 2,
             "stream_replicas": 3, "tls": {"ca_file": "/path/to/ca.crt",
                                           "cert": "/path/to/tls.crt",
                                           "key": "/path/to/tls.key"}}
CLICKHOUSE = {"main": {"database": "production", "url": "https://example.com/path",
                       "username": "gitlab", "password": "password"},
              "main2": {"database": "production2", "url": "https://example.com/path2",
                        "username": "gitlab2", "password": "password2"}}
CH_VARIABLES = {"enable_http_compression": 1, "date_time_input_format": "basic"}


def files(settings: dict | None = None) -> dict[Path, File]:
    return {f.path: f for f in service_files(make_context(settings))}


def production(settings: dict | None = None) -> dict:
    return yaml.safe_load(files(settings)[ETC / "gitlab.yml"].content)["production"]


def dig(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


# (spec, gitlab.rb settings, dotted path in gitlab.yml's production, expected value)
YML_CASES = [
    ("yml/monitoring-defaults", {}, "monitoring", {
        "ip_whitelist": ["127.0.0.0/8", "::1/128"],
        "sidekiq_exporter": {"enabled": True, "log_enabled": False, "port": 8082,
                             "address": "127.0.0.1", "tls_enabled": False,
                             "tls_cert_path": None, "tls_key_path": None},
        "sidekiq_health_checks": {"enabled": True, "port": 8092, "address": "127.0.0.1"},
        "web_exporter": {"enabled": False, "port": 8083, "address": "127.0.0.1",
                         "tls_enabled": False, "tls_cert_path": None, "tls_key_path": None}}),
    ("yml/monitoring-whitelist", {"gitlab_rails": {"monitoring_whitelist": ["1.0.0.0", "2.0.0.0"]}},
     "monitoring.ip_whitelist", ["1.0.0.0", "2.0.0.0"]),
    ("yml/monitoring-health-checks", {"sidekiq": {
        "health_checks_enabled": True, "health_checks_listen_address": "1.2.3.5",
        "health_checks_listen_port": 1235}},
     "monitoring.sidekiq_health_checks", {"enabled": True, "port": 1235, "address": "1.2.3.5"}),
    ("yml/monitoring-sidekiq-exporter-enabled", {"sidekiq": {"metrics_enabled": False}},
     "monitoring.sidekiq_exporter.enabled", False),
    ("yml/monitoring-sidekiq-exporter-log", {"sidekiq": {"exporter_log_enabled": True}},
     "monitoring.sidekiq_exporter.log_enabled", True),
    ("yml/monitoring-sidekiq-exporter-address", {"sidekiq": {"listen_address": "1.2.2.2"}},
     "monitoring.sidekiq_exporter.address", "1.2.2.2"),
    ("yml/monitoring-sidekiq-exporter-port", {"sidekiq": {"listen_port": 2222}},
     "monitoring.sidekiq_exporter.port", 2222),
    ("yml/monitoring-sidekiq-tls-enabled", {"sidekiq": {"exporter_tls_enabled": True}},
     "monitoring.sidekiq_exporter.tls_enabled", True),
    ("yml/monitoring-sidekiq-tls-cert",
     {"sidekiq": {"exporter_tls_cert_path": "/path/to/cert.pem"}},
     "monitoring.sidekiq_exporter.tls_cert_path", "/path/to/cert.pem"),
    ("yml/monitoring-sidekiq-tls-key", {"sidekiq": {"exporter_tls_key_path": "/path/to/key.pem"}},
     "monitoring.sidekiq_exporter.tls_key_path", "/path/to/key.pem"),
    ("yml/monitoring-web-exporter", {"puma": {"exporter_enabled": False,
                                              "exporter_address": "1.2.3.4",
                                              "exporter_port": 1234}},
     "monitoring.web_exporter", {"enabled": False, "port": 1234, "address": "1.2.3.4",
                                 "tls_enabled": False, "tls_cert_path": None,
                                 "tls_key_path": None}),
    ("yml/monitoring-web-tls-enabled", {"puma": {"exporter_tls_enabled": True}},
     "monitoring.web_exporter.tls_enabled", True),
    ("yml/monitoring-web-tls-cert", {"puma": {"exporter_tls_cert_path": "/path/to/cert.pem"}},
     "monitoring.web_exporter.tls_cert_path", "/path/to/cert.pem"),
    ("yml/monitoring-web-tls-key", {"puma": {"exporter_tls_key_path": "/path/to/key.pem"}},
     "monitoring.web_exporter.tls_key_path", "/path/to/key.pem"),
    ("yml/pages-defaults", {}, "pages", {
        "enabled": False, "access_control": False, "artifacts_server": True,
        "external_http": False, "external_https": False, "host": None, "https": False,
        "object_store": {"connection": {}, "enabled": False, "remote_directory": "pages"},
        "local_store": {"enabled": True, "path": "/var/opt/gitlab/gitlab-rails/shared/pages"},
        "path": "/var/opt/gitlab/gitlab-rails/shared/pages", "port": None,
        "namespace_in_path": False}),
    ("yml/pages-along-with-gitlab", {
        **PAGES_URL,
        "gitlab_pages": {"access_control": True, "artifacts_server": False,
                         "external_http": ["1.2.3.4"], "namespace_in_path": True},
        "gitlab_rails": {"pages_path": "/random/path", "pages_object_store_enabled": True,
                         "pages_object_store_remote_directory": "foobar",
                         "pages_object_store_connection": AWS}},
     "pages", {"enabled": True, "access_control": True, "path": "/random/path",
               "host": "pages.example.com", "port": 443, "https": True,
               "external_http": True, "external_https": False, "artifacts_server": False,
               "namespace_in_path": True,
               "object_store": {"enabled": True, "remote_directory": "foobar",
                                "connection": AWS},
               "local_store": {"enabled": True, "path": "/random/path"}}),
    ("yml/pages-external-https", {**PAGES_URL, "gitlab_pages": {"external_https": ["1.2.3.4"]}},
     "pages.external_https", True),
    ("yml/pages-external-https-proxyv2",
     {**PAGES_URL, "gitlab_pages": {"external_https_proxyv2": ["1.2.3.4"]}},
     "pages.external_https", True),
    ("yml/pages-local-store-default-path", PAGES_URL, "pages.local_store.path",
     "/var/opt/gitlab/gitlab-rails/shared/pages"),
    ("yml/pages-local-store-follows-pages-path",
     {**PAGES_URL, "gitlab_rails": {"pages_local_store_enabled": True, "pages_path": "/tmp/test"}},
     "pages.local_store.path", "/tmp/test"),
    ("yml/pages-local-store-own-path",
     {**PAGES_URL, "gitlab_rails": {"pages_path": "/tmp/test",
                                    "pages_local_store_path": "/another/path"}},
     "pages.local_store.path", "/another/path"),
    ("yml/gitaly-token-default", {}, "gitaly.token", ""),
    ("yml/gitaly-defaults-attempts", {}, "gitaly.client_max_attempts", 4),
    ("yml/gitaly-defaults-backoff", {}, "gitaly.client_max_backoff", "1.4s"),
    ("yml/gitaly-user-token", {"gitlab_rails": {"gitaly_token": "token123456"}},
     "gitaly.token", "token123456"),
    ("yml/gitaly-rails-wins-attempts", {
        "gitaly_client": {"max_attempts": 2, "max_backoff": "0.5s"},
        "gitlab_rails": {"gitaly_client_max_attempts": 5, "gitaly_client_max_backoff": "2.0s"}},
     "gitaly.client_max_attempts", 5),
    ("yml/gitaly-rails-wins-backoff", {
        "gitaly_client": {"max_attempts": 2, "max_backoff": "0.5s"},
        "gitlab_rails": {"gitaly_client_max_attempts": 5, "gitaly_client_max_backoff": "2.0s"}},
     "gitaly.client_max_backoff", "2.0s"),
    ("yml/repositories-storages-defaults", {}, "repositories.storages",
     {"default": {"gitaly_address": "unix:/var/opt/gitlab/gitaly/gitaly.socket"}}),
    ("yml/sidekiq-routing-rules", {"sidekiq": {"routing_rules": ROUTING}},
     "sidekiq.routing_rules", ROUTING),
    ("yml/sidekiq-routing-rules-shard",
     {"sidekiq": {"routing_rules": [["resource_boundary=cpu", "cpu_boundary"],
                                    ["*", "default", "default"]]}},
     "sidekiq.routing_rules", [["resource_boundary=cpu", "cpu_boundary"],
                               ["*", "default", "default"]]),
    ("yml/sidekiq-log-format", {"sidekiq": {"log_format": "text"}}, "sidekiq.log_format", "text"),
    ("yml/gitlab-max-request-duration-default", {}, "gitlab.max_request_duration_seconds", 57),
    ("yml/gitlab-max-request-duration-puma-120", {"puma": {"worker_timeout": 120}},
     "gitlab.max_request_duration_seconds", 114),
    ("yml/gitlab-max-request-duration-user",
     {"puma": {"worker_timeout": 120}, "gitlab_rails": {"max_request_duration_seconds": 100}},
     "gitlab.max_request_duration_seconds", 100),
    ("yml/registry-external-key", {"gitlab_rails": {
        "registry_enabled": True, "registry_key_path": "/fake/path",
        "registry_host": "registry.example.com"}}, "registry.key", "/fake/path"),
    ("rails/nats-servers", {"gitlab_rails": {"nats": NATS_FULL}}, "nats.servers",
     ["tls://nats.example.com:4222"]),
    ("rails/nats-connect-timeout", {"gitlab_rails": {"nats": NATS_FULL}},
     "nats.connect_timeout", 2),
    ("rails/nats-stream-replicas", {"gitlab_rails": {"nats": NATS_FULL}},
     "nats.stream_replicas", 3),
    ("rails/nats-tls", {"gitlab_rails": {"nats": NATS_FULL}}, "nats.tls",
     {"ca_file": "/path/to/ca.crt", "cert": "/path/to/tls.crt", "key": "/path/to/tls.key"}),
    ("rails/nats-partial-tls", {"gitlab_rails": {"nats": {
        "servers": ["tls://nats.example.com:4222"], "tls": {"ca_file": "/path/to/ca.crt"}}}},
     "nats.tls", {"ca_file": "/path/to/ca.crt"}),
    ("rails/nats-servers-only", {"gitlab_rails": {"nats": {
        "servers": ["tls://nats.example.com:4222"]}}},
     "nats", {"servers": ["tls://nats.example.com:4222"]}),
]


@pytest.mark.parametrize(("spec", "settings", "path", "expected"), YML_CASES,
                         ids=[case[0] for case in YML_CASES])
def test_gitlab_yml_as_omnibus_gitlab_renders_it(spec, settings, path, expected):
    assert dig(production(settings), path) == expected


# (spec, gitlab.rb settings, dotted path that gitlab.yml must not have)
ABSENT_CASES = [
    ("yml/sidekiq-routing-rules-default", {}, "sidekiq", "routing_rules"),
    ("yml/sidekiq-routing-rules-empty", {"sidekiq": {"routing_rules": []}}, "sidekiq",
     "routing_rules"),
    ("rails/nats-default", {}, "", "nats"),
    ("rails/nats-servers-only-no-timeout", {"gitlab_rails": {"nats": {
        "servers": ["tls://n.example.com:4222"]}}}, "nats", "connect_timeout"),
    ("rails/nats-partial-tls-no-cert", {"gitlab_rails": {"nats": {
        "servers": ["tls://n.example.com:4222"], "tls": {"ca_file": "/ca"}}}}, "nats.tls", "cert"),
]


@pytest.mark.parametrize(("spec", "settings", "parent", "key"), ABSENT_CASES,
                         ids=[case[0] for case in ABSENT_CASES])
def test_gitlab_yml_leaves_out_what_omnibus_gitlab_leaves_out(spec, settings, parent, key):
    tree = production(settings)
    assert key not in (dig(tree, parent) if parent else tree)


def test_click_house_yml_defaults_to_no_database():  # click_house: with default settings
    content = files()[ETC / "click_house.yml"].content
    assert yaml.safe_load(content)["production"] is None


def test_click_house_yml_lists_each_database():  # click_house: with databases setup
    written = files({"gitlab_rails": {"clickhouse_databases": CLICKHOUSE}})[ETC / "click_house.yml"]
    expected = {name: {**database, "variables": CH_VARIABLES}
                for name, database in CLICKHOUSE.items()}
    assert yaml.safe_load(written.content)["production"] == expected
    assert (written.group, written.mode) == ("git", 0o640)


def configure(settings: dict | None = None) -> list:
    return gitlab_rails.configure(make_context(settings))


def test_managed_settings_yml_absent_by_default():  # managed_settings: default settings
    resources = configure({"gitlab_rails": {"managed_settings": {
        "installation": {"managed_by": "ACME Corp"}}}})
    assert any(isinstance(r, Absent) and r.path == ETC / "managed_settings.yml"
               for r in resources)
    assert ETC / "managed_settings.yml" not in files()


@pytest.mark.parametrize(("managed", "expected_by"), [
    ({"settings": {"sidekiq_timezone_override": "Europe/London"}}, "GitLab Omnibus"),
    ({"installation": {"managed_by": "ACME Corp"},
      "settings": {"sidekiq_timezone_override": "Europe/London"}}, "ACME Corp")],
    ids=["managed_settings-default-managed-by", "managed_settings-custom-managed-by"])
def test_managed_settings_yml_with_settings(managed, expected_by):
    written = files({"gitlab_rails": {"managed_settings": managed}})[ETC / "managed_settings.yml"]
    assert yaml.safe_load(written.content) == {
        "installation": {"managed_by": expected_by},
        "managed_settings": {"sidekiq_timezone_override": "Europe/London"}}
    assert (written.owner, written.group, written.mode) == ("root", "git", 0o640)


SECRETS = [("orbit_secret", "gitlab_knowledge_graph_secret", ".gitlab_knowledge_graph_secret"),
           ("incoming_email_auth_token", "gitlab_incoming_email_secret",
            ".gitlab_incoming_email_secret"),
           ("service_desk_email_auth_token", "gitlab_service_desk_email_secret",
            ".gitlab_service_desk_email_secret")]


@pytest.mark.parametrize(("key", "name", "dotfile"), SECRETS, ids=[s[0] for s in SECRETS])
def test_optional_secret_written_only_when_set(key, name, dotfile):
    """rails: gitlab_knowledge_graph_secret (not created without it, given secret rendered);
    the mail_room webhook secrets the same way."""
    assert ETC / name not in files()
    written = files({"gitlab_rails": {key: "c2VjcmV0"}})[ETC / name]
    assert written.content.strip() == "c2VjcmV0" and written.sensitive


def test_registry_key_written_where_registry_key_path_says():
    """rails: generates key file in the specified location (/fake/path)."""
    context = make_context({"registry": {"enable": True, "internal_key": "KEY",
                                         "internal_certificate": "CERT"},
                            "gitlab_rails": {"registry_key_path": "/fake/path"}})
    paths = {r.path for r in registry.keypair(context) if isinstance(r, File)}
    assert Path("/fake/path") in paths


def test_log_group_owns_the_log_directory():
    """rails: log directory and runit group, custom values (log_group 'fugee')."""
    log = Path("/var/log/gitlab/gitlab-rails")
    default = [r for r in configure() if isinstance(r, Directory) and r.path == log]
    custom = [r for r in configure({"gitlab_rails": {"log_group": "fugee"}})
              if isinstance(r, Directory) and r.path == log]
    assert (default[0].owner, default[0].group) == ("git", None)
    assert (custom[0].owner, custom[0].group, custom[0].mode) == ("git", "fugee", 0o750)


@pytest.mark.parametrize("name", ["external-diffs", "agent_plan_content", "pages"])
def test_shared_directories_are_created(name):
    """rails: manage-storage-directories enabled creates the external-diffs,
    agent_plan_content and pages directories."""
    shared = Path("/var/opt/gitlab/gitlab-rails/shared")
    assert any(isinstance(r, Directory) and r.path == shared / name for r in configure())


def test_manage_backup_path_false_leaves_backup_path_alone():
    backups = Path("/var/opt/gitlab/backups")
    assert any(isinstance(r, Directory) and r.path == backups for r in configure())
    assert not any(isinstance(r, Directory) and r.path == backups
                   for r in configure({"gitlab_rails": {"manage_backup_path": False}}))


def test_mattermost_host_falls_back_to_mattermost_external_url():
    tree = production({"mattermost_external_url": "https://mattermost.example.test"})
    assert tree["mattermost"] == {"enabled": True, "host": "https://mattermost.example.test"}
    own = production({"mattermost_external_url": "https://mattermost.example.test",
                      "gitlab_rails": {"mattermost_host": "https://chat.example.test"}})
    assert own["mattermost"]["host"] == "https://chat.example.test"


def test_repositories_storages_for_an_external_gitaly():
    storages = {"default": {"gitaly_address": "tcp://gitaly.example.test:8075",
                            "gitaly_token": "t0ken"}}
    tree = production({"gitlab_rails": {"repositories_storages": storages}})
    assert tree["repositories"]["storages"] == storages


def test_package_links_follow_the_files_written(tmp_path):
    rails_home = tmp_path / "embedded" / "service" / "gitlab-rails"
    (rails_home / "config").mkdir(parents=True)
    context = make_context({"gitlab_rails": {"orbit_secret": "c2VjcmV0"}},
                           Layout(install_dir=tmp_path))
    links = {r.path: r for r in gitlab_rails.package_links(context)}
    assert isinstance(links[rails_home / "config" / "click_house.yml"], Link)
    assert isinstance(links[rails_home / "config" / "managed_settings.yml"], Absent)
    assert isinstance(links[rails_home / ".gitlab_knowledge_graph_secret"], Link)
    assert isinstance(links[rails_home / ".gitlab_incoming_email_secret"], Absent)


#: The keys this part applies, with a value that must show up in what reconfigure writes.
MINE = {
    ("gitlab_rails", "display_initial_root_password"): True,
    ("gitlab_rails", "max_request_duration_seconds"): 33,
    ("gitlab_rails", "gitaly_token"): "zz-token",
    ("gitlab_rails", "repositories_storages"): {"zz": {"gitaly_address": "tcp://zz:1"}},
    ("gitlab_rails", "nats"): {"servers": ["nats://zz:4222"]},
    ("gitlab_rails", "registry_key_path"): "/zz/registry.key",
    ("gitlab_rails", "managed_settings"): {"settings": {"zz": 1}},
    ("gitlab_rails", "clickhouse_databases"): {"zz": {"database": "zz"}},
    ("gitlab_rails", "orbit_secret"): "enp6",
    ("gitlab_rails", "incoming_email_auth_token"): "enp6",
    ("gitlab_rails", "service_desk_email_auth_token"): "enp6",
    ("gitlab_rails", "log_group"): "zzgroup",
    ("gitlab_rails", "manage_backup_path"): False,
    ("gitlab_rails", "session_store_session_cookie_token_prefix"): "zz_",
    ("gitaly_client", "max_attempts"): 9,
    ("gitaly_client", "max_backoff"): "9.9s",
    ("gitlab_ci", "gitlab_ci_all_broken_builds"): False,
    ("gitlab_ci", "gitlab_ci_add_pusher"): True,
    ("gitlab_pages", "access_control"): True,
    ("gitlab_pages", "artifacts_server"): False,
    ("gitlab_pages", "namespace_in_path"): True,
    ("gitlab_pages", "external_http"): ["1.2.3.4:80"],
    ("gitlab_pages", "external_https"): ["1.2.3.4:443"],
    ("gitlab_pages", "external_https_proxyv2"): ["1.2.3.4:443"],
    **{("puma", key): value for key, value in (
        ("exporter_enabled", True), ("exporter_address", "10.9.9.9"), ("exporter_port", 9999),
        ("exporter_tls_enabled", True), ("exporter_tls_cert_path", "/zz/c.pem"),
        ("exporter_tls_key_path", "/zz/k.pem"))},
    **{("sidekiq", key): value for key, value in (
        ("exporter_log_enabled", True), ("exporter_tls_enabled", True),
        ("exporter_tls_cert_path", "/zz/c.pem"), ("exporter_tls_key_path", "/zz/k.pem"),
        ("health_checks_enabled", False), ("health_checks_listen_address", "10.9.9.9"),
        ("health_checks_listen_port", 9998), ("routing_rules", [["*", "zz"]]))},
}


def written(settings: dict) -> tuple:
    """Everything reconfigure would write for Rails: files, directories and links."""
    context = make_context(settings)
    return (tuple(sorted((str(f.path), f.content) for f in service_files(context))),
            tuple(sorted(repr(r) for r in gitlab_rails.configure(context)
                         if not isinstance(r, File))))


@pytest.mark.parametrize(("section", "key"), sorted(MINE),
                         ids=[f"{section}.{key}" for section, key in sorted(MINE)])
def test_every_key_of_this_part_reaches_output(section, key):
    setting = load_schema().get(section, key)
    assert setting is not None and setting.used, f"{section}['{key}'] is not declared applied"
    assert written({section: {key: MINE[(section, key)]}}) != written({})
