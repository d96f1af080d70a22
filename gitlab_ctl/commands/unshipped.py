"""omnibus-gitlab's gitlab-ctl commands whose component this package does not ship: GitLab
EE's Consul, Geo, Patroni and PgBouncer, Praefect (Gitaly Cluster), the SELinux policy and
GitLab Rails' rake tasks. Each is listed in --help with what it needs, takes any arguments
(the omnibus-gitlab ones included, so a script calling it gets this answer, not a usage
error), and exits 2 with one line on stderr naming what is missing."""

from __future__ import annotations

import argparse
import sys
from typing import NamedTuple

from gitlab_ctl.paths import Layout

EE = "GitLab EE's omnibus package has it"


class Missing(NamedTuple):
    """What an unshipped command needs and where that is to be had."""

    component: str
    available: str


#: verb -> what it needs. The EE ones come from files/gitlab-ctl-commands-ee/*.rb.
UNSHIPPED: dict[str, Missing] = {
    "consul": Missing("Consul", EE),
    "consul-download": Missing("Consul", EE),
    "geo": Missing("GitLab Geo", EE),
    "geo-replication-pause": Missing("GitLab Geo", EE),
    "geo-replication-resume": Missing("GitLab Geo", EE),
    "promotion-preflight-checks": Missing("GitLab Geo", EE),
    "replicate-geo-database": Missing("GitLab Geo", EE),
    "set-geo-primary-node": Missing("GitLab Geo", EE),
    "get-postgresql-primary": Missing("Consul and Patroni", EE),
    "patroni": Missing("Patroni", EE),
    "pgb-console": Missing("PgBouncer", EE),
    "pgb-notify": Missing("PgBouncer", EE),
    "pgb-suspend": Missing("PgBouncer", EE),
    "pgb-resume": Missing("PgBouncer", EE),
    "pgb-kill": Missing("PgBouncer", EE),
    "write-pgpass": Missing("PgBouncer", EE),
    "praefect": Missing("Praefect (Gitaly Cluster)",
                        "GitLab's omnibus packages have it, built with Gitaly in Go"),
    "apply-sepolicy": Missing("GitLab's SELinux policy modules",
                              "GitLab's omnibus packages for el/amazon have them"),
    "pg-decomposition-migration": Missing(
        "GitLab Rails' rake tasks (gitlab-rake)",
        "the gitlab-ce and gitlab-ee projects have them, where their sources can be fetched"),
}

#: What omnibus-gitlab's help says each one does.
DESCRIPTIONS = {
    "consul": "interact with the gitlab-consul cluster",
    "consul-download": "download consul for the gitlab-consul cluster",
    "geo": "interact with Geo", "geo-replication-pause": "pause Geo replication",
    "geo-replication-resume": "resume Geo replication",
    "promotion-preflight-checks": "run preflight checks for promotion to primary node",
    "replicate-geo-database": "replicate the Geo database",
    "set-geo-primary-node": "make this node the Geo primary",
    "get-postgresql-primary": "get the connection details of the PostgreSQL primary",
    "patroni": "interact with Patroni", "pgb-console": "connect to the pgbouncer console",
    "pgb-notify": "notify pgbouncer of an update to its database",
    "pgb-suspend": "send the 'suspend' command to pgbouncer",
    "pgb-resume": "send the 'resume' command to pgbouncer",
    "pgb-kill": "send the 'kill' command to pgbouncer",
    "write-pgpass": "write a pgpass file for the specified user",
    "praefect": "interact with Gitaly cluster",
    "apply-sepolicy": "apply GitLab's SELinux policy to managed files",
    "pg-decomposition-migration": "migrate the database to a two-database setup",
}


def refusal(verb: str) -> str:
    missing = UNSHIPPED[verb]
    return (f"gitlab-ctl {verb}: needs {missing.component}, which this package does not "
            f"include ({missing.available})")


def _any_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    # options too: the CLI passes what argparse does not know to these verbs (ANY_ARGUMENTS)
    parser.add_argument("arguments", nargs="*", metavar="ARGUMENT",
                        help="accepted and ignored: the command cannot run here")


def _refuse(args: argparse.Namespace, layout: Layout) -> int:
    print(refusal(args.verb), file=sys.stderr)
    return 2


COMMANDS = {verb: (f"{DESCRIPTIONS[verb]} (needs {missing.component}, not in this package)",
                   _any_arguments, _refuse) for verb, missing in UNSHIPPED.items()}
#: Verbs that take arguments argparse does not know (see gitlab_ctl.cli).
ANY_ARGUMENTS = frozenset(UNSHIPPED)
