"""check-config --version VER [--no-fail]: list the gitlab.rb settings removed at or before
VER (gitlab_ctl/config/deprecations.py) and exit 1, or 0 with --no-fail, as omnibus-gitlab's
check-config does for the package's preinst."""

from __future__ import annotations

import argparse

from gitlab_ctl.config import deprecations
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.paths import Layout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--version", metavar="VER", default=None,
                        help="list the settings removed in VER (MAJOR.MINOR) or before, and "
                             "exit 1 if there are any; --version= (empty): the installed "
                             "major + 1")
    parser.add_argument("-n", "--no-fail", action="store_true",
                        help="with --version: list them, but exit 0")


def check_removals(args: argparse.Namespace, layout: Layout) -> int:
    version = (deprecations.parse_version(args.version) if args.version
               else deprecations.next_major(layout.install_dir))
    shown = ".".join(map(str, version))
    if not args.config.exists():
        print(f"{args.config} does not exist: no settings to check against {shown}")
        return 0
    settings, locations = read_config(args.config)
    findings = deprecations.removed_settings(settings, locations, args.config, version)
    if not findings:
        print(f"{args.config}: no setting removed in {shown} or before")
        return 0
    for finding in findings:
        print(finding.line())
    print(deprecations.CLOSING_LINE)
    return 0 if args.no_fail else 1
