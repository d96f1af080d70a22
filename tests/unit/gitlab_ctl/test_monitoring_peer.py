"""Peer tests: what omnibus-gitlab's monitoring specs expect, checked against this
gitlab-ctl's rendering of the same gitlab.rb. Case ids name the spec they come from, under
spec/chef/cookbooks/monitoring/recipes/ of omnibus-gitlab:
  node-*        node-exporter_spec.rb
  redis-*       redis_exporter_spec.rb
  postgres-*    postgres_exporter_spec.rb
  alertmanager-* alertmanager_spec.rb
  prometheus-*  prometheus_spec.rb
  exporter-*    gitlab-exporter_spec.rb
Each case turns on the service it is about, as the spec's stub_gitlab_rb does (most run by
default anyway: test_monitoring_defaults_peer checks which)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.accounts import Group, User
from gitlab_ctl.engine.resources import Directory, File
from gitlab_ctl.services import SERVICES
from tests.unit.gitlab_ctl.test_config_templates import make_context

SV = "/opt/gitlab/sv"
ETC = "/opt/gitlab/etc"
PROMETHEUS = {"prometheus": {"enable": True}}
NODE = {"node_exporter": {"enable": True}}
REDIS = {"redis_exporter": {"enable": True}}
POSTGRES = {"postgres_exporter": {"enable": True}}
ALERTMANAGER_SMTP = {
    "prometheus": {"enable": True},
    "alertmanager": {"enable": True, "admin_email": "admin@example.com"},
    "gitlab_rails": {"gitlab_email_from": "gitlab-omnibus", "smtp_enable": True,
                     "smtp_address": "testhost", "smtp_port": 25}}
ALERTMANAGER_USER = {
    "prometheus": {"enable": True},
    "alertmanager": {"listen_address": ":9093", "enable": True,
                     "env": {"USER_SETTING": "asdf1234"},
                     "global": {"smtp_from": "override_value"}},
    "gitlab_rails": {"smtp_enable": True, "smtp_address": "other-testhost", "smtp_port": 465}}
NODE_USER = {"node_exporter": {"enable": True, "listen_address": "localhost:9899",
                               "env": {"USER_SETTING": "asdf1234"},
                               "flags": {"collector.textfile.directory": "/tmp",
                                         "collector.arp": False,
                                         "collector.mountstats": False}}}
REDIS_EXTERNAL = {"redis_exporter": {"enable": True},
                  "gitlab_rails": {"redis_host": "1.2.3.4", "redis_port": 6378, "redis_ssl": True,
                                   "redis_password": "some-password",
                                   "redis_enable_client": False}}
REDIS_USER = {"redis_exporter": {"enable": True, "listen_address": "localhost:9900",
                                 "env": {"USER_SETTING": "asdf1234"},
                                 "flags": {"redis.addr": "/tmp/socket",
                                           "redis.password": "password<("}}}
POSTGRES_USER = {"postgres_exporter": {
    "enable": True, "listen_address": "localhost:9700", "sslmode": "require",
    "env": {"USER_SETTING": "asdf1234"},
    "flags": {"some.flag": "foo", "collector.stat_user_tables": True}}}
POSTGRES_EXTERNAL = {"postgres_exporter": {"enable": True}, "postgresql": {"enable": False},
                     "gitlab_rails": {"db_host": "10.0.0.1", "db_port": "4242",
                                      "db_username": "foo", "db_password": "bar",
                                      "db_database": "baz"}}
POSTGRES_LOCAL = {"postgres_exporter": {"enable": True},
                  "postgresql": {"dir": "/dir/to/postgresql"},
                  "gitlab_rails": {"db_host": "10.0.0.1"}}
#: prometheus_spec's 'when prometheus is enabled': every job omnibus-gitlab adds by default
ALL_ENABLED = {"prometheus": {"enable": True}, "alertmanager": {"enable": True},
               "gitlab_exporter": {"enable": True}, "node_exporter": {"enable": True},
               "redis_exporter": {"enable": True}, "postgres_exporter": {"enable": True},
               "registry": {"enable": True, "debug_addr": "localhost:5001"}}
EXPORTER_TLS = {"prometheus": {"enable": True}, "gitlab_exporter": {
    "enable": True, "tls_enabled": True, "tls_cert_path": "/tmp/server.crt",
    "tls_key_path": "/tmp/server.key"}}
PUMA_TLS = {"prometheus": {"enable": True}, "puma": {
    "ssl_listen": "127.0.0.1", "ssl_port": 9111, "ssl_certificate": "/tmp/server.crt",
    "ssl_certificate_key": "/tmp/server.key"}}
GO_ENV = {"SSL_CERT_DIR": "/opt/gitlab/embedded/ssl/certs/", "GODEBUG": "tlsmlkem=0"}
ALERTMANAGER_YML = """---
global:
  smtp_from: gitlab-omnibus
  smtp_smarthost: testhost:25
