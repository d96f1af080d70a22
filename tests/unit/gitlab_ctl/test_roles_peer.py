"""Roles decide which services run, as omnibus-gitlab's do. Case ids name the spec each
expectation comes from, under omnibus-gitlab's spec/chef/cookbooks/:
config = gitlab/recipes/config_spec.rb, roles = package/libraries/config/roles_spec.rb,
kas = gitlab-kas/recipes/gitlab-kas_spec.rb, services = package/libraries/config/
services_spec.rb. The expectations are theirs; the tests and the table are ours."""

from __future__ import annotations

import pytest

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.roles import (
    ROLES,
    SERVICE_GROUPS,
    apply_roles,
    enabled_roles,
    role_warnings,
)

REGULAR = ("puma", "sidekiq", "gitlab_workhorse", "gitaly", "nginx", "postgresql",
           "gitlab_exporter", "postgres_exporter", "prometheus")


def resolved(**settings):
    return resolve_attributes({"external_url": "http://gitlab.example.test", **settings})


def enabled(attributes, service):
    return attributes[service]["enable"]


CASES = [
    # (id, gitlab.rb settings, service, expected enable)
    ("config-rails-disabled-puma", {"gitlab_rails": {"enable": False}}, "puma", False),
    ("config-rails-disabled-sidekiq", {"gitlab_rails": {"enable": False}}, "sidekiq", False),
    ("config-rails-disabled-workhorse", {"gitlab_rails": {"enable": False}},
     "gitlab_workhorse", False),
    ("config-rails-disabled-gitlab-exporter", {"gitlab_rails": {"enable": False}},
     "gitlab_exporter", False),
    *((f"config-rails-disabled-keeps-{name}", {"gitlab_rails": {"enable": False}}, name, True)
      for name in ("nginx", "postgresql", "redis", "prometheus", "alertmanager",
                   "node_exporter", "redis_exporter", "logrotate", "postgres_exporter")),
    ("config-sentinel-role-redis-off", {"redis_sentinel_role": {"enable": True}}, "redis",
     False),
    ("config-sentinel-role-redis-exporter-off", {"redis_sentinel_role": {"enable": True}},
     "redis_exporter", False),
    ("config-sentinel-role-node-exporter-on", {"redis_sentinel_role": {"enable": True}},
     "node_exporter", True),
    ("config-sentinel-role-logrotate-on", {"redis_sentinel_role": {"enable": True}},
     "logrotate", True),
    ("config-sentinel-and-master-redis-on",
     {"redis_sentinel_role": {"enable": True}, "redis_master_role": {"enable": True}},
     "redis", True),
    ("config-sentinel-and-replica-redis-exporter-on",
     {"redis_sentinel_role": {"enable": True}, "redis_replica_role": {"enable": True}},
     "redis_exporter", True),
    *((f"config-redis-master-role-{name}", {"redis_master_role": {"enable": True}}, name, on)
      for name, on in (("redis", True), ("redis_exporter", True), ("node_exporter", True),
                       ("logrotate", True), *((n, False) for n in REGULAR))),
    *((f"config-redis-replica-role-{name}", {"redis_replica_role": {"enable": True}}, name, on)
      for name, on in (("redis", True), *((n, False) for n in REGULAR))),
    ("roles-application-nginx", {"application_role": {"enable": True}}, "nginx", True),
    ("roles-application-nginx-stays-off",
     {"application_role": {"enable": True}, "nginx": {"enable": False}}, "nginx", False),
    ("roles-application-rails", {"application_role": {"enable": True}}, "gitlab_rails", True),
    ("roles-application-not-default-postgresql", {"application_role": {"enable": True}},
     "postgresql", False),
    ("roles-sidekiq-rails", {"sidekiq_role": {"enable": True}}, "gitlab_rails", True),
    ("roles-sidekiq-enables-sidekiq", {"sidekiq_role": {"enable": True}}, "sidekiq", True),
    ("roles-sidekiq-not-puma", {"sidekiq_role": {"enable": True}}, "puma", False),
    ("roles-monitoring-prometheus", {"roles": ["monitoring_role"]}, "prometheus", True),
    ("roles-monitoring-alertmanager", {"roles": ["monitoring_role"]}, "alertmanager", True),
    ("roles-monitoring-no-rails", {"roles": ["monitoring_role"]}, "gitlab_rails", False),
    ("roles-monitoring-no-postgresql", {"roles": ["monitoring_role"]}, "postgresql", False),
    ("roles-default-with-geo-primary", {"geo_primary_role": {"enable": True}}, "puma", True),
    ("roles-single-string", {"roles": "application_role"}, "puma", True),
    ("roles-hyphens", {"roles": ["geo-primary-role"]}, "postgresql", True),
    ("kas-application-role", {"roles": ["application_role"]}, "gitlab_kas", True),
    ("services-user-value-wins", {"redis_master_role": {"enable": True},
                                  "postgresql": {"enable": True}}, "postgresql", True),
    ("config-postgres-role-postgres-exporter", {"roles": ["postgres_role"]},
     "postgres_exporter", True),
    ("config-gitaly-role-gitaly", {"roles": ["gitaly_role"]}, "gitaly", True),
    ("config-gitaly-role-no-puma", {"roles": ["gitaly_role"]}, "puma", False),
    ("config-pages-role-pages", {"roles": ["pages_role"]}, "gitlab_pages", True),
    ("config-pages-role-nginx", {"roles": ["pages_role"]}, "nginx", True),
]


