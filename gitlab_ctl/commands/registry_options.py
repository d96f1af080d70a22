"""`gitlab-ctl registry-database`'s command line, as omnibus-gitlab parses it
(files/gitlab-ctl-commands/lib/gitlab_ctl/registry/{database,migrate,import,gc_stats}.rb):
COMMAND [SUBCOMMAND] [options], checked against the tables below and turned into the
arguments of `registry database ...`. Errors read as Ruby's OptionParser words them
("invalid option: --x", "parse error: ...") and come with the usage of the command at fault;
the command then exits 128, as omnibus-gitlab's does."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitlab_ctl.errors import GitlabCtlError

#: omnibus-gitlab's exit code for a registry-database command line it cannot parse
USAGE_EXIT = 128
DOCS = "https://gitlab.com/gitlab-org/container-registry/-/blob/master/docs"

DATABASE_USAGE = """\
Usage:
  gitlab-ctl registry-database command subcommand [options]

GLOBAL OPTIONS:
  -h, --help      Usage help

COMMANDS:
  migrate                Manage schema migrations
  import                 Import filesystem metadata into the database
  gc-stats               Show online garbage collection health statistics
"""
MIGRATE_USAGE = """\
Manage migrations

Usage:
  gitlab-ctl registry-database migrate SUBCOMMAND [options]

Subcommands:
  down        Apply down migrations
  status      Show migration status
  up          Apply up migrations
  version     Show current migration version

Options:
  -h, --help   help for migrate
"""
IMPORT_USAGE = f"""\
Import filesystem metadata into the database

See documentation at {DOCS}/database-import-tool.md

Usage:
  gitlab-ctl registry-database import [options]

Options:
  -B, --common-blobs                Import all blob metadata from common storage
  -c, --row-count                   Count and log number of rows across relevant database tables on (pre)import completion
  -d, --dry-run                     Do not commit changes to the database
  -e, --require-empty-database      Abort import if the database is not empty
  -p, --pre-import                  Import immutable repository-scoped data to speed up a following import
  -r, --all-repositories            Import all repository-scoped data
  -h, --help                        Help for import
  -1, --step-one pre-import         Perform step one of a multi-step import: alias for pre-import
  -2, --step-two all-repositories   Perform step two of a multi-step import: alias for all-repositories
  -3, --step-three common-blobs     Perform step three of a multi-step import: alias for common-blobs
  -l, --log-to-stdout               Write detailed log to standard output instead of showing progress bars
"""  # noqa: E501 (omnibus-gitlab's usage text, line for line)
GC_STATS_USAGE = """\
Show online garbage collection health statistics

Usage:
  gitlab-ctl registry-database gc-stats [options]

Options:
  -f, --format FORMAT   Output format: 'text' (default) or 'json'
  -l, --limit INT       Maximum number of sample entries to display per category, pass 0 to show all entries (default: 10)
  -h, --help            Help for gc-stats