templates: []
route:
  receiver: default-receiver
  routes: []
receivers:
- name: default-receiver
  email_configs:
  - to: admin@example.com
inhibit_rules: []
"""
RELABEL = [{"source_labels": ["__address__"], "regex": "127.0.0.1:(.*)",
            "replacement": "localhost:$1", "target_label": "instance"}]


def job(name: str, target: str, **extra: Any) -> dict[str, Any]:
    path = {"metrics_path": extra.pop("metrics_path")} if "metrics_path" in extra else {}
    return {"job_name": name, **path, "static_configs": [{"targets": [target]}], **extra}


EXPORTER_JOBS = [job(f"gitlab_exporter_{name}", "localhost:9168", metrics_path=f"/{name}")
                 for name in ("database", "sidekiq", "ruby")]
#: prometheus_spec's expected_prometheus_yml scrape_configs, before the Kubernetes jobs
DEFAULT_JOBS = [
    job("prometheus", "localhost:9090"), job("nginx", "localhost:8060"),
    job("redis", "localhost:9121"), job("postgres", "localhost:9187"),
    job("node", "localhost:9100"), job("gitlab-workhorse", "localhost:9229"),
    job("gitlab-rails", "127.0.0.1:8080", metrics_path="/-/metrics", relabel_configs=RELABEL),
    job("gitlab-sidekiq", "127.0.0.1:8082", relabel_configs=RELABEL),
    job("registry", "localhost:5001"), *EXPORTER_JOBS, job("gitaly", "localhost:9236")]
TLS = {"scheme": "https", "tls_config": {"server_name": "localhost", "insecure_skip_verify": False}}


def resources(settings: dict) -> list:
    context = make_context(settings)
    return [resource for service in SERVICES.values()
            for resource in service.configure(context) + service.runit_resources(context)]


def files(settings: dict) -> dict[str, str]:
    return {str(r.path): r.content for r in resources(settings) if isinstance(r, File)}


def prometheus_yml(settings: dict) -> dict:
    return yaml.safe_load(files(settings)["/var/opt/gitlab/prometheus/prometheus.yml"])


def jobs(settings: dict, prefix: str = "") -> list[dict]:
    return [config for config in prometheus_yml(settings)["scrape_configs"]
            if config["job_name"].startswith(prefix)]


EXPORTER = {"gitlab_exporter": {"enable": True}}
EXPORTER_YML = "/var/opt/gitlab/gitlab-exporter/gitlab-exporter.yml"
#: (case id, gitlab.rb, file, pattern, whether it must be there)
RENDERED = [
    ("node-enabled-chpst", NODE, f"{SV}/node-exporter/run", r"chpst -P", True),
    ("node-enabled-binary", NODE,
     f"{SV}/node-exporter/run", r"/opt/gitlab/embedded/bin/node_exporter", True),
    ("node-enabled-mountstats", NODE, f"{SV}/node-exporter/run", r"--collector\.mountstats ", True),
    ("node-enabled-runit", NODE, f"{SV}/node-exporter/run", r"--collector\.runit ", True),
    ("node-enabled-runit-servicedir", NODE,
     f"{SV}/node-exporter/run", r"--collector\.runit.servicedir=/opt/gitlab/sv ", True),
    ("node-enabled-textfile", NODE, f"{SV}/node-exporter/run", r"/textfile_collector", True),
    ("node-enabled-log-run", NODE,
     f"{SV}/node-exporter/log/run", r"svlogd -tt /var/log/gitlab/node-exporter", True),
    ("node-default-listen-address", NODE,
     f"{SV}/node-exporter/run", r"web.listen-address=localhost:9100", True),
    ("node-prometheus-enabled-node-rules", {**NODE, **PROMETHEUS},
     "/var/opt/gitlab/prometheus/rules/node.rules", r"instance:node_cpus:count", True),
    ("node-user-listen-address", NODE_USER,
     f"{SV}/node-exporter/run", r"web\.listen-address=localhost:9899", True),
    ("node-user-textfile-directory", NODE_USER,
     f"{SV}/node-exporter/run", r"collector\.textfile\.directory=/tmp", True),
    ("node-user-no-arp", NODE_USER, f"{SV}/node-exporter/run", r"--no-collector\.arp", True),
    ("node-user-no-mountstats", NODE_USER,
     f"{SV}/node-exporter/run", r"--no-collector\.mountstats", True),
    ("node-user-runit", NODE_USER, f"{SV}/node-exporter/run", r"--collector\.runit", True),
    ("redis-enabled-chpst", REDIS, f"{SV}/redis-exporter/run", r"chpst -P", True),
    ("redis-enabled-binary", REDIS,
     f"{SV}/redis-exporter/run", r"/opt/gitlab/embedded/bin/redis_exporter", True),
    ("redis-enabled-log-run", REDIS,
     f"{SV}/redis-exporter/log/run", r"svlogd -tt /var/log/gitlab/redis-exporter", True),
    ("redis-default-listen-address", REDIS,
     f"{SV}/redis-exporter/run", r"web.listen-address=localhost:9121", True),
    ("redis-default-redis-addr", REDIS,
     f"{SV}/redis-exporter/run", r"redis.addr=unix:///var/opt/gitlab/redis/redis.socket", True),
    ("redis-external-listen-address", REDIS_EXTERNAL,
     f"{SV}/redis-exporter/run", r"web.listen-address=localhost:9121", True),
    ("redis-external-redis-addr", REDIS_EXTERNAL,
     f"{SV}/redis-exporter/run", r"redis.addr=rediss://:some-password@1.2.3.4:6378/", True),
    ("redis-external-set-client-name", REDIS_EXTERNAL,
     f"{SV}/redis-exporter/run", r"--set-client-name=false", True),
    ("redis-log-dir-changed", {"redis_exporter": {"enable": True,
     "log_directory": "foo"}}, f"{SV}/redis-exporter/log/run", r"svlogd -tt foo", True),
    ("redis-user-listen-address", REDIS_USER,
     f"{SV}/redis-exporter/run", r"web.listen-address=localhost:9900", True),
    ("redis-user-redis-addr", REDIS_USER,
     f"{SV}/redis-exporter/run", r"redis.addr=/tmp/socket", True),
    ("redis-user-password-escaped", REDIS_USER,
     f"{SV}/redis-exporter/run", r"redis.password=password\\<\\\(", True),
    ("postgres-enabled-chpst", POSTGRES, f"{SV}/postgres-exporter/run", r"exec .*chpst ", True),
    ("postgres-enabled-binary", POSTGRES,
     f"{SV}/postgres-exporter/run", r"/opt/gitlab/embedded/bin/postgres_exporter", True),
    ("postgres-enabled-log-run", POSTGRES,
     f"{SV}/postgres-exporter/log/run", r"svlogd -tt /var/log/gitlab/postgres-exporter", True),
    ("postgres-queries-total-relation-size", POSTGRES,
     "/var/opt/gitlab/postgres-exporter/queries.yaml", r"pg_total_relation_size:", True),
    ("postgres-queries-blocked", POSTGRES,
     "/var/opt/gitlab/postgres-exporter/queries.yaml", r"pg_blocked:", True),
    ("postgres-default-listen-address", POSTGRES,
     f"{SV}/postgres-exporter/run", r"web.listen-address=localhost:9187", True),
    ("postgres-default-query-path", POSTGRES,
     f"{SV}/postgres-exporter/run",
     r"extend.query-path=/var/opt/gitlab/postgres-exporter/queries.yaml", True),
    ("postgres-default-no-user-stats", POSTGRES,
     f"{SV}/postgres-exporter/run", r"no-collector.stat_user_tables", True),
    ("postgres-log-dir-changed", {"postgres_exporter": {"enable": True,
     "log_directory": "foo"}}, f"{SV}/postgres-exporter/log/run", r"svlogd -tt foo", True),
    ("postgres-user-listen-address", POSTGRES_USER,
     f"{SV}/postgres-exporter/run", r"web.listen-address=localhost:9700", True),
    ("postgres-user-some-flag", POSTGRES_USER,
     f"{SV}/postgres-exporter/run", r"some.flag=foo", True),
    ("postgres-user-keeps-user-stats", POSTGRES_USER,
     f"{SV}/postgres-exporter/run", r"no-collector.stat_user_tables", False),
    ("alertmanager-enabled-chpst", ALERTMANAGER_SMTP, f"{SV}/alertmanager/run", r"chpst -P", True),
    ("alertmanager-enabled-binary", ALERTMANAGER_SMTP,
     f"{SV}/alertmanager/run", r"/opt/gitlab/embedded/bin/alertmanager", True),
    ("alertmanager-enabled-config-file", ALERTMANAGER_SMTP,
     f"{SV}/alertmanager/run", r"alertmanager.yml", True),
    ("alertmanager-enabled-log-run", ALERTMANAGER_SMTP,
     f"{SV}/alertmanager/log/run", r"svlogd -tt /var/log/gitlab/alertmanager", True),
    ("alertmanager-default-listen-address", ALERTMANAGER_SMTP,
     f"{SV}/alertmanager/run", r"web.listen-address=localhost:9093", True),
    ("alertmanager-user-listen-address", ALERTMANAGER_USER,
     f"{SV}/alertmanager/run", r"web.listen-address=:9093", True),
    ("alertmanager-user-keeps-default-receiver", ALERTMANAGER_USER,
     "/var/opt/gitlab/alertmanager/alertmanager.yml", r"receiver: default-receiver", True),
    ("alertmanager-user-smtp-smarthost", ALERTMANAGER_USER,
     "/var/opt/gitlab/alertmanager/alertmanager.yml", r"smtp_smarthost: other-testhost:465", True),
    ("alertmanager-user-smtp-from-override", ALERTMANAGER_USER,
     "/var/opt/gitlab/alertmanager/alertmanager.yml", r"smtp_from: override_value", True),
    ("exporter-enabled-chpst", EXPORTER, f"{SV}/gitlab-exporter/run", r"chpst -P", True),
    ("exporter-enabled-binary", EXPORTER,
     f"{SV}/gitlab-exporter/run", r"/opt/gitlab/embedded/bin/gitlab-exporter", True),
    ("exporter-enabled-no-extra-config", EXPORTER,
     f"{SV}/gitlab-exporter/run", r"extra-config-command", False),
    ("exporter-enabled-db-host", EXPORTER, EXPORTER_YML, r"host=/var/opt/gitlab/postgresql", True),
    ("exporter-enabled-log-run", EXPORTER,
     f"{SV}/gitlab-exporter/log/run", r"svlogd -tt /var/log/gitlab/gitlab-exporter", True),
    ("exporter-postgres-disabled-remote-host", {**EXPORTER, "gitlab_rails": {
        "db_host": "postgres.example.com", "db_port": "5432", "db_password": "secret"}},
     EXPORTER_YML, r"host=postgres\.example\.com port=5432 password=secret", True),
    ("prometheus-enabled-chpst", ALL_ENABLED, f"{SV}/prometheus/run", r"chpst -P", True),
    ("prometheus-enabled-binary", ALL_ENABLED,
     f"{SV}/prometheus/run", r"/opt/gitlab/embedded/bin/prometheus", True),
    ("prometheus-enabled-config-file", ALL_ENABLED,
     f"{SV}/prometheus/run", r"prometheus.yml", True),
    ("prometheus-enabled-log-run", ALL_ENABLED,
     f"{SV}/prometheus/log/run", r"svlogd -tt /var/log/gitlab/prometheus", True),
    ("prometheus-default-listen-address", ALL_ENABLED,
     f"{SV}/prometheus/run", r"web.listen-address=localhost:9090", True),
    ("prometheus-log-dir-changed", {"prometheus": {"enable": True,
     "log_directory": "foo"}}, f"{SV}/prometheus/log/run", r"svlogd -tt foo", True),
]


@pytest.mark.parametrize(("case", "settings", "path", "pattern", "present"), RENDERED,
                         ids=[case[0] for case in RENDERED])
def test_rendered_as_omnibus_specs_expect(case, settings, path, pattern, present):
    content = files(settings)[path]
    assert bool(re.search(pattern, content)) is present, content


#: (case id, gitlab.rb, env dir, the variables it holds)
ENV_DIRS = [
    ("node-enabled-env", NODE, f"{ETC}/node-exporter/env", GO_ENV),
    ("node-user-env", NODE_USER,
     f"{ETC}/node-exporter/env", {**GO_ENV, "USER_SETTING": "asdf1234"}),
    ("redis-enabled-env", REDIS, f"{ETC}/redis-exporter/env", GO_ENV),
    ("redis-user-env", REDIS_USER,
     f"{ETC}/redis-exporter/env", {**GO_ENV, "USER_SETTING": "asdf1234"}),
    ("alertmanager-enabled-env", ALERTMANAGER_SMTP, f"{ETC}/alertmanager/env", GO_ENV),
    ("alertmanager-user-env", ALERTMANAGER_USER,
     f"{ETC}/alertmanager/env", {**GO_ENV, "USER_SETTING": "asdf1234"}),
    ("prometheus-enabled-env", ALL_ENABLED, f"{ETC}/prometheus/env", GO_ENV),
    ("postgres-user-env", POSTGRES_USER, f"{ETC}/postgres-exporter/env", {
        **GO_ENV, "USER_SETTING": "asdf1234", "DATA_SOURCE_NAME":
        "host=/var/opt/gitlab/postgresql user=gitlab-psql "
        "database=gitlabhq_production sslmode=require"}),
]


@pytest.mark.parametrize(("case", "settings", "directory", "variables"), ENV_DIRS,
                         ids=[case[0] for case in ENV_DIRS])
def test_env_dirs_as_omnibus_specs_expect(case, settings, directory, variables):
    written = {path.rsplit("/", 1)[1]: content for path, content in files(settings).items()
               if path.rsplit("/", 1)[0] == directory}
    assert written == {name: str(value) for name, value in variables.items()}


#: (case id, gitlab.rb, the DATA_SOURCE_NAME postgres_exporter is given)
DATA_SOURCES = [
    ("postgres-disabled-locally-uses-rails-db-host", POSTGRES_EXTERNAL,
     "host=10.0.0.1 port=4242 user=foo password=bar database=baz"),
    ("postgres-enabled-locally-uses-postgres-dir", POSTGRES_LOCAL,
     "host=/dir/to/postgresql user=gitlab-psql database=gitlabhq_production"),
]


@pytest.mark.parametrize(("case", "settings", "expected"), DATA_SOURCES,
                         ids=[case[0] for case in DATA_SOURCES])
def test_postgres_exporter_data_source_name(case, settings, expected):
    assert files(settings)[f"{ETC}/postgres-exporter/env/DATA_SOURCE_NAME"] == expected


#: (case id, gitlab.rb, directory made)
DIRECTORIES = [
    ("node-enabled-textfile-collector-dir", NODE,
     "/var/opt/gitlab/node-exporter/textfile_collector"),
    ("alertmanager-enabled-home", ALERTMANAGER_SMTP, "/var/opt/gitlab/alertmanager"),
    ("prometheus-enabled-home", ALL_ENABLED, "/var/opt/gitlab/prometheus"),
    ("prometheus-rules-default-dir", PROMETHEUS, "/var/opt/gitlab/prometheus/rules"),
    ("prometheus-rules-user-home", {"prometheus": {"enable": True,
     "home": "/var/opt/gitlab/prometheus-bak"}}, "/var/opt/gitlab/prometheus-bak/rules"),
    ("prometheus-rules-user-directory", {"prometheus": {
        "enable": True, "rules_directory": "/var/opt/gitlab/prometheus/alert-rules"}},
     "/var/opt/gitlab/prometheus/alert-rules"),
]


@pytest.mark.parametrize(("case", "settings", "path"), DIRECTORIES,
                         ids=[case[0] for case in DIRECTORIES])
def test_directories_as_omnibus_specs_expect(case, settings, path):
    made = {str(r.path) for r in resources(settings) if isinstance(r, Directory)}
    assert path in made
    if "/rules" in path or "alert-rules" in path:
        assert {f"{path}/node.rules", f"{path}/gitlab.rules"} <= set(files(settings))


@pytest.mark.parametrize("case", ["node-prometheus-disabled-creates-account",
                                  "alertmanager-enabled-account", "prometheus-enabled-account"])
def test_the_gitlab_prometheus_account(case):
    settings = {"node": NODE, "alertmanager": ALERTMANAGER_SMTP,
                "prometheus": ALL_ENABLED}[case.split("-")[0]]
    made = resources(settings)
    assert any(isinstance(r, User) and r.name == "gitlab-prometheus"
               and r.group == "gitlab-prometheus" for r in made)
    assert any(isinstance(r, Group) and r.name == "gitlab-prometheus" for r in made)


def test_alertmanager_enabled_alertmanager_yml():
    """alertmanager_spec: 'populates the files with expected configuration'."""
    assert files(ALERTMANAGER_SMTP)["/var/opt/gitlab/alertmanager/alertmanager.yml"] == \
        ALERTMANAGER_YML


def test_prometheus_enabled_prometheus_yml():
    """prometheus_spec 'when prometheus is enabled': expected_prometheus_yml."""
    config = prometheus_yml(ALL_ENABLED)
    assert config["global"] == {"scrape_interval": "15s", "scrape_timeout": "15s",
                                "external_labels": {}}
    assert config["remote_read"] == config["remote_write"] == []
    assert config["rule_files"] == ["/var/opt/gitlab/prometheus/rules/*.rules"]
    assert config["scrape_configs"][:len(DEFAULT_JOBS)] == DEFAULT_JOBS
    assert [c["job_name"] for c in config["scrape_configs"][len(DEFAULT_JOBS):]] == [
        "kubernetes-cadvisor", "kubernetes-nodes", "kubernetes-pods"]
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["localhost:9093"]}]}]}


def test_prometheus_by_default_configures_puma_job():
    """prometheus_spec 'by default': the gitlab-rails job scrapes Puma's /-/metrics."""
    assert jobs(PROMETHEUS, "gitlab-rails") == [DEFAULT_JOBS[6]]


