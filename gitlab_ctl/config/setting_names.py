"""The top-level names gitlab.rb may set, as omnibus-gitlab accepts them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from gitlab_ctl.config.gitlabrb_limits import GitlabRbError, excerpt

#: Settings written as calls (`external_url 'http://...'`) rather than `x['k'] = v`.
CALL_SETTINGS = frozenset({
    "external_url", "registry_external_url", "pages_external_url", "gitlab_kas_external_url",
    "mattermost_external_url", "runtime_dir", "git_data_dir", "roles",
})
ROLES = ("application", "sidekiq", "postgres", "patroni", "redis_sentinel", "redis_master",
         "redis_replica", "geo_primary", "geo_secondary", "monitoring", "pgbouncer", "consul",
         "pages", "gitaly", "backup")
#: Every top-level name omnibus-gitlab accepts (runtime-side.md, gitlab.rb format).
HASH_SETTINGS = frozenset({
    "gitlab_rails", "gitlab_shell", "gitlab_sshd", "gitlab_workhorse", "gitaly_client",
    "logging", "puma", "unicorn", "sidekiq", "mailroom", "storage_check", "git_data_dirs",
    "actioncable", "bootstrap", "manage_accounts", "manage_storage_directories", "user",
    "gitlab_ci", "remote_syslog", "web_server", "prometheus_monitoring", "gitlab_backup_cli",
    "geo_postgresql", "geo_secondary", "geo_logcursor", "sentinel", "package", "registry",
    "oak", "redis", "postgresql", "gitlab_kas", "gitlab_pages", "pgbouncer", "repmgr",
    "repmgrd", "consul", "spamcheck", "patroni", "gitaly", "praefect", "mattermost",
    "letsencrypt", "crond", "logrotate", "high_availability", "nginx", "mattermost_nginx",
    "pages_nginx", "registry_nginx", "gitlab_kas_nginx", "prometheus", "alertmanager",
    "node_exporter", "redis_exporter", "postgres_exporter", "pgbouncer_exporter",
    "gitlab_exporter", *(f"{role}_role" for role in ROLES),
})
KNOWN_SETTINGS = CALL_SETTINGS | HASH_SETTINGS


def unknown_setting(line: int, name: str) -> GitlabRbError:
    close = difflib.get_close_matches(name[:100], sorted(KNOWN_SETTINGS), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "see /opt/gitlab/etc/gitlab.rb.template"
    return GitlabRbError(line, f"unknown setting '{excerpt(name)}' (omnibus: Reading "
                         f"unsupported config value {excerpt(name)})", hint=hint)


def setting_names() -> Iterable[str]:
    return sorted(KNOWN_SETTINGS)
