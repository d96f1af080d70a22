"""The gitlab-ctl command. Only the commands that need neither root nor an installed package
exist so far: show-config and check-config read a config file and say what it means."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gitlab_ctl.attributes import resolve_attributes
from gitlab_ctl.config import DEFAULT_CONFIG, ConfigError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitlab-ctl", description="Configure and control an all-in-one GitLab installation.")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb, text in (("show-config", "print the settings reconfigure would use (defaults, "
                                       "the config file, what external_url implies), as JSON"),
                       ("check-config", "check the config file; exit 2 naming the bad line")):
        sub = verbs.add_parser(verb, help=text, description=text)
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="PATH",
                         help=f"gitlab.rb, or a .yml/.yaml file (default: {DEFAULT_CONFIG})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        attributes = resolve_attributes(settings)
    except ConfigError as error:
        print(f"gitlab-ctl: error: {error.where}: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  hint: {error.hint}", file=sys.stderr)
        return 2
    if args.verb == "show-config":
        print(json.dumps(attributes, indent=2, sort_keys=True))
    else:
        print(f"{args.config}: valid ({len(settings)} top-level settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
