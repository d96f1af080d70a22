"""The gitlab-ctl commands: reconfigure, upgrade, the config, backup and service commands.

Every command is one entry of COMMANDS: verb -> (help, add_arguments, handler). The config
commands (show-config, check-config, diff-config) and upgrade-check need neither root nor an
installed package; everything else acts on the installation (GITLAB_INSTALL_DIR, default
/opt/gitlab) and needs root. A handler returns the exit code; its errors (GitlabCtlError)
reach gitlab_ctl.cli, which prints them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

# container, pg_upgrade, backup_etc and letsencrypt_renew are imported by their handlers:
# reconfigure, run on every change, does not pay for commands it does not run
from gitlab_ctl.commands import (
    check_removals,
    completion,
    database_ops,
    maintenance,
    ops,
    registry_ops,
    unshipped,
    upgrade,
)
from gitlab_ctl.commands.categories import help_text
from gitlab_ctl.commands.console import out, svwait
from gitlab_ctl.commands.pg_upgrade_options import add_arguments as pg_upgrade_arguments
from gitlab_ctl.commands.reconfigure import Options, reconfigure, write_log
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import DEFAULT_CONFIG, ConfigError, read_config
from gitlab_ctl.config.secrets import SECRETS
from gitlab_ctl.config.validation import validate
from gitlab_ctl.engine import control
from gitlab_ctl.errors import GitlabCtlError, print_error
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import SERVICES
from gitlab_ctl.services.base import Context

Handler = Callable[[argparse.Namespace, Layout], int]
Arguments = Callable[[argparse.ArgumentParser, Layout], None]
#: Commands that neither need root nor change the host.
NO_ROOT = {"show-config", "check-config", "diff-config", "upgrade-check", "help",
           *completion.NO_ROOT, *database_ops.NO_ROOT, *unshipped.COMMANDS}

SERVICE_HELP = {
    "status": "show each service's state (omnibus-gitlab's format); exit code = services down",
    "start": "start a service, or every enabled one", "stop": "stop a service, or all",
    "restart": "restart a service, or all", "once": "start a service without restarting it",
    "hup": "send HUP (reload)", "term": "send TERM", "int": "send INT", "kill": "send KILL",
    "usr1": "send USR1", "usr2": "send USR2",
    "tail": "follow the logs of a service, or all, under /var/log/gitlab",
}


# --- config commands -------------------------------------------------------------------


def _config_argument(parser: argparse.ArgumentParser, default: Path) -> None:
    parser.add_argument("--config", type=Path, default=default, metavar="PATH",
                        help=f"gitlab.rb, or a .yml/.yaml file (default: {default})")


def _any_config(parser: argparse.ArgumentParser, layout: Layout) -> None:
    _config_argument(parser, DEFAULT_CONFIG)


def _check_config_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    _config_argument(parser, DEFAULT_CONFIG)
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) on warnings too, e.g. a setting that has no effect")
    check_removals.add_arguments(parser)


#: Settings that hold a file mode or umask (backup_archive_permissions, listen_umask): an
#: integer there means octal, as gitlab.rb writes it (0600), so show-config prints it so.
#: Not redis' unixsocketperm: it is written without the leading 0, and read as text.
MODE_KEY = re.compile(r"(^|_)(permissions|mode|umask)$")


def octal_modes(value: object, key: str = "") -> object:
    """The attributes, with every mode given as an octal string ("0600", not 384)."""
    if isinstance(value, dict):
        return {name: octal_modes(item, str(name)) for name, item in value.items()}
    if isinstance(value, list):
        return [octal_modes(item, key) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and MODE_KEY.search(key):
        return f"{value:04o}"
    return value


def _config_command(args: argparse.Namespace, layout: Layout) -> int:
    if args.verb == "check-config" and args.version is not None:
        return check_removals.check_removals(args, layout)  # only that, as omnibus-gitlab
    if getattr(args, "no_fail", False):
        raise GitlabCtlError("--no-fail", "applies to --version only",
                             hint="add --version=MAJOR.MINOR", exit_code=2)
    settings, lines = read_config(args.config)
    attributes = resolve_attributes(settings)
    warnings = validate(attributes, settings, lines, args.config)
    for warning in warnings:
        print(f"gitlab-ctl: warning: {warning}", file=sys.stderr)
    if args.verb == "check-config":
        render_enabled(layout, attributes)
    if args.verb == "show-config":
        print(json.dumps(octal_modes(attributes), indent=2, sort_keys=True))
    elif getattr(args, "strict", False) and warnings:
        print(f"gitlab-ctl: error: {args.config}: {len(warnings)} warnings, refused under "
              "--strict", file=sys.stderr)
        return 1
    else:
        print(f"{args.config}: valid ({len(settings)} top-level settings"
              + (f", {len(warnings)} warnings)" if warnings else ")"))
    return 0


def render_enabled(layout: Layout, attributes: dict) -> None:
    """Render every enabled service's files in memory, as reconfigure would before changing
    anything, so that check-config (and the package's preinst) also refuses what only
    rendering finds: a hash of the wrong shape, a Redis replica without master_ip. The
    secrets are placeholders: check-config needs neither root nor gitlab-secrets.json."""
    secrets = {section: {key: "check-config-placeholder" for key in keys}
               for section, keys in SECRETS.items()}
    context = Context(layout, attributes, secrets)
    for service in SERVICES.values():
        if context.section(service.section).get("enable"):
            service.configure(context)
            service.runit_resources(context)


def _diff_config_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    _config_argument(parser, layout.config_file)
    parser.epilog = (f"Lines starting with - are only in your config, lines starting with + "
                     f"only in the template ({maintenance.template_path(layout)}), which "
                     "documents every setting of this version. Exit code 0 either way.")


def _diff_config_command(args: argparse.Namespace, layout: Layout) -> int:
    for line in maintenance.diff_config(layout, args.config):
        out(line)
    return 0


# --- reconfigure and upgrade -----------------------------------------------------------


def _reconfigure_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    _config_argument(parser, layout.config_file)
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would change, with diffs, and change nothing")


def _reconfigure_failed(layout: Layout, error: GitlabCtlError, lines: list[str],
                        dry_run: bool) -> int:
    """What a run that stopped says, on stderr and in its log (nothing is logged for a dry
    run): the resource or file at fault and the hint."""
    message = ["There was an error running gitlab-ctl reconfigure:", "", str(error)]
    if error.hint:
        message.append(f"  hint: {error.hint}")
    print("\n".join(message), file=sys.stderr)
    log = None if dry_run else write_log(layout, lines + message)
    if log:
        print(f"The full log is in {log}", file=sys.stderr)
    return 1


def run_reconfigure(layout: Layout, config: Path, dry_run: bool = False) -> int:
    """One reconfigure with its output and log, as `gitlab-ctl reconfigure` prints it; the
    exit code (0, 1 for a failed resource, 2 for a config error). upgrade and container-run
    share it, and go on after a failure: its errors are printed here, not raised."""
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        out(line)

    started = time.monotonic()
    report(f"Reconfiguring gitlab from {config}" + (" (dry run)" if dry_run else ""))
    try:
        run = reconfigure(layout, Options(config, dry_run, svwait()), report)
    except ConfigError as error:  # nothing was touched: no log
        return print_error(error)
    except GitlabCtlError as error:
        return _reconfigure_failed(layout, error, lines, dry_run)
    verb = "would update" if dry_run else "updated"
    report(f"Checked {run.total} resources, {len(run.changed)} {verb} in "
           f"{time.monotonic() - started:.2f} s")
    for title, entries in (("Warnings:", run.warnings), ("Notes:", run.notes)):
        if entries:
            for line in ("", title, *entries):
                report(line)
    report("")
    report("Dry run: nothing changed." if dry_run else "gitlab Reconfigured!")
    if not dry_run:
        slowest = sorted(run.durations, key=lambda item: -item[1])[:10]
        write_log(layout, [*lines, "", "Slowest resources:",
                           *(f"  {seconds:8.3f} s  {name}" for name, seconds in slowest)])
    return 0


def _reconfigure_command(args: argparse.Namespace, layout: Layout) -> int:
    return run_reconfigure(layout, args.config, args.dry_run)


def _renew_le_certs_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands.letsencrypt_renew import renew_le_certs

    return renew_le_certs(layout, out)


def _upgrade_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.epilog = (
        "What the package runs after it is installed or upgraded. A first install with "
        "EXTERNAL_URL set is reconfigured. An installation with nothing supervised yet, or "
        f"with {layout.etc_dir}/skip-auto-reconfigure, is left alone. Otherwise every "
        f"service except {', '.join(upgrade.KEEP_RUNNING)} is stopped, reconfigure runs, "
        "and the services that were running are started again. Exit 1 if reconfigure fails.")


def _upgrade_command(args: argparse.Namespace, layout: Layout) -> int:
    return upgrade.upgrade(layout, out, lambda: run_reconfigure(layout, layout.config_file),
                           svwait=svwait())


def _upgrade_check_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("old", metavar="OLD", help="the installed version ('' on a first "
                                                   "install)")
    parser.add_argument("new", metavar="NEW", help="the version being installed")
    parser.epilog = ("Exit 1 when OLD's MAJOR.MINOR is below the upgrade stop: MIN_VERSION "
                     "from the environment, else the installed package's (its version "
                     f"manifest's upgrade_stop), else {upgrade.UPGRADE_STOP}; 0 otherwise.")


def _upgrade_check_command(args: argparse.Namespace, layout: Layout) -> int:
    refusal = upgrade.upgrade_check(args.old, args.new,
                                    package_stop=upgrade.package_upgrade_stop(layout))
    for line in refusal:
        print(line, file=sys.stderr)
    return 1 if refusal else 0


# --- backup-etc and cleanse ------------------------------------------------------------


def _backup_etc_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("-p", "--backup-path", type=Path, metavar="PATH",
                        help="directory for the archive (default: "
                             f"{layout.etc_dir}/config_backup)")
    parser.add_argument("--delete-old-backups", action=argparse.BooleanOptionalAction,
                        default=True, help="remove archives in that directory older than "
                        "gitlab_rails['backup_keep_time'] seconds, when it is set "
                        "(default: yes)")


def _backup_etc_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands.backup_etc import backup_etc

    backup_etc(layout, out, args.backup_path, args.delete_old_backups)
    return 0


def _cleanse_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("confirm", nargs="?", choices=["yes"], metavar="yes",
                        help="'yes' skips the 60-second wait")
    parser.add_argument("--with-external", action="store_true",
                        help="accepted for omnibus-gitlab compatibility: no external "
                             "services are managed, so it changes nothing")
    parser.epilog = (f"Copies {layout.etc_dir} to {maintenance.CLEANSE_BACKUP_ROOT}/"
                     "gitlab-cleanse-<time>, stops every service, removes the service links "
                     f"and deletes {layout.etc_dir}, {layout.data_dir} and {layout.log_dir}. "
                     "Without 'yes' it waits 60 seconds first (Ctrl-C cancels).")


def _uninstall_command(args: argparse.Namespace, layout: Layout) -> int:
    maintenance.uninstall(layout, out, svwait=svwait())
    return 0


def _cleanse_command(args: argparse.Namespace, layout: Layout) -> int:
    try:
        copy = maintenance.cleanse(layout, out, confirmed=args.confirm == "yes",
                                   with_external=args.with_external,
                                   backup_root=maintenance.CLEANSE_BACKUP_ROOT,
                                   svwait=svwait())
    except maintenance.CleanseCancelled:
        out("")
        out("Cancelled: nothing was deleted.")
        return 0
    out("")
    out(f"Your config files have been backed up to {copy}." if copy else
        f"There was no {layout.etc_dir} to back up.")
    out(f"The package stays installed in {layout.install_dir}; run 'gitlab-ctl reconfigure' "
        "to start again from scratch.")
    return 0


# --- service commands ------------------------------------------------------------------


def _service_argument(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("service", nargs="?", help="one service (default: all enabled)")


def _service_command(args: argparse.Namespace, layout: Layout) -> int:
    if args.verb == "status":
        return control.status(layout, args.service, out)
    if args.verb == "service-list":
        return control.service_list(layout, out)
    if args.verb == "tail":
        return control.tail(layout, args.service)
    return control.control(layout, args.verb, args.service, out, svwait=svwait())


def _no_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    pass


def _restart_except_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("services", nargs="+", metavar="SERVICE",
                        help="services to leave running as they are")


def _restart_except_command(args: argparse.Namespace, layout: Layout) -> int:
    return maintenance.restart_except(layout, args.services, out, svwait=svwait())


def _container_run_arguments(parser: argparse.ArgumentParser, layout: Layout) -> None:
    parser.add_argument("--update-permissions", action="store_true",
                        help="only give the data and log volumes back to the service "
                        "accounts (the image's update-permissions), then exit")
    parser.epilog = (
        f"Creates {layout.config_file} from the template when the volume has none (it wins "
        "over GITLAB_OMNIBUS_CONFIG, which wins over the image's defaults), removes stale "
        "PID files, prepares sshd (GITLAB_DISABLE_OPENSSH, GITLAB_ALLOW_SHA1_RSA), repairs "
        "ownership, runs GITLAB_PRE_RECONFIGURE_SCRIPT, reconfigure (with the upgrade "
        "checks and a backup-etc when the volumes last ran an older version; "
        "GITLAB_SKIP_RECONFIGURE), the PostgreSQL upgrade check (GITLAB_SKIP_PG_UPGRADE), "
        "GITLAB_POST_RECONFIGURE_SCRIPT, follows the logs on stdout (GITLAB_SKIP_TAIL_LOGS), "
        "and on TERM or INT stops every service and runsvdir. Exit 2 when the config is "
        "refused, 1 when a script, reconfigure or runsvdir fails.")


def _container_run_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands import container, container_steps

    if args.update_permissions:
        container_steps.update_permissions(layout, out)
        return 0
    return container.container_run(layout, out, lambda: run_reconfigure(layout,
                                                                      layout.config_file),
                                   svwait=svwait())


def _pg_upgrade_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands import pg_upgrade

    return pg_upgrade.pg_upgrade(layout, args, out,
                                 lambda: run_reconfigure(layout, layout.config_file), svwait())


def _revert_pg_upgrade_command(args: argparse.Namespace, layout: Layout) -> int:
    from gitlab_ctl.commands import pg_upgrade

    return pg_upgrade.revert_pg_upgrade(layout, args, out, svwait())


def _completion_command(args: argparse.Namespace, layout: Layout) -> int:
    print(completion.completion_script(COMMANDS, layout), end="")
    return 0


def _help_command(args: argparse.Namespace, layout: Layout) -> int:
    build_parser(layout).print_help()
    return 0


COMMANDS: dict[str, tuple[str, Arguments, Handler]] = {
    "reconfigure": ("bring the installation in line with gitlab.rb: accounts, directories, "
                    "config files, services; restart only what changed",
                    _reconfigure_arguments, _reconfigure_command),
    "show-config": ("print the settings reconfigure would use (defaults, the config file, "
                    "what external_url implies), as JSON", _any_config, _config_command),
    "check-config": ("check the config file; exit 2 naming the bad line (an unknown key "
                     "too), 1 on warnings with --strict; with --version VER: exit 1 on "
                     "settings removed in VER or before", _check_config_arguments,
                     _config_command),
    "diff-config": ("show how gitlab.rb differs from this package's gitlab.rb.template",
                    _diff_config_arguments, _diff_config_command),
    "upgrade": ("after a package install or upgrade: stop what migrations do not need, "
                "reconfigure, start again", _upgrade_arguments, _upgrade_command),
    "upgrade-check": ("exit 1 if upgrading from OLD to NEW skips a required upgrade stop",
                      _upgrade_check_arguments, _upgrade_check_command),
    "backup-etc": ("archive /etc/gitlab (gitlab.rb, secrets, certificates) into "
                   "/etc/gitlab/config_backup", _backup_etc_arguments, _backup_etc_command),
    "cleanse": ("delete all of GitLab's data, configuration and logs (a copy of the "
                "configuration is kept)", _cleanse_arguments, _cleanse_command),
    "uninstall": ("stop every service and the runit supervisor (the package runs it on "
                  "removal); configuration, data and logs stay", _no_arguments,
                  _uninstall_command),
    **{verb: (text, _service_argument, _service_command) for verb, text in SERVICE_HELP.items()},
    "service-list": ("list services; enabled ones are marked with *", _no_arguments,
                     _service_command),
    "restart-except": ("restart every enabled service except the ones named",
                       _restart_except_arguments, _restart_except_command),
    "container-run": ("the container image's entrypoint (PID 1): reconfigure, supervise, "
                      "follow the logs, stop cleanly on TERM", _container_run_arguments,
                      _container_run_command),
    "renew-le-certs": ("renew the Let's Encrypt certificate when it is due (nginx checked, "
                       "then reloaded; the old one kept on failure)", _no_arguments,
                       _renew_le_certs_command),
    "pg-upgrade": ("upgrade the bundled PostgreSQL's data to another major (pg_upgrade), "
                   "keeping the old data for revert-pg-upgrade", pg_upgrade_arguments,
                   _pg_upgrade_command),
    "revert-pg-upgrade": ("go back to the PostgreSQL major and data from before pg-upgrade",
                          pg_upgrade_arguments, _revert_pg_upgrade_command),
    **registry_ops.COMMANDS,
    "help": ("show this help", _no_arguments, _help_command),
    **ops.COMMANDS,
    **database_ops.COMMANDS,
    "completion": (completion.HELP, completion.add_arguments, _completion_command),
    **unshipped.COMMANDS,
}


def build_parser(layout: Layout) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitlab-ctl", description="Configure and control an all-in-one GitLab "
        "installation. 'gitlab-ctl COMMAND --help' explains a command.",
        epilog=help_text({verb: entry[0] for verb, entry in COMMANDS.items()}).lstrip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True,
                                  help="one of the commands below, by category")
    for verb, (text, add_arguments, _handler) in COMMANDS.items():
        sub = verbs.add_parser(verb, description=text)
        add_arguments(sub, layout)
    return parser
