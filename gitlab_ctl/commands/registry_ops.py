"""The container registry's gitlab-ctl commands: registry-garbage-collect and
registry-database, in table.py's shape (verb -> (help, add_arguments, handler)).

reconfigure imports table.py, and so this module: what the commands do
(registry_actions, registry_options) is imported by their handlers only."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gitlab_ctl.paths import Layout

Handler = Callable[[argparse.Namespace, Layout], int]
Arguments = Callable[[argparse.ArgumentParser, Layout], None]


def _out(line: str) -> None:
    print(line, flush=True)


def _svwait() -> int:
    return int(os.environ.get("SVWAIT", "30"))


def _gc_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("config", nargs="?", type=Path, metavar="CONFIG",
                        help="the registry's config.yml (default: registry['dir']/config.yml, "
                             f"{layout.data_dir}/registry/config.yml unless set)")
    parser.add_argument("-m", "--delete-manifests", "--delete-untagged", dest="flags",
                        action="append_const", const="-m",
                        help="delete manifests that are not currently referenced via tag")
    parser.add_argument("-d", "--dry-run", dest="flags", action="append_const", const="-d",
                        help="do everything except remove the blobs")
    parser.epilog = (
        "Stops the registry, runs `registry garbage-collect CONFIG` (blobs no manifest "
        "references are deleted from the storage) and starts the registry again, also when "
        "the collection fails. Exit 1 when the registry is not enabled, CONFIG is missing, "
        "the config's metadata database is on (the registry then collects garbage online), "
        "or the collection fails.")


def _gc_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands import registry_actions

    registry = registry_actions.load(layout)
    flags = list(dict.fromkeys(args.flags or []))
    return registry_actions.garbage_collect(registry, args.config, flags, _out, _svwait())


def _database_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    from gitlab_ctl.commands.registry_options import DATABASE_USAGE

    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="COMMAND ...",
                        help="migrate up|down|status|version, import or gc-stats, with their "
                             "options ('COMMAND --help' lists them)")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        DATABASE_USAGE + "\nRuns `registry database COMMAND ... CONFIG` as the registry's "
        "account. `migrate down` stops a running registry first (after asking); `import "
        "--all-repositories` needs it in read-only mode. Exit 128 for a command line it "
        "cannot parse, 1 when the registry is not enabled or installed, or the command fails.")


def _database_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands import registry_actions, registry_options

    try:
        invocation = registry_options.parse(args.words)
    except registry_options.HelpRequested as shown:
        print(shown.usage, end="")
        return 0
    except registry_options.UsageError as error:
        print(f"{error.message}\n\n{error.usage}", end="", file=sys.stderr)
        return registry_options.USAGE_EXIT
    _out(f"Running {invocation.title}")
    registry = registry_actions.load(layout)
    return registry_actions.database(registry, invocation, _out, registry_actions.ask_stdin,
                                     _svwait())


COMMANDS: dict[str, tuple[str, Arguments, Handler]] = {
    "registry-garbage-collect": ("Run Container Registry garbage collection: stop the "
                                 "registry, delete unreferenced blobs, start it again",
                                 _gc_arguments, _gc_command),
    "registry-database": ("Manage Container Registry database: migrate, import, gc-stats "
                          "(`registry database ...`)", _database_arguments, _database_command),
}
