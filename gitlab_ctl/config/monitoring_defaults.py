"""Whether the monitoring services and KAS run when gitlab.rb does not say, as omnibus-gitlab
decides it (package/libraries/config/services.rb's groups, roles/default.rb and the
monitoring cookbook's Prometheus.parse_exporter_enabled / parse_monitoring_enabled):

- the default role (no role given) runs Prometheus, Alertmanager and every exporter, and KAS;
  gitlab-exporter and KAS are in the "rails" group, so gitlab_rails['enable'] = false leaves
  them off;
- node_exporter is a system service: on whatever the roles;
- redis_exporter runs where Redis runs here, postgres_exporter where PostgreSQL does;
- prometheus_monitoring['enable'] = false turns the monitoring group off.

omnibus-gitlab writes these as default-level attributes, so a service's own `enable` in
gitlab.rb always wins over every rule above (even over prometheus_monitoring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the default role's services of omnibus-gitlab's "rails" group handled here
RAILS_GROUP_SERVICES = ("gitlab_exporter", "gitlab_kas")
#: omnibus-gitlab's "monitoring" group (pgbouncer_exporter is not part of this package)
MONITORING_GROUP = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
                    "postgres_exporter", "gitlab_exporter")
#: on in the default role (the exporters of the data stores are decided by those below)
DEFAULT_ROLE_SERVICES = ("prometheus", "alertmanager", "gitlab_exporter")
#: services in the system group: on whatever the roles say
SYSTEM_SERVICES = ("node_exporter",)
#: exporter -> the service it reads: the exporter runs where that service runs here
DATA_STORE_EXPORTERS = {"redis_exporter": "redis", "postgres_exporter": "postgresql"}


def roles_given(attributes: Mapping[str, Any]) -> bool:
    """A role that manages services is on (roles [...] or <role>_role['enable'])."""
    return bool(attributes.get("roles")) or any(
        isinstance(value, Mapping) and value.get("enable") for key, value in attributes.items()
        if key.endswith("_role"))


def default_role_runs(attributes: Mapping[str, Any], service: str) -> bool:
    """DefaultRole.load_role: the default group runs unless a role is given; its rails
    group only while gitlab_rails['enable'] is not false."""
    if roles_given(attributes):
        return False
    rails_off = (attributes.get("gitlab_rails") or {}).get("enable") is False
    return not (service in RAILS_GROUP_SERVICES and rails_off)


def kas_default(attributes: Mapping[str, Any]) -> bool:
    """KAS: on in the default role, and (as before here) wherever gitlab_kas_external_url
    is set."""
    return (default_role_runs(attributes, "gitlab_kas")
            or attributes.get("gitlab_kas_external_url") is not None)


def resolve_monitoring(attributes: dict[str, Any]) -> None:
    """Each monitoring service's `enable` that gitlab.rb left unset. Runs after the data
    stores' own `enable` is resolved."""
    derived: dict[str, bool] = {}
    for service in DEFAULT_ROLE_SERVICES:
        derived[service] = default_role_runs(attributes, service)
    for service in SYSTEM_SERVICES:
        derived[service] = True
    for exporter, store in DATA_STORE_EXPORTERS.items():
        derived[exporter] = bool((attributes.get(store) or {}).get("enable"))
    if (attributes.get("prometheus_monitoring") or {}).get("enable") is False:
        derived.update(dict.fromkeys(MONITORING_GROUP, False))
    for service, enable in derived.items():
        section = attributes.setdefault(service, {})
        if section.get("enable") is None:
            section["enable"] = enable