def test_prometheus_gitlab_exporter_tls_scrape_config():
    """prometheus_spec 'when gitlab-exporter responds using TLS'."""
    assert jobs(EXPORTER_TLS, "gitlab_exporter") == [{**config, **TLS}
                                                    for config in EXPORTER_JOBS]


def test_prometheus_puma_tls_scrape_config():
    """prometheus_spec 'when puma responds using TLS'."""
    expected = {**DEFAULT_JOBS[6], **TLS, "static_configs": [{"targets": ["127.0.0.1:9111"]}]}
    assert jobs(PUMA_TLS, "gitlab-rails") == [expected]


SENTINELS = {"gitlab_exporter": {"enable": True, "probe_sidekiq": True},
             "gitlab_rails": {"redis_enable_client": False, "redis_sentinels": [
                 {"host": "10.0.0.1", "port": 26379}, {"host": "10.0.0.2", "port": 26379},
                 {"host": "10.0.0.3", "port": 26379}],
                 "redis_sentinels_password": "sentinel-password"},
             "redis": {"master_name": "gitlab-redis", "master_password": "redis-password"}}
EXPORTER_TLS_SERVER = {"gitlab_exporter": {
    "enable": True, "tls_enabled": True, "listen_address": "0.0.0.0", "listen_port": "8443",
    "tls_cert_path": "/tmp/server.crt", "tls_key_path": "/tmp/server.key"}}