"""  # noqa: E501


def _subcommand_usage(summary: str, name: str, options: list[str]) -> str:
    lines = [summary, "", "Usage:", f"  gitlab-ctl registry-database migrate {name} [options]",
             "", "Options:", *(f"  {line}" for line in options)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Option:
    """One option: its spellings, what `registry database` gets for it (a value option
    gets `emits` followed by the value), and what it implies."""

    short: str
    long: str
    emits: str
    takes_value: bool = False
    read_only: bool = False  # the registry must be in read-only mode while it runs
    choices: tuple[str, ...] = ()
    positive: bool = False  # the value must be a number above 0


DRY_RUN, LIMIT = Option("-d", "--dry-run", "-d"), Option("-l", "--limit", "-n", True,
                                                         positive=True)
SKIP_POST = Option("-s", "--skip-post-deployment", "-s")


@dataclass(frozen=True)
class Command:
    usage: str
    options: tuple[Option, ...] = ()
    #: migrate's subcommands; a command with some needs one
    subcommands: dict[str, Command] = field(default_factory=dict)
    #: stops a running registry first (after asking), unless one of these flags is given
    stops_unless: tuple[str, ...] | None = None


MIGRATE = Command(MIGRATE_USAGE, subcommands={
    "up": Command(_subcommand_usage("Apply up migrations", "up", [
        "-d, --dry-run                do not commit changes to the database",
        "-h, --help                   help for up",
        "-l, --limit int              limit the number of migrations (all by default)",
        "-s, --skip-post-deployment   do not apply post deployment migrations"]),
        (DRY_RUN, LIMIT, SKIP_POST)),
    "down": Command(_subcommand_usage("Apply down migrations", "down", [
        "-d, --dry-run     do not commit changes to the database",
        "-f, --force       no confirmation message",
        "-h, --help        help for down",
        "-l, --limit int   limit the number of migrations (all by default)"]),
        (DRY_RUN, LIMIT, Option("-f", "--force", "-f")), stops_unless=("-d",)),
    "status": Command(_subcommand_usage("Show migration status", "status", [
        "-h, --help                   help for status",
        "-s, --skip-post-deployment   ignore post deployment migrations",
        "-u, --up-to-date             check if all known migrations are applied"]),
        (Option("-u", "--up-to-date", "-u"), SKIP_POST)),
    "version": Command(_subcommand_usage("Show current migration version", "version",
                                         ["-h, --help   help for version"])),
})
IMPORT = Command(IMPORT_USAGE, tuple(
    Option(short, long, long, read_only=long in ("--all-repositories", "--step-two"))
    for short, long in (("-B", "--common-blobs"), ("-c", "--row-count"), ("-d", "--dry-run"),
                        ("-e", "--require-empty-database"), ("-p", "--pre-import"),
                        ("-r", "--all-repositories"), ("-1", "--step-one"),
                        ("-2", "--step-two"), ("-3", "--step-three"),
                        ("-l", "--log-to-stdout"))))
GC_STATS = Command(GC_STATS_USAGE, (
    Option("-f", "--format", "--format", True, choices=("text", "json")),
    Option("-l", "--limit", "--limit", True)))
COMMANDS = {"migrate": MIGRATE, "import": IMPORT, "gc-stats": GC_STATS}


class UsageError(GitlabCtlError):
    """A command line omnibus-gitlab refuses: the message and the usage to show with it
    (printed as omnibus-gitlab prints them, not in gitlab-ctl's error format)."""

    exit_code = USAGE_EXIT

    def __init__(self, message: str, usage: str) -> None:
        super().__init__("", message)
        self.usage = usage


class HelpRequested(Exception):
    """-h/--help: not an error; the usage to print."""

    def __init__(self, usage: str) -> None:
        super().__init__(usage)
        self.usage = usage


@dataclass(frozen=True)
class Invocation:
    """A parsed command line: what to run and what it needs first."""

    command: str
    subcommand: str | None
    arguments: tuple[str, ...]  # after `registry database COMMAND [SUBCOMMAND]`
    needs_stop: bool
    needs_read_only: bool

    @property
    def title(self) -> str:
        return " ".join(filter(None, (self.command, self.subcommand)))


def _find(options: tuple[Option, ...], word: str, usage: str) -> tuple[Option, str | None]:
    """The option `word` names, and its attached value (--limit=5, -l5) if any."""
    name, _, attached = word.partition("=") if word.startswith("--") else (word, "", "")
    for option in options:
        if name == option.long:
            return option, attached or None
        if not word.startswith("--") and word[:2] == option.short:
            return option, word[2:] or None
    raise UsageError(f"invalid option: {word}", usage)


def _value(option: Option, word: str, value: str, usage: str) -> str:
    if option.choices and value not in option.choices:
        allowed = " or ".join(f"'{choice}'" for choice in option.choices)
        raise UsageError(f"invalid argument: Invalid format '{value}'. Must be {allowed}",
                         usage)
    if option.positive and not (value.isdigit() and int(value) > 0):
        raise UsageError(f"parse error: {option.long} option must be a positive number", usage)
    return value


def _parse_options(command: Command, words: list[str]) -> tuple[list[str], bool]:
    """The registry's arguments for `words` (value options first, as omnibus-gitlab orders
    them, then flags in the order given, each once) and whether one needs read-only mode."""
    values: dict[str, str] = {}
    flags: list[str] = []
    read_only = False
    remaining = list(words)
    while remaining:
        word = remaining.pop(0)
        if word in ("-h", "--help"):
            raise HelpRequested(command.usage)
        if not word.startswith("-") or word == "-":
            raise UsageError(f"parse error: unexpected argument: {word}", command.usage)
        option, attached = _find(command.options, word, command.usage)
        if option.takes_value:
            if attached is None and not remaining:
                raise UsageError(f"missing argument: {word}", command.usage)
            raw = attached if attached is not None else remaining.pop(0)
            values[option.emits] = _value(option, word, raw, command.usage)
        else:
            if attached is not None and word.startswith("--"):
                raise UsageError(f"needless argument: {word}", command.usage)
            if attached is not None:  # -dX: not a cluster omnibus-gitlab's flags allow here
                raise UsageError(f"invalid option: {word}", command.usage)
            flags += [] if option.emits in flags else [option.emits]
        read_only = read_only or option.read_only
    ordered = [part for emits in sorted(values, key=lambda flag: flag != "--format")
               for part in (emits, values[emits])]
    return ordered + flags, read_only


def parse(words: list[str]) -> Invocation:
    """`gitlab-ctl registry-database WORDS...` as omnibus-gitlab reads it."""
    remaining = list(words)
    if remaining and remaining[0] in ("-h", "--help"):
        raise HelpRequested(DATABASE_USAGE)
    if remaining and remaining[0].startswith("-"):
        raise UsageError(f"invalid option: {remaining[0]}", DATABASE_USAGE)
    if not remaining:
        raise UsageError("parse error: registry-database command is not specified.",
                         DATABASE_USAGE)
    name = remaining.pop(0)
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"parse error: Unknown registry-database command: {name}",
                         DATABASE_USAGE)
    subcommand = None
    if command.subcommands:
        if remaining and remaining[0] in ("-h", "--help"):
            raise HelpRequested(command.usage)
        if remaining and remaining[0].startswith("-"):
            raise UsageError(f"invalid option: {remaining[0]}", command.usage)
        if not remaining:
            raise UsageError(f"parse error: {name} subcommand is not specified.",
                             command.usage)
        subcommand = remaining.pop(0)
        if subcommand not in command.subcommands:
            raise UsageError(f"parse error: Unknown {name} subcommand: {subcommand}",
                             command.usage)
        command = command.subcommands[subcommand]
    arguments, read_only = _parse_options(command, remaining)
    stops = command.stops_unless is not None and not set(command.stops_unless) & set(
        arguments)
    return Invocation(name, subcommand, tuple(arguments), stops, read_only)
