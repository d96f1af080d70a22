"""Peer tests: which monitoring services and whether KAS run for a gitlab.rb, as omnibus-gitlab's
specs expect, checked against this gitlab-ctl's resolved settings and rendering. Case ids name
the spec they come from (paths under omnibus-gitlab's spec/chef/):
  recipes-*   support/shared_context/recipes_shared_context.rb, as used by
              cookbooks/package/libraries/config/roles_spec.rb ('enable only default service
              recipes', and 'enable recipes required for the service only' with gitaly_role:
              node-exporter is a mandatory recipe, the default services' disable recipes run)
  default-*   cookbooks/gitlab/recipes/default_spec.rb
  redis-*     cookbooks/monitoring/recipes/redis_exporter_spec.rb
  postgres-*  cookbooks/monitoring/recipes/postgres_exporter_spec.rb
  kas-*       cookbooks/gitlab-kas/recipes/gitlab-kas_spec.rb
  prometheus-* cookbooks/monitoring/recipes/prometheus_spec.rb ('when prometheus is enabled':
              the scrape jobs and alertmanager of the services on by default; the pgbouncer
              job is left out: PgBouncer is not part of this package)
Not checked: gitlab-kas_spec's 'when application_role is configured' (KAS on with that role):
roles only switch the default services off here so far (issue 23 item 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.services import SERVICES
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

HTTPS = "https://gitlab.example.com"
GITLAB_YML = Path("/var/opt/gitlab/gitlab-rails/etc/gitlab.yml")
PROMETHEUS_YML = Path("/var/opt/gitlab/prometheus/prometheus.yml")
KAS_RUN = Path("/opt/gitlab/sv/gitlab-kas/run")
DEFAULT_ON = ("prometheus", "alertmanager", "gitlab_exporter", "redis_exporter",
              "postgres_exporter", "gitlab_kas", "node_exporter")
GITALY_ROLE = {"roles": ["gitaly_role"]}
REDIS_OFF = {"redis": {"enable": False}}
POSTGRES_OFF = {"postgresql": {"enable": False}}
PROMETHEUS_ON = {"alertmanager": {"enable": True}, "prometheus": {"enable": True},
                 "gitlab_exporter": {"enable": True},
                 "registry": {"enable": True, "debug_addr": "localhost:5001"}}

ENABLE_CASES: list[tuple[str, dict[str, Any], str, bool]] = [
    *[(f"recipes-default-{section}", {}, section, True) for section in DEFAULT_ON],
    ("recipes-gitaly-role-node-exporter-mandatory", GITALY_ROLE, "node_exporter", True),
    *[(f"recipes-gitaly-role-{section}-disabled", GITALY_ROLE, section, False)
      for section in DEFAULT_ON if section != "node_exporter"],
    ("default-prometheus-enabled-by-default", {}, "prometheus", True),
    ("default-with-prometheus-disabled", {"prometheus": {"enable": False}}, "prometheus", False),
    ("redis-disabled-locally-defaults-exporter-off", REDIS_OFF, "redis_exporter", False),
    ("redis-disabled-locally-explicitly-enabled",
     {**REDIS_OFF, "redis_exporter": {"enable": True}}, "redis_exporter", True),
    ("postgres-disabled-locally-defaults-exporter-off", POSTGRES_OFF, "postgres_exporter", False),
    ("postgres-disabled-locally-explicitly-enabled",
     {**POSTGRES_OFF, "postgres_exporter": {"enable": True}}, "postgres_exporter", True),
    ("postgres-enabled-locally", {"postgresql": {"enable": True}}, "postgres_exporter", True),
    ("kas-explicitly-disabled", {"gitlab_kas": {"enable": False}}, "gitlab_kas", False),
]


@pytest.mark.parametrize(("case", "settings", "section", "expected"), ENABLE_CASES,
                         ids=[case[0] for case in ENABLE_CASES])
def test_service_runs_as_omnibus_specs_expect(case, settings, section, expected):
    assert make_context(settings).section(section).get("enable") is expected


def rendered(settings: dict[str, Any], path: Path) -> str:
    files = {f.path: f for f in service_files(make_context(settings))}
    return files[path].content


def kas_yml(external_url: str) -> dict[str, Any]:
    gitlab_yml = yaml.safe_load(rendered({"external_url": external_url}, GITLAB_YML))
    return gitlab_yml["production"]["gitlab_kas"]


KAS_YML_CASES = [
    ("kas-gitlab-yml-defaults-enabled", HTTPS, "enabled", True),
    ("kas-gitlab-yml-defaults-external-url", HTTPS, "external_url",
     "wss://gitlab.example.com/-/kubernetes-agent/"),
    ("kas-gitlab-yml-defaults-internal-url", HTTPS, "internal_url", "grpc://localhost:8153"),
    ("kas-gitlab-yml-defaults-k8s-proxy-url", HTTPS, "external_k8s_proxy_url",
     "https://gitlab.example.com/-/kubernetes-agent/k8s-proxy/"),
    ("kas-gitlab-yml-not-https-ws-scheme", "http://gitlab.example.com", "external_url",
     "ws://gitlab.example.com/-/kubernetes-agent/"),
]


@pytest.mark.parametrize(("case", "external_url", "key", "expected"), KAS_YML_CASES,
                         ids=[case[0] for case in KAS_YML_CASES])
def test_gitlab_yml_kas_by_default(case, external_url, key, expected):
    assert kas_yml(external_url)[key] == expected


def test_kas_defaults_run_file_names_its_config():
    """kas-defaults: 'correctly renders the KAS service run file'."""
    run = rendered({"external_url": HTTPS}, KAS_RUN)
    assert "--configuration-file /var/opt/gitlab/gitlab-kas/gitlab-kas-config.yml" in run


#: the spec's expected scrape jobs, in order, without pgbouncer and Kubernetes' three
PROMETHEUS_JOBS = ["prometheus", "nginx", "redis", "postgres", "node", "gitlab-workhorse",
                   "gitlab-rails", "gitlab-sidekiq", "registry", "gitlab_exporter_database",
                   "gitlab_exporter_sidekiq", "gitlab_exporter_ruby", "gitaly"]
TARGETS = {"redis": "localhost:9121", "postgres": "localhost:9187", "node": "localhost:9100"}


def prometheus_yml() -> dict[str, Any]:
    return yaml.safe_load(rendered(PROMETHEUS_ON, PROMETHEUS_YML))


def test_prometheus_scrapes_the_default_services_in_the_spec_order():
    jobs = [job["job_name"] for job in prometheus_yml()["scrape_configs"]
            if not job["job_name"].startswith("kubernetes-")]
    assert jobs == PROMETHEUS_JOBS


@pytest.mark.parametrize("job", sorted(TARGETS), ids=[f"prometheus-{job}-target"
                                                       for job in sorted(TARGETS)])
def test_prometheus_default_exporter_targets(job):
    configs = {c["job_name"]: c for c in prometheus_yml()["scrape_configs"]}
    assert configs[job]["static_configs"] == [{"targets": [TARGETS[job]]}]


def test_prometheus_alerts_go_to_the_default_alertmanager():
    """prometheus-enabled: alerting.alertmanagers is the local Alertmanager."""
    assert prometheus_yml()["alerting"]["alertmanagers"] == [
        {"static_configs": [{"targets": ["localhost:9093"]}]}]


SWITCHES = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
            "postgres_exporter", "gitlab_exporter", "gitlab_kas")


@pytest.mark.parametrize("section", SWITCHES)
def test_each_switch_turns_its_service_off_and_on(section):
    """The switches this file is about reach what runs: off where they are on by default,
    on where a role left them off."""
    name = next(name for name, service in SERVICES.items() if service.section == section)

    def running(settings: dict[str, Any]) -> bool:
        context = make_context(settings)
        return bool(context.section(SERVICES[name].section).get("enable"))

    assert running({}) and not running({section: {"enable": False}})
    if section != "node_exporter":  # a system service: on whatever the roles
        assert not running(GITALY_ROLE)
    assert running({**GITALY_ROLE, section: {"enable": True}})


def test_prometheus_monitoring_false_keeps_kas():
    """KAS is not in omnibus-gitlab's monitoring group."""
    context = make_context({"prometheus_monitoring": {"enable": False}})
    assert context.section("gitlab_kas").get("enable") is True


def test_rails_disabled_leaves_the_rails_group_off():
    """roles/default.rb excludes the rails group when gitlab_rails['enable'] = false."""
    context = make_context({"gitlab_rails": {"enable": False}})
    assert [context.section(s).get("enable") for s in ("gitlab_exporter", "gitlab_kas",
                                                       "prometheus")] == [False, False, True]
