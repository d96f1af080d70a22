"""Why a gitlab.rb setting of omnibus-gitlab has no effect here: one reason per section, given
once when such a setting is set. bench/schema_from_template.py writes them into
schema_omnibus.yml as each section's `_reason`; a key of schema.yml declared `used: false`
without a `reason` of its own gets its section's."""

from __future__ import annotations

#: Services this package does not ship (Community Edition), or that upstream has retired.
NOT_SHIPPED = {
    "consul": "Consul (service discovery for HA) is not part of this package",
    "patroni": "Patroni (PostgreSQL HA) is not part of this package",
    "pgbouncer": "PgBouncer is not part of this package",
    "pgbouncer_exporter": "PgBouncer is not part of this package",
    "praefect": "Praefect (Gitaly Cluster) is not part of this package",
    "sentinel": "Redis Sentinel (Redis HA) is not part of this package",
    "geo_postgresql": "Geo is Enterprise Edition only, not part of this package",
    "geo_secondary": "Geo is Enterprise Edition only, not part of this package",
    "geo_logcursor": "Geo is Enterprise Edition only, not part of this package",
    "mattermost": "Mattermost is not part of this package (mattermost_external_url only "
                  "proxies to one run elsewhere)",
    "spamcheck": "Spamcheck is Enterprise Edition only, not part of this package",
    "unicorn": "Unicorn was replaced by Puma (GitLab 14.0)",
    "repmgr": "repmgr was replaced by Patroni upstream and is not part of this package",
    "repmgrd": "repmgr was replaced by Patroni upstream and is not part of this package",
    "high_availability": "HA mountpoint checks are not part of this package",
    "oak": "Oak (the GitLab Self-Managed landing page) is not part of this package",
}
#: Programs this package ships that this gitlab-ctl does not configure or run yet.
NOT_RUN = ("gitlab_pages", "gitlab_kas", "prometheus", "alertmanager", "node_exporter",
           "redis_exporter", "postgres_exporter", "gitlab_exporter", "prometheus_monitoring",
           "letsencrypt", "crond", "mailroom", "gitlab_sshd", "gitlab_backup_cli",
           "storage_check", "remote_syslog", "bootstrap")
#: Sections this gitlab-ctl manages, some of whose omnibus-gitlab keys it does not write.
PARTIAL = "this gitlab-ctl does not write this setting into {what} (yet)"
MANAGED = {
    "gitlab_rails": "gitlab.yml or the Rails configuration",
    "postgresql": "PostgreSQL's configuration", "redis": "Redis' configuration",
    "nginx": "nginx's configuration", "gitlab_workhorse": "Workhorse's configuration",
    "puma": "Puma's configuration", "sidekiq": "Sidekiq's configuration",
    "gitlab_shell": "gitlab-shell's configuration", "gitaly": "Gitaly's config.toml",
    "registry": "the registry's configuration", "logrotate": "logrotate's configuration",
    "logging": "the services' logging", "user": "the accounts it creates",
    "web_server": "the web server account", "gitlab_ci": "the CI configuration",
    "manage_accounts": "account management", "package": "the package's behaviour",
    "gitaly_client": "the Gitaly client configuration",
    "manage_storage_directories": "the storage directories it creates",
}
#: Keys of omnibus-gitlab's template that something here reads without schema.yml declaring
#: them: the newer-style nginx hashes (nginx_sites) and the roles' switches (attributes).
APPLIED_EXTRA = frozenset({
    ("gitlab_rails", "nginx"), ("registry", "nginx"), ("gitlab_pages", "nginx"),
    ("gitlab_kas", "nginx"), ("mattermost", "nginx"),
    *((f"{role}_role", "enable") for role in (
        "application", "sidekiq", "postgres", "patroni", "redis_sentinel", "redis_master",
        "redis_replica", "geo_primary", "geo_secondary", "monitoring", "pgbouncer", "consul",
        "pages", "gitaly", "backup")),
})
GENERIC = "nothing in this gitlab-ctl reads it"


def section_reason(section: str) -> str:
    """The one-line reason a setting of `section` that nothing reads has no effect."""
    if section in NOT_SHIPPED:
        return NOT_SHIPPED[section]
    if section in NOT_RUN:
        return (f"this package ships {section.replace('_', '-')} but this gitlab-ctl does not "
                "configure or run it (yet)") if section not in (
                    "letsencrypt", "prometheus_monitoring", "storage_check", "remote_syslog",
                    "bootstrap") else f"this gitlab-ctl does not implement {section} (yet)"
    if section in MANAGED:
        return PARTIAL.format(what=MANAGED[section])
    if section.endswith("_role"):
        return "roles are applied through roles [...] and <role>_role['enable'] only"
    if section.endswith("_nginx"):
        return PARTIAL.format(what="this site's nginx server block")
    return GENERIC
