"""Which services run, from the roles: omnibus-gitlab's service groups (package/libraries/
config/services.rb) and role handlers (package/libraries/config/roles/*.rb) as data.

A role turns on groups of services; a service an administrator switched on or off with
`x['enable']` keeps that. With no role that manages services, the default role runs the
default group (minus the rails group when gitlab_rails['enable'] = false). The system group
runs whatever the roles, and prometheus_monitoring['enable'] = false turns the monitoring
group off (system services included), as the monitoring cookbook does. Roles whose services
this package does not ship (consul, pgbouncer, patroni, sentinel, geo) turn on what of
theirs is shipped and say what is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitlab_ctl.config.reader import ConfigError

DEFAULT_GROUP, SYSTEM_GROUP = "default", "system"

#: services.rb: each service's groups. gitlab_rails and gitlab_shell have no entry there
#: (their recipes run with gitlab_rails['enable']), they follow that switch here.
SERVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "logrotate": (DEFAULT_GROUP, SYSTEM_GROUP),
    "node_exporter": (DEFAULT_GROUP, SYSTEM_GROUP, "monitoring", "monitoring_role"),
    "puma": (DEFAULT_GROUP, "rails"),
    "sidekiq": (DEFAULT_GROUP, "rails", "sidekiq", "sidekiq_role"),
    "gitlab_exporter": (DEFAULT_GROUP, "rails", "monitoring"),
    "gitlab_workhorse": (DEFAULT_GROUP, "rails"),
    "gitaly": (DEFAULT_GROUP, "rails", "gitaly_role"),
    "redis": (DEFAULT_GROUP, "redis", "redis_node"),
    "redis_exporter": (DEFAULT_GROUP, "redis", "redis_node", "monitoring"),
    "postgresql": (DEFAULT_GROUP, "postgres", "postgres_role", "patroni_role"),
    "nginx": (DEFAULT_GROUP, "pages_role"),
    "prometheus": (DEFAULT_GROUP, "monitoring", "monitoring_role"),
    "alertmanager": (DEFAULT_GROUP, "monitoring", "monitoring_role"),
    "postgres_exporter": (DEFAULT_GROUP, "monitoring", "postgres", "postgres_role",
                          "patroni_role"),
    "gitlab_pages": ("pages_role",),
    "gitlab_kas": (DEFAULT_GROUP, "rails"),
}
#: services.rb's Enterprise Edition services: in groups roles enable, not in this package.
NOT_SHIPPED_GROUPS: dict[str, tuple[str, ...]] = {
    "sentinel": ("redis",), "geo_logcursor": ("geo",), "geo_postgresql": ("geo", "postgres"),
    "pgbouncer": ("postgres", "pgbouncer_role"),
    "pgbouncer_exporter": ("pgbouncer_role", "monitoring"),
    "patroni": ("postgres", "patroni_role"),
    "consul": ("consul_role", "ha", "pgbouncer_role", "patroni_role"),
}
RAILS_FOLLOWERS = ("gitlab_rails", "gitlab_shell")


@dataclass(frozen=True)
class Role:
    """What one <name>_role does when enabled. `rails`: gitlab_rails['enable'] becomes
    True ("on") or False ("off") unless gitlab.rb set it; `settings`: (section, key) ->
    value filled where gitlab.rb left it unset."""

    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    rails: str | None = None
    manages_services: bool = True
    settings: Mapping[tuple[str, str], Any] = field(default_factory=dict)


_GEO_POSTGRESQL = {("postgresql", "wal_level"): "hot_standby",
                   ("postgresql", "max_wal_senders"): 10, ("postgresql", "hot_standby"): "on"}
#: roles/*.rb, in gitlab.rb's declaration order (the order they are loaded in).
ROLES: dict[str, Role] = {
    "application": Role(groups=("rails",), services=("nginx",), rails="on"),
    "sidekiq": Role(groups=("sidekiq_role",), rails="on",
                    settings={("gitlab_rails", "auto_migrate"): False}),
    "postgres": Role(groups=("postgres_role",), rails="on"),
    "patroni": Role(groups=("patroni_role",), rails="on"),
    "redis_sentinel": Role(services=("sentinel",), rails="off"),
    "redis_master": Role(groups=("redis_node",), rails="off"),
    "redis_replica": Role(groups=("redis_node",), rails="off"),
    "geo_primary": Role(manages_services=False, settings={
        **_GEO_POSTGRESQL, ("postgresql", "sql_replication_user"): "gitlab_replicator",
        ("postgresql", "wal_keep_segments"): 50, ("postgresql", "max_replication_slots"): 1}),
    "geo_secondary": Role(groups=("geo",), manages_services=False, settings={
        **_GEO_POSTGRESQL, ("postgresql", "wal_keep_segments"): 10,
        ("postgresql", "max_standby_archive_delay"): "60s",
        ("postgresql", "max_standby_streaming_delay"): "60s",
        ("gitlab_rails", "auto_migrate"): False}),
    "monitoring": Role(groups=("monitoring_role",), rails="off"),
    "pgbouncer": Role(groups=("pgbouncer_role",), rails="off"),
    "consul": Role(groups=("consul_role",), rails="off"),
    "pages": Role(groups=("pages_role",), rails="off"),
    "gitaly": Role(groups=("gitaly_role",), rails="off"),
    "backup": Role(manages_services=False),
}


def role_name(given: object) -> str:
    """'geo-primary-role' and 'geo_primary_role' both name geo_primary (omnibus-gitlab
    turns hyphens into underscores to spare users an error)."""
    return str(given).replace("-", "_").removesuffix("_role")


def enabled_roles(attributes: Mapping[str, Any]) -> list[str]:
    """The roles on, from `roles [...]` (with or without the _role suffix) and
    <name>_role['enable'], in load order."""
    roles = attributes.get("roles") or []
    listed = {role_name(role) for role in ([roles] if isinstance(roles, str) else roles)}
    return [name for name in ROLES if name in listed
            or (attributes.get(f"{name}_role") or {}).get("enable")]


def services_of(groups: tuple[str, ...], services: tuple[str, ...] = ()
                ) -> tuple[list[str], list[str]]:
    """The shipped and the not-shipped services in `groups` or named in `services`."""
    def member(name: str, its_groups: tuple[str, ...]) -> bool:
        return name in services or any(group in its_groups for group in groups)

    return ([name for name, its in SERVICE_GROUPS.items() if member(name, its)],
            [name for name, its in NOT_SHIPPED_GROUPS.items() if member(name, its)])


#: monitoring/libraries/prometheus.rb parse_exporter_enabled: an exporter runs where the
#: data store it reads runs on this node, whatever the roles.
EXPORTED_STORES = {"redis_exporter": "redis", "postgres_exporter": "postgresql"}


def _role_switches(attributes: dict[str, Any], settings: Mapping[str, Any],
                   roles: list[str]) -> set[str]:
    """The services the roles turn on; fills gitlab_rails['enable'] and the roles'
    settings where gitlab.rb (`settings`) left them unset, over the defaults."""
    rails = attributes.setdefault("gitlab_rails", {})
    turned_on = set(services_of((SYSTEM_GROUP,))[0])
    if not any(ROLES[name].manages_services for name in roles):
        except_rails = rails.get("enable") is False
        turned_on |= {name for name, groups in SERVICE_GROUPS.items() if DEFAULT_GROUP in groups
                      and not (except_rails and "rails" in groups)}
        if rails.get("enable") is None:
            rails["enable"] = True
    for name in roles:
        role = ROLES[name]
        if role.rails is not None and rails.get("enable") is None:
            rails["enable"] = role.rails == "on"
        for (section, key), value in role.settings.items():
            if (settings.get(section) or {}).get(key) is None:
                attributes.setdefault(section, {})[key] = value
        turned_on |= set(services_of(role.groups, role.services)[0])
    return turned_on


def apply_roles(attributes: dict[str, Any], settings: Mapping[str, Any]) -> None:
    """Set every service's `enable` that gitlab.rb (or an external URL) left unset, as the
    roles say, then as the monitoring cookbook says: exporters follow their data store,
    and prometheus_monitoring['enable'] = false turns the monitoring group off."""
    roles = enabled_roles(attributes)
    if "redis_master" in roles and "redis_replica" in roles:
        raise ConfigError("roles", "Cannot define both redis_master_role and "
                          "redis_replica_role in the same machine.",
                          "a Redis node is either the primary or a replica: keep one role")
    unset = {name for name in (*SERVICE_GROUPS, *RAILS_FOLLOWERS[1:])
             if (attributes.get(name) or {}).get("enable") is None}
    turned_on = _role_switches(attributes, settings, roles)
    for name in unset:
        attributes.setdefault(name, {})["enable"] = (
            attributes["gitlab_rails"]["enable"] if name in RAILS_FOLLOWERS
            else name in turned_on)
    for exporter, store in EXPORTED_STORES.items():
        if exporter in unset:
            attributes[exporter]["enable"] = bool(attributes[store]["enable"])
    if (attributes.get("prometheus_monitoring") or {}).get("enable") is False:
        for name in set(services_of(("monitoring",))[0]) & unset:
            attributes[name]["enable"] = False


def role_warnings(attributes: Mapping[str, Any]) -> list[str]:
    """One line per enabled role whose omnibus-gitlab services include some this package
    does not ship."""
    warnings = []
    for name in enabled_roles(attributes):
        role = ROLES[name]
        missing = services_of(role.groups, role.services)[1]
        if missing:
            warnings.append(f"{name}_role runs {', '.join(missing)} in omnibus-gitlab, which "
                            "this package does not ship; this node runs the rest of the role")
    return warnings