@pytest.mark.parametrize("settings,service,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_roles_turn_on_exactly_their_services(settings, service, expected):
    assert enabled(resolved(**settings), service) is expected


def test_roles_master_and_replica_together_are_refused():
    """config_spec.rb: 'when redis_master_role and redis_replica_role are enabled ... fails'"""
    with pytest.raises(ConfigError, match="redis_master_role and redis_replica_role"):
        resolved(roles=["redis_master_role", "redis_replica_role"])


def test_sidekiq_role_does_not_migrate():
    """roles/sidekiq.rb: Do not run any DB migrations (unless gitlab.rb says so)."""
    assert resolved(roles=["sidekiq_role"])["gitlab_rails"]["auto_migrate"] is False
    assert resolved(roles=["sidekiq_role"], gitlab_rails={"auto_migrate": True}
                    )["gitlab_rails"]["auto_migrate"] is True


def test_geo_primary_role_fills_replication_settings_left_unset():
    attributes = resolved(roles=["geo_primary_role"], postgresql={"max_wal_senders": 4})
    assert attributes["postgresql"]["wal_level"] == "hot_standby"
    assert attributes["postgresql"]["max_wal_senders"] == 4


def test_prometheus_monitoring_off_turns_off_the_monitoring_group_system_included():
    """monitoring/libraries/prometheus.rb: disable_group('monitoring', include_system: true);
    an explicit switch still wins (services_spec: 'node service settings are overridden by
    gitlab.rb changes')."""
    attributes = resolved(prometheus_monitoring={"enable": False},
                          alertmanager={"enable": True})
    assert [enabled(attributes, s) for s in ("prometheus", "node_exporter", "gitlab_exporter",
                                             "redis_exporter", "alertmanager")] == [
        False, False, False, False, True]
    assert enabled(attributes, "redis") and enabled(attributes, "puma")


def test_roles_naming_unshipped_services_say_so():
    attributes = {"roles": ["consul_role"]}
    apply_roles(attributes, attributes)
    assert role_warnings(attributes) == [
        "consul_role runs consul in omnibus-gitlab, which this package does not ship; this "
        "node runs the rest of the role"]
    assert not any(attributes[name]["enable"] for name in SERVICE_GROUPS
                   if name not in ("logrotate", "node_exporter"))


def test_check_config_warns_about_a_role_this_package_cannot_fill(tmp_path):
    from gitlab_ctl.config.reader import read_config
    from gitlab_ctl.config.validation import validate
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\nroles ['pgbouncer_role']\n")
    settings, lines = read_config(config)
    warnings = validate(resolve_attributes(settings), settings, lines, config)
    assert any(w.startswith(f"{config}:2: pgbouncer_role runs pgbouncer, pgbouncer_exporter, "
                            "consul") for w in warnings), warnings


def test_every_role_of_omnibus_is_in_the_table():
    from gitlab_ctl.config.setting_names import ROLES as NAMES
    assert set(ROLES) == set(NAMES)
    assert enabled_roles({"roles": list(NAMES)}) == list(ROLES)