ES_AUTH = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
#: (case id, gitlab.rb, path into gitlab-exporter.yml, value there (... : present))
EXPORTER_YML_CASES = [
    ("exporter-enabled-server-name", EXPORTER, ("server", "name"), "webrick"),
    ("exporter-enabled-database-probe", EXPORTER, ("probes", "database"), ...),
    ("exporter-enabled-ruby-probe", EXPORTER, ("probes", "ruby"), ...),
    ("exporter-enabled-sidekiq-probe", EXPORTER, ("probes", "sidekiq"), ...),
    ("exporter-enabled-metrics-rows-count", EXPORTER, ("probes", "metrics", "rows_count"), ...),
    ("exporter-enabled-no-tls", EXPORTER, ("server", "tls_enabled"), None),
    ("exporter-enabled-redis-enable-client", EXPORTER,
     ("probes", "sidekiq", "opts", "redis_enable_client"), True),
    ("exporter-tls-listen-address", EXPORTER_TLS_SERVER, ("server", "listen_address"), "0.0.0.0"),
    ("exporter-tls-listen-port", EXPORTER_TLS_SERVER, ("server", "listen_port"), 8443),
    ("exporter-tls-cert-path", EXPORTER_TLS_SERVER, ("server", "tls_cert_path"), "/tmp/server.crt"),
    ("exporter-tls-key-path", EXPORTER_TLS_SERVER, ("server", "tls_key_path"), "/tmp/server.key"),
    ("exporter-elasticsearch-url", {"gitlab_exporter": {
        "enable": True, "probe_elasticsearch": True, "elasticsearch_url": "http://localhost:9200"}},
     ("probes", "elasticsearch", "opts", 0, "url"), "http://localhost:9200"),
    ("exporter-elasticsearch-basic-auth", {"gitlab_exporter": {
        "enable": True, "probe_elasticsearch": True, "elasticsearch_url": "http://localhost:9200",
        "elasticsearch_authorization": ES_AUTH}},
     ("probes", "elasticsearch", "opts", 0, "options"), {"headers": {"Authorization": ES_AUTH}}),
    ("exporter-redis-no-client", {**EXPORTER, "gitlab_rails": {"redis_enable_client": False}},
     ("probes", "sidekiq", "opts", "redis_enable_client"), False),
    ("exporter-sentinels-redis-url", SENTINELS, ("probes", "sidekiq", "opts", "redis_url"),
     "redis://:redis-password@gitlab-redis/"),
    ("exporter-sentinels-no-ssl", SENTINELS, ("probes", "sidekiq", "opts", "ssl"), None),
    ("exporter-sentinels-password", SENTINELS,
     ("probes", "sidekiq", "opts", "redis_sentinel_password"), "sentinel-password"),
    ("exporter-sentinels-three", SENTINELS,
     ("probes", "sidekiq", "opts", "redis_sentinels", 2, "host"), "10.0.0.3"),
]


