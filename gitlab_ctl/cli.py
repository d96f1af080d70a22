"""`gitlab-ctl` (the package's wrapper runs `python3 -m gitlab_ctl.cli`): parse the command
line, check root, run the command of gitlab_ctl.commands.table, and print any error it ends
with, in the one format every gitlab-ctl error has (gitlab_ctl.errors)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gitlab_ctl.commands.table import COMMANDS, NO_ROOT, build_parser
from gitlab_ctl.commands.unshipped import ANY_ARGUMENTS
from gitlab_ctl.errors import GitlabCtlError, print_error
from gitlab_ctl.paths import Layout

__all__ = ["COMMANDS", "dispatch", "main"]


def dispatch(args: argparse.Namespace, layout: Layout) -> int:
    """Run the command; an error it ends with becomes a message naming the file, setting,
    resource or service at fault and a hint, with its exit code (2 for a config error or
    an unknown service, as for a usage error; 1 otherwise)."""
    try:
        return COMMANDS[args.verb][2](args, layout)
    except GitlabCtlError as error:
        return print_error(error)


def main(argv: Sequence[str] | None = None) -> int:
    layout = Layout.from_environ()
    parser = build_parser(layout)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # only the commands this package does not ship take any argument
        if args.verb not in ANY_ARGUMENTS:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.arguments = [*args.arguments, *unknown]
    if args.verb not in NO_ROOT and os.geteuid() != 0:
        print("This command must be executed as root user", file=sys.stderr)
        return 1
    # as omnibus-ctl does: the package's own programs (openssl, sv, ...) come first
    os.environ["PATH"] = os.pathsep.join([str(layout.install_dir / "bin"),
                                          str(layout.embedded / "bin"),
                                          os.environ.get("PATH", "/usr/bin:/bin")])
    return dispatch(args, layout)


if __name__ == "__main__":
    sys.exit(main())
