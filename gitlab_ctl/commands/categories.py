"""`gitlab-ctl --help`'s grouping of the commands, as omnibus-ctl's help groups them
(its categories and omnibus-gitlab's add_command_under_category ones)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

#: category -> its commands, in the order help prints them; a command not listed is general
CATEGORIES: dict[str, tuple[str, ...]] = {
    "general": ("reconfigure", "show-config", "check-config", "diff-config", "upgrade",
                "upgrade-check", "cleanse", "uninstall", "remove-accounts", "generate-secrets",
                "deploy-page", "completion", "container-run", "help"),
    "service-management": ("service-list", "status", "tail", "start", "stop", "restart",
                           "restart-except", "once", "hup", "term", "int", "kill",
                           "graceful-kill", "usr1", "usr2"),
    "backup": ("backup-etc",),
    "database": ("pg-upgrade", "revert-pg-upgrade", "pg-password-md5",
                 "set-replication-password", "pg-decomposition-migration", "get-redis-master",
                 "get-postgresql-primary", "patroni", "write-pgpass"),
    "container-registry": ("registry-garbage-collect", "registry-database"),
    "lets-encrypt": ("renew-le-certs",),
    "gitaly": ("praefect",),
    "selinux-controls": ("apply-sepolicy",),
    "pgbouncer": ("pgb-console", "pgb-notify", "pgb-suspend", "pgb-resume", "pgb-kill"),
    "consul": ("consul", "consul-download"),
    "gitlab-geo": ("geo", "geo-replication-pause", "geo-replication-resume",
                   "promotion-preflight-checks", "replicate-geo-database",
                   "set-geo-primary-node"),
}
TITLES = {"lets-encrypt": "Let's Encrypt", "selinux-controls": "SELinux Controls",
          "gitlab-geo": "GitLab Geo"}


def title(category: str) -> str:
    """omnibus-ctl's heading: dashes to spaces, each word capitalized."""
    return TITLES.get(category) or " ".join(word.capitalize() for word in category.split("-"))


def grouped(verbs: Mapping[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(heading, [(verb, help)]) for each category with a command here; verbs no category
    names go to general."""
    listed = {verb for verbs_of in CATEGORIES.values() for verb in verbs_of}
    groups = []
    for category, members in CATEGORIES.items():
        entries = [(verb, verbs[verb]) for verb in members if verb in verbs]
        if category == "general":
            entries += [(verb, text) for verb, text in verbs.items() if verb not in listed]
        if entries:
            groups.append((f"{title(category)} Commands", entries))
    return groups


def help_text(verbs: Mapping[str, str], column: int = 28, width: int = 100) -> str:
    """The commands block of --help: one heading per category, each command with its help
    wrapped in a column (below the name when the name is too long)."""
    lines = []
    for heading, entries in grouped(verbs):
        lines += ["", f"{heading}:"]
        for verb, text in entries:
            wrapped = textwrap.wrap(text, width - column)
            name = f"  {verb}"
            first = name.ljust(column)
            if len(name) > column - 2:  # no room for a gap: the help goes below
                lines.append(name)
                first = " " * column
            lines.append(first + wrapped[0])
            lines += [" " * column + line for line in wrapped[1:]]
    return "\n".join(lines)
