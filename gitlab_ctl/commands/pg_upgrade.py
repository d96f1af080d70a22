"""`gitlab-ctl pg-upgrade` and `revert-pg-upgrade`: move the bundled PostgreSQL's data to
another major with pg_upgrade, and back, in omnibus-gitlab's order of steps
(files/gitlab-ctl-commands/pg-upgrade.rb) and with its messages.

pg-upgrade: checks (a PostgreSQL this package runs, postgresql['version'] unset, not on the
target yet, the target's programs installed, no earlier failed attempt, disk space, the
embedded/bin links as the package makes them), the database started if it was not, a last
wait, then: stop the services that use the database, read the old cluster's encoding and
locale, stop PostgreSQL, link embedded/bin to the target major, initdb data.<new> like the old
cluster, pg_upgrade (copying, as omnibus-gitlab), data -> data.<old> and data.<new> -> data,
the revert version saved, PostgreSQL started on the new data with its configuration,
reconfigure, vacuumdb --analyze-in-stages, the services started again. Any failure after the
first change puts the old major's links and data back and starts it again.

Patroni, Geo and repmgr clusters are not part of this package: their options are refused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from gitlab_ctl.commands.pg_upgrade_options import CLUSTER_OPTIONS
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.engine import control, runit
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout
from gitlab_ctl.services.pg_cluster import (
    Cluster,
    CommandFailed,
    PGVersion,
    checksum_flag,
    default_version,
    link_programs,
    pg_upgrade_disabled,
    supported_versions,
    unlinked_programs,
    upgrade_artifact_exists,
)

Out = Callable[[str], None]
#: kept running while the database is upgraded (omnibus-gitlab's maintenance_mode): the
#: deploy page needs nginx, Puma, Redis and Workhorse; PostgreSQL is handled by the upgrade
OMIT_SERVICES = ("postgresql", "geo-postgresql", "patroni", "consul", "nginx", "puma", "redis",
                 "gitlab-workhorse")
REVERT_VERSION_FILE = "postgresql-version.old"  # under /var/opt/gitlab
WAIT_SECONDS = 30
REVERT_WAIT_SECONDS = 5
READY_TIMEOUT = 120.0
UPGRADE_DOCS = ("https://docs.gitlab.com/omnibus/settings/database.html"
                "#upgrade-packaged-postgresql-server")
class PgUpgradeExit(Exception):
    """The command ends here with `code` (omnibus-gitlab's Kernel.exit)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def progress(out: Out, message: str, ok: bool) -> bool:
    """omnibus-gitlab's progress_message line."""
    out(f"{message}: {'OK' if ok else 'NOT OK'}")
    return ok


def delay_for(out: Out, seconds: int) -> bool:
    """Wait, offering Ctrl-C; False when interrupted."""
    out("Please hit Ctrl-C now if you want to cancel the operation.")
    try:
        for _ in range(seconds):
            time.sleep(1)
    except KeyboardInterrupt:
        out("Interrupt received, cancelling operation.")
        return False
    return True


class Upgrade:
    """One run of pg-upgrade or revert-pg-upgrade on an installation."""

    def __init__(self, layout: Layout, args: argparse.Namespace, out: Out,
                 reconfigure: Callable[[], int], svwait: int = 30) -> None:
        if getattr(args, "cluster_option", None):
            component = CLUSTER_OPTIONS[args.cluster_option]
            raise GitlabCtlError(args.cluster_option, f"needs {component}, not part of this "
                                 "package", hint="without it, pg-upgrade upgrades this "
                                 "node's single PostgreSQL", exit_code=2)
        settings, _lines = read_config(layout.config_file)
        self.attributes = resolve_attributes(settings)
        self.settings = settings
        self.layout, self.args, self.out, self.svwait = layout, args, out, svwait
        self.reconfigure = reconfigure
        timeout = args.timeout / 1000 if args.timeout else None
        self.cluster = Cluster(layout, dict(self.attributes["postgresql"]), args.tmp_dir,
                               timeout)
        self.initial = self.cluster.running_version()
        self.stopped: list[str] = []  # services maintenance mode stopped

    # --- versions ----------------------------------------------------------------------

    def lookup_version(self, major: str | None, fallback: PGVersion | None) -> PGVersion:
        if major is None:
            if fallback is None:
                self.err("No PostgreSQL version is named by this package's version manifest")
                raise PgUpgradeExit(1)
            return fallback
        supported = supported_versions(self.layout)
        found = [version for version in supported if str(version.major) == major]
        if not found:
            self.out(f"The specified major version {major} is not supported. Choose from "
                     f"one of {', '.join(str(v.major) for v in supported)}.")
            raise PgUpgradeExit(1)
        return found[0]

    @property
    def revert_file(self) -> Path:
        return self.layout.data_dir / REVERT_VERSION_FILE

    def read_revert_version(self) -> PGVersion | None:
        try:
            return PGVersion.parse(self.revert_file.read_text())
        except OSError:
            return None

    # --- steps shared by both commands -------------------------------------------------

    def err(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def sv(self, action: str, service: str = "postgresql") -> bool:
        code = control.control(self.layout, action, service, self.out, svwait=self.svwait)
        return progress(self.out, f"Running {action} on {service}", code == 0)

    def create_links(self, version: PGVersion) -> bool:
        """embedded/bin/<program> -> embedded/postgresql/<major>/bin/<program>."""
        try:
            link_programs(self.layout, version.major)
            ok = True
        except OSError as error:
            self.err(f"Cannot link {self.cluster.bin_dir(version)}: {error}")
            ok = False
        return progress(self.out, "Symlink correct version of binaries", ok)

    def links_point_to(self, version: PGVersion) -> tuple[Path, Path] | None:
        """The first embedded/bin program not linked to `version`'s, or None."""
        unlinked = unlinked_programs(self.layout, version.major)
        return unlinked[0] if unlinked else None

    def maintenance_mode(self, enable: bool) -> None:
        """PgUpgradeExit every running service the upgrade does not manage or the deploy page needs;
        afterwards start exactly those again. (There is no deploy page here: GitLab's Rails
        is not part of this package.)"""
        if enable:
            self.stopped = [name for name in runit.enabled_services(self.layout)
                            if name not in OMIT_SERVICES and runit.is_running(self.layout,
                                                                                name)]
        for name in self.stopped:
            control.control(self.layout, "stop" if enable else "start", name, self.out,
                            svwait=self.svwait)
        progress(self.out, "Toggling services", True)
        if not enable:
            self.stopped = []

    def revert_data_dir(self, version: PGVersion) -> None:
        kept = self.cluster.major_dir(version.major)
        if not kept.is_dir():
            return
        shutil.rmtree(self.cluster.data_dir, ignore_errors=True)
        kept.rename(self.cluster.data_dir)

    def revert(self, version: PGVersion) -> None:
        self.out("== Reverting ==")
        self.sv("stop")
        self.revert_data_dir(version)
        self.create_links(version)
        self.sv("start")
        self.out("== Reverted ==")

    def wait_for_postgresql(self, timeout: float = READY_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.cluster.query("SELECT 1")
                return True
            except CommandFailed:
                time.sleep(0.5)
        return False

    # --- pg-upgrade ----------------------------------------------------------------------

    def die(self, message: str, target: PGVersion) -> PgUpgradeExit:
        """Put the old major back (links, data, running server, services) and end with 1."""
        assert self.initial is not None
        self.err("== Fatal error ==")
        self.err(message)
        self.revert(self.initial)
        half_made = self.cluster.major_dir(target.major)
        if half_made.is_dir() and half_made != self.cluster.data_dir:
            shutil.rmtree(half_made, ignore_errors=True)  # so that a retry may start afresh
        self.revert_file.unlink(missing_ok=True)
        self.err(f"== Reverted to {self.initial}. Please check output for what went wrong ==")
        self.maintenance_mode(False)
        return PgUpgradeExit(1)

    def preflight(self, target: PGVersion) -> None:
        """omnibus-gitlab's checks before anything changes, each ending the command."""
        pg_enabled = bool(self.attributes["postgresql"].get("enable"))
        if not progress(self.out, "Checking for an omnibus managed postgresql",
                        self.initial is not None and pg_enabled):
            self.err("No currently installed postgresql in the omnibus instance found.")
            raise PgUpgradeExit(0)
        assert self.initial is not None
        pinned = self.settings.get("postgresql", {}).get("version")
        if not progress(self.out, "Checking if postgresql['version'] is set", pinned is None):
            self.out(f"postgresql['version'] is set in {self.layout.config_file}. Not "
                     "checking for a PostgreSQL upgrade")
            raise PgUpgradeExit(0)
        if not progress(self.out, "Checking if we already upgraded",
                        self.initial.major < target.major):
            self.err(f"The latest version {self.initial} is already running, nothing to do")
            raise PgUpgradeExit(0)
        if not progress(self.out, "Checking for a newer version of PostgreSQL to install",
                        self.cluster.bin_dir(target).is_dir()):
            self.err("No new version of PostgreSQL installed, nothing to upgrade to")
            raise PgUpgradeExit(0)
        self.out(f"Upgrading PostgreSQL to {target}")
        previous = self.cluster.major_dir(self.initial.major)
        if not progress(self.out, "Checking for previous failed upgrade attempts",
                        not previous.exists()):
            self.err(f"Detected a potential failed upgrade.  Directory {previous} already "
                     "exists.")
            raise PgUpgradeExit(1)
        target_dir = self.cluster.major_dir(target.major)
        if upgrade_artifact_exists(target_dir):
            self.err(f"Cannot upgrade, {target_dir} is not empty. Move or delete this "
                     "directory to proceed with upgrade")
            raise PgUpgradeExit(0)
        self.check_disk_space()
        unlinked = self.links_point_to(self.initial)
        if not progress(self.out, "Checking if PostgreSQL bin files are symlinked to the "
                        "expected location", unlinked is None):
            assert unlinked is not None
            self.out(f"{unlinked[0]} is not linked to {unlinked[1]}, unable to proceed with "
                     "non-standard installation")
            raise PgUpgradeExit(1)

    def check_disk_space(self) -> None:
        if self.args.skip_disk_check:
            return
        data = self.cluster.data_dir
        needed = self.cluster.space_needed(data)
        where = self.args.tmp_dir or data
        if not progress(self.out, f"Checking if disk for directory {where} has enough free "
                        "space for PostgreSQL upgrade",
                        self.cluster.enough_free_space(where, needed)):
            self.out(f"Upgrade requires {needed}MB, but only "
                     f"{self.cluster.space_free(where)}MB is free.")
            raise PgUpgradeExit(1)

    def ensure_running(self) -> None:
        if runit.is_running(self.layout, "postgresql"):
            return
        self.out("Starting the database")
        if control.control(self.layout, "start", "postgresql", self.out,
                           svwait=self.svwait) != 0 or not self.wait_for_postgresql():
            self.out("Error starting the database. Please fix the error before continuing")
            raise PgUpgradeExit(1)

    def upgrade(self) -> int:
        target = self.lookup_version(self.args.target_version, default_version(self.layout))
        if self.args.skip_multi_node and pg_upgrade_disabled():
            for line in ("", "===", "Skipping the check for newer PostgreSQL version and "
                         "automatic upgrade.", "Reason: PostgreSQL automatic upgrade is "
                         "disabled via /etc/gitlab/disable-postgresql-upgrade.",
                         f"Please see {UPGRADE_DOCS}", "for details on how to manually "
                         "upgrade the PostgreSQL server.", "===", ""):
                self.out(line)
            return 0
        self.preflight(target)
        self.ensure_running()
        if self.args.wait:
            self.out(f"Waiting {WAIT_SECONDS} seconds to ensure tasks complete before "
                     "PostgreSQL upgrade.")
            self.out(f"See {UPGRADE_DOCS} for details")
            self.out("If you do not want to upgrade the PostgreSQL server at this time, "
                     "enter Ctrl-C and see the documentation for details")
            if not delay_for(self.out, WAIT_SECONDS):
                return 0
        self.general_upgrade(target)
        return 0

    def general_upgrade(self, target: PGVersion) -> None:
        assert self.initial is not None
        self.maintenance_mode(True)
        try:
            encoding, collate, ctype = self.cluster.locale_and_encoding()
            checksums = self.cluster.data_checksums_enabled(self.initial)
        except GitlabCtlError as error:
            self.out("There was an error fetching encoding information from the database")
            self.out("Please ensure the database is running and functional before running "
                     "pg-upgrade")
            self.show(error)
            raise self.die("Please check error logs", target) from error
        if not self.sv("stop"):
            raise self.die("PostgreSQL did not stop", target)
        if not self.create_links(target):
            raise self.die("Could not link the new version's programs", target)
        self.initialize_new_db(target, encoding, collate, ctype, checksums)
        self.run_pg_upgrade(target)
        self.cleanup_data_dir(target)
        self.start_new_cluster(target)
        self.out("Running reconfigure to re-generate any dependent service configuration")
        if not progress(self.out, "Running reconfigure", self.reconfigure() == 0):
            raise self.die("Something went wrong during final reconfiguration, please check "
                           "the output", target)
        self.out("Waiting for Database to be running.")
        if not self.wait_for_postgresql():
            raise self.die("PostgreSQL did not accept connections after the upgrade", target)
        self.out("Database upgrade is complete, running vacuumdb analyze")
        self.analyze_cluster(target)
        self.maintenance_mode(False)
        self.goodbye()

    def show(self, error: GitlabCtlError) -> None:
        self.out(str(error))
        if isinstance(error, CommandFailed):
            self.out(f"STDOUT: {error.stdout.strip()}")
            self.out(f"STDERR: {error.stderr.strip()}")

    def initialize_new_db(self, target: PGVersion, encoding: str, collate: str, ctype: str,
                          checksums: bool) -> None:
        new = self.cluster.major_dir(target.major)
        owner = (self.cluster.pg["username"], self.cluster.pg["group"])
        try:
            new.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.chown(new, *owner)
            ok = True
        except OSError as error:
            self.out(f"Error creating new directory: {new}: {error}")
            ok = False
        if not progress(self.out, "Creating temporary data directory", ok):
            raise self.die("Please check the output", target)
        flag = checksum_flag(checksums, target)
        argv = [str(self.cluster.bin_dir(target) / "initdb"), "-D", str(new), "--encoding",
                encoding, f"--lc-collate={collate}", f"--lc-ctype={ctype}",
                "--auth-local=peer", "--auth-host=md5", *([flag] if flag else [])]
        try:
            self.cluster.run(argv)
            ok = True
        except CommandFailed as error:
            self.out(f"Error initializing database for {target}")
            self.show(error)
            ok = False
        if not progress(self.out, "Initializing the new database", ok):
            raise self.die("Error initializing new database", target)

    def run_pg_upgrade(self, target: PGVersion) -> None:
        assert self.initial is not None
        new = self.cluster.major_dir(target.major)
        argv = [str(self.cluster.bin_dir(target) / "pg_upgrade"),
                "-b", str(self.cluster.bin_dir(self.initial)),
                f"--old-datadir={self.cluster.data_dir}", f"--new-datadir={new}",
                "-B", str(self.cluster.bin_dir(target))]
        try:
            self.cluster.run(argv)
            ok = True
        except CommandFailed as error:
            self.out(f"Error upgrading the data to version {target}")
            self.show(error)
            if "timed out" in error.message:
                self.out(f"To run with more time, remove the temporary directory {new},")
                self.out("then re-run your previous command, adding the --timeout option.")
            ok = False
        if not progress(self.out, "Upgrading the data", ok):
            raise self.die("Error running pg_upgrade, please check logs", target)

    def cleanup_data_dir(self, target: PGVersion) -> None:
        assert self.initial is not None
        data, old = self.cluster.data_dir, self.cluster.major_dir(self.initial.major)
        try:
            shutil.move(data, old)
            ok = True
        except OSError as error:
            self.out(str(error))
            ok = False
        if not progress(self.out, "Move the old data directory out of the way", ok):
            raise self.die("Error moving data for older version, ", target)
        try:
            shutil.move(self.cluster.major_dir(target.major), data)
            ok = True
        except OSError as error:
            self.out(str(error))
            ok = False
        if not progress(self.out, "Rename the new data directory", ok):
            raise self.die(f"Error moving {self.cluster.major_dir(target.major)} to {data}",
                           target)
        self.revert_file.write_text(str(self.initial))
        progress(self.out, "Saving the old version information", True)

    def start_new_cluster(self, target: PGVersion) -> None:
        """omnibus-gitlab's configure_postgresql: the new data gets this installation's
        configuration (the files reconfigure wrote for the old one; reconfigure checks them
        with the new major's postgres next) and PostgreSQL starts on it."""
        assert self.initial is not None
        self.out("Configuring PostgreSQL")
        old = self.cluster.major_dir(self.initial.major)
        for name in ("postgresql.conf", "runtime.conf", "pg_hba.conf", "pg_ident.conf"):
            if (old / name).exists():
                shutil.copy2(old / name, self.cluster.data_dir / name)
                shutil.chown(self.cluster.data_dir / name, self.cluster.pg["username"],
                             self.cluster.pg["group"])
        if not self.sv("restart") or not self.wait_for_postgresql():
            raise self.die("Error updating PostgreSQL configuration. Please check the "
                           f"output and {self.cluster.pg['log_directory']}/current", target)

    def analyze_cluster(self, target: PGVersion) -> None:
        pg = self.cluster.pg
        argv = [str(self.cluster.bin_dir(target) / "vacuumdb"), "-j2", "--all",
                "--analyze-in-stages", "-h", pg["dir"], "-p", str(pg["port"])]
        try:
            self.cluster.run(argv, env={"PGOPTIONS": "-c statement_timeout=0"})
        except CommandFailed as error:  # the upgrade stands; the statistics can wait
            self.out(f"Error running {' '.join(argv)}")
            self.show(error)
            self.out("Please check the output, and rerun the command as root or with sudo "
                     "if needed:")
            self.out(f"sudo su - {pg['username']} -c \"{' '.join(argv)}\"")

    def goodbye(self) -> None:
        assert self.initial is not None
        self.out("==== Upgrade has completed ====")
        self.out("Please verify everything is working and run the following if so")
        self.out(f"sudo rm -rf {self.cluster.major_dir(self.initial.major)}")
        self.out(f"sudo rm -f {self.revert_file}")
        self.out("")

    # --- revert-pg-upgrade -------------------------------------------------------------

    def revert_upgrade(self) -> int:
        version = self.lookup_version(self.args.target_version,
                                      self.read_revert_version() or
                                      default_version(self.layout))
        data_version = self.cluster.data_version()
        already = (not self.attributes["postgresql"].get("enable") or (
            data_version is not None and data_version.major == version.major)) and (
            self.initial is not None and self.initial.major == version.major)
        if progress(self.out, "Checking if we need to downgrade", already):
            self.out(f"Already running {version}")
            return 1
        self.maintenance_mode(True)
        kept = self.cluster.major_dir(version.major)
        if not kept.is_dir():
            self.out(f"{kept} does not exist, cannot revert data")
            self.out("Will proceed with reverting the running program version only, unless "
                     "you interrupt")
        self.out(f"Reverting database to {version} in {REVERT_WAIT_SECONDS} seconds")
        for line in ("=== WARNING ===", "This will revert the database to what it was before "
                     "you upgraded, including the data.", "Please hit Ctrl-C now if this "
                     "isn't what you were looking for", "=== WARNING ==="):
            self.out(line)
        try:
            time.sleep(REVERT_WAIT_SECONDS)
        except KeyboardInterrupt:
            self.out("Received interrupt, not doing anything")
            self.maintenance_mode(False)
            return 0
        self.revert(version)
        self.revert_file.unlink(missing_ok=True)
        self.maintenance_mode(False)
        return 0


def pg_upgrade(layout: Layout, args: argparse.Namespace, out: Out,
               reconfigure: Callable[[], int], svwait: int = 30) -> int:
    """The exit code of `gitlab-ctl pg-upgrade`."""
    try:
        return Upgrade(layout, args, out, reconfigure, svwait).upgrade()
    except PgUpgradeExit as stop:
        return stop.code


def revert_pg_upgrade(layout: Layout, args: argparse.Namespace, out: Out,
                      svwait: int = 30) -> int:
    """The exit code of `gitlab-ctl revert-pg-upgrade`."""
    try:
        return Upgrade(layout, args, out, lambda: 0, svwait).revert_upgrade()
    except PgUpgradeExit as stop:
        return stop.code