def dig(tree: Any, path: tuple) -> Any:
    for step in path:
        if tree is None:
            return None
        tree = tree[step] if isinstance(step, int) else tree.get(step)
    return tree


@pytest.mark.parametrize(("case", "settings", "path", "expected"), EXPORTER_YML_CASES,
                         ids=[case[0] for case in EXPORTER_YML_CASES])
def test_gitlab_exporter_yml_as_omnibus_specs_expect(case, settings, path, expected):
    found = dig(yaml.safe_load(files(settings)[EXPORTER_YML]), path)
    assert found is not None if expected is ... else found == expected


MONITORING_GROUP = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
                    "postgres_exporter", "gitlab_exporter")


def test_prometheus_monitoring_disabled_turns_the_group_off():
    """omnibus-gitlab's Prometheus.parse_monitoring_enabled: the group's default goes off."""
    context = make_context({"prometheus_monitoring": {"enable": False}})
    assert not any(context.section(section).get("enable") for section in MONITORING_GROUP)


def test_an_explicit_enable_wins_over_prometheus_monitoring():
    """Services.disable_group writes default-level attributes, which gitlab.rb's own
    `enable` (a normal-level attribute) overrides."""
    context = make_context({**ALL_ENABLED, "prometheus_monitoring": {"enable": False}})
    assert all(context.section(section).get("enable") for section in MONITORING_GROUP)


