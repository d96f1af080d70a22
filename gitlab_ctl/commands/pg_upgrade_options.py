"""The options of `gitlab-ctl pg-upgrade` and `revert-pg-upgrade`, as omnibus-gitlab's
GitlabCtl::PgUpgrade.parse_options reads them (its Patroni-only switches are accepted and
refused by the command: Patroni is not part of this package)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from gitlab_ctl.paths import Layout

#: omnibus-gitlab's options for clusters this package does not ship -> what they need
CLUSTER_OPTIONS = {"--leader": "Patroni", "--replica": "Patroni", "--standby-leader": "Patroni"}
DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}



def parse_duration(text: str) -> int:
    """Milliseconds of '1d2h3m4s5ms' or of a plain number (omnibus-gitlab's parse_duration)."""
    millis = 0.0
    for quantity, unit in re.findall(r"(\d+(?:\.\d+)?)([a-zA-Z]+)", text):
        if unit not in DURATION_UNITS:
            break
        millis += DURATION_UNITS[unit] * float(quantity)
    if millis == 0:
        try:
            millis = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value for duration: `{text}`") from None
    return int(millis)


def add_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    """omnibus-gitlab's parse_options, without the Patroni-only switches' effect."""
    parser.add_argument("-t", "--tmp-dir", type=Path, metavar="DIR",
                        help="storage location for temporary data")
    parser.add_argument("-w", "--no-wait", dest="wait", action="store_false",
                        help="do not wait before starting the upgrade process")
    parser.add_argument("-s", "--skip-unregister", action="store_true",
                        help="skip unregistering an HA secondary node (no-op: no HA here)")
    parser.add_argument("-T", "--timeout", type=parse_duration, metavar="TIMEOUT",
                        help="timeout in milliseconds for each underlying command; accepts "
                        "durations such as 1d2h3m4s5ms")
    parser.add_argument("-V", "--target-version", metavar="VERSION",
                        help="the explicit major version to upgrade or downgrade to")
    parser.add_argument("--skip-disk-check", action="store_true",
                        help="skip checking that there is enough free disk space")
    parser.add_argument("--skip-multi-node", action="store_true",
                        help="bail out when the upgrade is disabled by "
                        "/etc/gitlab/disable-postgresql-upgrade (for non-interactive callers)")
    for flag, component in CLUSTER_OPTIONS.items():
        parser.add_argument(flag, dest="cluster_option", action="store_const", const=flag,
                            help=f"{component} only: refused, {component} is not part of "
                            "this package")