MONITORING = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
              "postgres_exporter", "gitlab_exporter")
#: keys that only show together with another one
TOGETHER = {("gitlab_exporter", key): {"tls_enabled": True} for key in (
    "tls_cert_path", "tls_key_path", "prometheus_scrape_tls_server_name",
    "prometheus_scrape_tls_skip_verification")}
TOGETHER.update({("gitlab_exporter", "elasticsearch_url"): {"probe_elasticsearch": True},
                 ("gitlab_exporter", "probe_elasticsearch"): {"elasticsearch_url": "http://es"},
                 ("gitlab_exporter", "elasticsearch_authorization"): {
                     "probe_elasticsearch": True, "elasticsearch_url": "http://es"}})
DISTINCT = {"list": [{"job_name": "zz-distinct"}], "hash": {"zz_distinct": "zz"},
            "integer": 4242, "port": 4243, "boolean": None, "text": "zz-distinct",
            "string": "/zz/distinct"}
#: values of a special shape: anything but https is the default http
VALUES = {("gitlab_exporter", "prometheus_scrape_scheme"): "https"}
APPLIED = [(section, key) for section in MONITORING for key in load_schema().keys(section)
           if load_schema().settings[(section, key)].used and key != "enable"]


@pytest.mark.parametrize(("section", "key"), APPLIED, ids=[f"{s}-{k}" for s, k in APPLIED])
def test_every_applied_key_reaches_the_output(section, key):
    setting = load_schema().settings[(section, key)]
    kind = setting.type.split("|")[0]
    value = VALUES.get((section, key), DISTINCT[kind] if kind != "boolean"
                       else not setting.default)
    base = {**ALL_ENABLED, section: {**ALL_ENABLED.get(section, {}), "enable": True,
                                     **TOGETHER.get((section, key), {})}}
    changed = {**base, section: {**base[section], key: value}}
    assert written(changed) != written(base)


def written(settings: dict) -> list[str]:
    """What reconfigure writes, comparable: each resource's repr without the addresses of
    the functions some carry."""
    return [re.sub(r" at 0x[0-9a-f]+", "", repr(r)) for r in resources(settings)]


def test_the_same_settings_write_the_same():
    """What makes test_every_applied_key_reaches_the_output meaningful."""
    assert written(ALL_ENABLED) == written(ALL_ENABLED)
