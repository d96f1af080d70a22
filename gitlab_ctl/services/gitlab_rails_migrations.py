"""GitLab's database lifecycle, as omnibus-gitlab's database_migrations recipe runs it:
`gitlab-rake gitlab:db:configure` (creates and seeds an empty database, migrates an existing
one) once PostgreSQL, Redis and Gitaly are up and before Puma and Sidekiq start, its output
in gitlab-rails-db-migrate-<time>.log, and its exit status in an upgrade-status marker named
after the database connection and the Rails revision, so a run with neither changed runs no
rake task. A successful migration restarts the running Puma and Sidekiq and clears Rails'
cache, which a changed gitlab.yml also does.

The seed takes the root account's password from GITLAB_ROOT_PASSWORD (the environment, else
gitlab_rails['initial_root_password'], else a generated one), which is written to
/etc/gitlab/initial_root_password on the first run when store_initial_root_password says so
(by default: only a generated one) and removed by the first reconfigure 24 hours later.
Passwords reach the rake task through its environment only: never a command line or output.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import json
import os
import pwd
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine import runit
from gitlab_ctl.engine.resources import File, ResourceError, Run, Step, run_command
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import common, gitlab_rails_database
from gitlab_ctl.services.base import Context

RAKE_TASK = "gitlab:db:configure"
LOGFILE_PREFIX = "gitlab-rails-db-migrate"
STATUS_FILE_PREFIX = "db-migrate"
#: What the marker's digest is made of (omnibus-gitlab's connection_digest).
CONNECTION_KEYS = ("db_adapter", "db_database", "db_host", "db_port", "db_socket")
#: Services up before the migration (omnibus-gitlab's "pre-migration services"): the rest
#: (Puma, Sidekiq, Workhorse, nginx...) start after it, on the migrated schema.
PRE_MIGRATION = ("logrotate", "redis", "gitaly", "postgresql", "praefect", "gitlab-kas")
#: Restarted after a migration when they run (omnibus-gitlab's dependent_services).
DEPENDENT_SERVICES = (("restart", "puma"), ("restart", "sidekiq"))
SKIP_FILE = "skip-auto-migrations"
ROOT_PASSWORD_FILE = "initial_root_password"
ROOT_PASSWORD_MAX_AGE = 24 * 60 * 60
MIN_PASSWORD_LENGTH = 8
LICENSE_GLOB = "*.gitlab-license"
ROOT_PASSWORD_TEXT = """\
# WARNING: This password is only valid if ALL of the following are true:
#          • You set it manually via the GITLAB_ROOT_PASSWORD environment variable
#            OR the gitlab_rails['initial_root_password'] setting in /etc/gitlab/gitlab.rb
#          • You set it BEFORE the initial database setup (typically during first installation)
#          • You have NOT changed the password since then (via web UI or command line)
#
#          If this password doesn't work, reset the admin password using:
#          https://docs.gitlab.com/security/reset_user_password/#reset-the-root-password

Password: {password}

# NOTE: This file is automatically deleted after 24 hours on the next reconfigure run.
"""


@dataclass(frozen=True)
class Hidden:
    """Secret values: their names and a digest show (so a plan's text changes with them),
    never the values."""

    values: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        digest = hashlib.sha256(json.dumps(dict(self.values), sort_keys=True).encode())
        return f"Hidden({sorted(self.values)}, sha256={digest.hexdigest()[:12]})"


def rake(context: Context) -> Path:
    return context.layout.install_dir / "bin" / "gitlab-rake"


def revision(context: Context) -> str:
    """The Rails revision the package ships ('' when unknown, as omnibus-gitlab's nil)."""
    try:
        return (common.rails_home(context) / "REVISION").read_text().strip()
    except OSError:
        return ""


def connection_digest(rails: Mapping[str, Any]) -> str:
    """MD5 of the connection settings and the enabled databases' names: a new database or a
    different server migrates again. (omnibus-gitlab hashes Ruby's Marshal of the same
    values; this hashes their JSON, so the first run after a switch migrates once more.)"""
    values: list[Any] = [rails.get(key) for key in CONNECTION_KEYS]
    values.append(list(gitlab_rails_database.databases(rails)))
    return hashlib.md5(json.dumps(values).encode()).hexdigest()


def status_file(context: Context) -> Path:
    rails = context.section("gitlab_rails")
    return (common.rails_dir(context) / "upgrade-status"
            / f"{STATUS_FILE_PREFIX}-{connection_digest(rails)}-{revision(context)}")


def migrated(marker: Path) -> bool:
    """omnibus-gitlab's migrated?: the marker exists and holds exit status 0."""
    try:
        return marker.read_text().strip() == "0"
    except OSError:
        return False


def root_password(context: Context, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The given root password (GITLAB_ROOT_PASSWORD wins over gitlab.rb) and where it
    comes from; (None, '') when none is given and one is generated at the migration."""
    if environ.get("GITLAB_ROOT_PASSWORD"):
        given, where = environ["GITLAB_ROOT_PASSWORD"], "GITLAB_ROOT_PASSWORD"
    else:
        value = context.section("gitlab_rails").get("initial_root_password")
        if value is None:
            return None, ""
        given, where = str(value), "gitlab_rails['initial_root_password']"
    if len(given) < MIN_PASSWORD_LENGTH:  # gitlab.rb's is refused by the schema already
        raise ConfigError(where, "initial_root_password: Length is too short, minimum is "
                          f"{MIN_PASSWORD_LENGTH} characters",
                          hint="give a password of at least 8 characters, or unset it to "
                          "have one generated")
    return given, where


def license_file(context: Context) -> str | None:
    """gitlab_rails['initial_license_file'], else the first /etc/gitlab/*.gitlab-license."""
    configured = context.section("gitlab_rails").get("initial_license_file")
    if configured:
        return str(configured)
    found = sorted(context.layout.etc_dir.glob(LICENSE_GLOB))
    return str(found[0]) if found else None


@dataclass(frozen=True)
class RailsMigration:
    """`gitlab-rake TASK` unless the marker says this revision and connection are migrated.
    `given` holds the variables gitlab.rb and the environment give; a root password that
    neither gives is generated when the task runs (so a plan is the same from run to run)."""

    rake: Path
    marker: Path
    log_directory: Path
    owner: tuple[str, str]
    given: Hidden
    store_password: bool | None
    password_file: Path
    bootstrap: bool  # no /var/opt/gitlab/bootstrapped yet: the run that seeds the database
    skipped_by: str = ""  # why it must not run (auto_migrate false, the skip file)
    task: str = RAKE_TASK

    @property
    def id(self) -> str:
        return "rails_migration[gitlab-rails]"

    def check(self, run: Run) -> list[str] | None:
        if migrated(self.marker):
            return None
        if self.skipped_by:
            run.warnings.append(
                f"gitlab-rails: database migrations were NOT run ({self.skipped_by}); GitLab "
                f"may not work until you run `{self.rake} {self.task}` (then reconfigure)")
            return None
        return [f"run {self.rake} {self.task} (its output to {self.log_directory}/"
                f"{LOGFILE_PREFIX}-<time>.log)"]

    def environment(self) -> tuple[dict[str, str], bool]:
        """The task's variables, and whether the root password was generated."""
        values = dict(self.given.values)
        generated = "GITLAB_ROOT_PASSWORD" not in values
        if generated:  # omnibus-gitlab's SecretsHelper.generate_base64(32)
            values = {"GITLAB_ROOT_PASSWORD": base64.b64encode(os.urandom(32)).decode(),
                      **values}
        return values, generated

    def apply(self, run: Run) -> None:
        values, generated = self.environment()
        store = generated if self.store_password is None else self.store_password
        if self.bootstrap and store:
            File(self.password_file, ROOT_PASSWORD_TEXT.format(
                password=values["GITLAB_ROOT_PASSWORD"]), mode=0o600, sensitive=True).apply()
        code, log = self.run_task(values)
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(f"{code}\n")  # as omnibus-gitlab: only "0" counts as done
        if code != 0:
            raise ResourceError(self.id, f"`{self.rake} {self.task}` exited {code}; its output "
                                f"is in {log}:\n    " + "\n    ".join(tail(log)),
                                hint="fix what the log says, then run `gitlab-ctl "
                                "reconfigure` again: it runs the task again")
        if self.bootstrap:
            run.notes.append(account_note(store, generated, self.password_file))

    def run_task(self, values: Mapping[str, str]) -> tuple[int, Path]:
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
        log = self.log_directory / f"{LOGFILE_PREFIX}-{stamp}.log"
        self.log_directory.mkdir(parents=True, exist_ok=True)
        handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # umask 077
        with os.fdopen(handle, "w") as output:
            try:
                code = subprocess.run([str(self.rake), self.task], stdout=output,
                                      stderr=subprocess.STDOUT, cwd="/",
                                      env={**os.environ, **values}).returncode
            except OSError as error:
                raise ResourceError(self.id, f"cannot run {self.rake}: {error.strerror}",
                                    hint="is GitLab's Rails part of this package? "
                                    "reinstall it") from error
        with contextlib.suppress(KeyError, OSError):  # as omnibus-gitlab: git owns it
            os.chown(log, pwd.getpwnam(self.owner[0]).pw_uid,
                     grp.getgrnam(self.owner[1]).gr_gid)
        return code, log

    def step(self) -> Step:
        return Step(self.id, self.check, self.apply, notifies=DEPENDENT_SERVICES)


def tail(log: Path, lines: int = 10) -> list[str]:
    try:
        return log.read_text(errors="replace").splitlines()[-lines:] or ["(no output)"]
    except OSError:
        return ["(no output)"]


def account_note(store: bool, generated: bool, password_file: Path) -> str:
    """omnibus-gitlab's "Default admin account" note, without the password itself."""
    if store:
        where = (f"stored to {password_file}. This file will be cleaned up in first "
                 "reconfigure run after 24 hours.")
    elif generated:
        where = ("generated, and neither shown nor stored (store_initial_root_password is "
                 "false): reset it with `gitlab-rake \"gitlab:password:reset[root]\"`")
    else:
        where = "the one you gave (GITLAB_ROOT_PASSWORD or initial_root_password)"
    return ("Default admin account has been configured with following details: Username: "
            f"root, Password: {where} Change it after signing in: these credentials may be "
            "in your logs.")


@dataclass(frozen=True)
class CacheClear:
    """`gitlab-rake cache:clear` when gitlab.yml changed or the database was migrated in
    this run (omnibus-gitlab's "clear the gitlab-rails cache", notified by both), unless
    rake_cache_clear is false or Redis is not local: an external Redis is left alone, and
    a local one that is down is said, not skipped quietly."""

    rake: Path
    after: tuple[str, ...]  # the ids of the resources whose change calls for it
    enabled: bool
    local_redis: bool
    layout: Layout

    @property
    def id(self) -> str:
        return "execute[clear the gitlab-rails cache]"

    def check(self, run: Run) -> list[str] | None:
        if not (self.enabled and self.local_redis and set(self.after) & set(run.changed)):
            return None
        if not runit.is_running(self.layout, "redis"):
            run.warnings.append("gitlab-rails: Rails' cache was not cleared after its "
                                "configuration changed, because Redis is not running: run "
                                f"`{self.rake} cache:clear` once it runs")
            return None
        return [f"run {self.rake} cache:clear"]

    def apply(self, run: Run) -> None:
        run_command(self.id, [str(self.rake), "cache:clear"], cwd=Path("/"))

    def step(self) -> Step:
        return Step(self.id, self.check, self.apply)


def skip_reason(context: Context) -> str:
    """Why the migration must not run this time ('' when it may)."""
    if context.section("gitlab_rails").get("auto_migrate") is False:
        return "gitlab_rails['auto_migrate'] is false"
    skip_file = context.layout.etc_dir / SKIP_FILE
    if skip_file.exists():
        return (f"{skip_file} exists; omnibus-gitlab no longer reads it, delete it and use "
                "gitlab_rails['auto_migrate'] = false to keep migrations off")
    return ""


def migration(context: Context, environ: Mapping[str, str] | None = None) -> RailsMigration:
    environ = os.environ if environ is None else environ
    rails = context.section("gitlab_rails")
    password, _where = root_password(context, environ)
    given = {"GITLAB_ROOT_PASSWORD": password, "GITLAB_LICENSE_FILE": license_file(context),
             "GITLAB_SHARED_RUNNERS_REGISTRATION_TOKEN":
                 rails.get("initial_shared_runners_registration_token")}
    store = rails.get("store_initial_root_password")
    return RailsMigration(
        rake(context), status_file(context), Path(rails["log_directory"]),
        common.git_user(context),
        Hidden({name: str(value) for name, value in given.items() if value}),
        None if store is None else bool(store),
        context.layout.etc_dir / ROOT_PASSWORD_FILE,
        not (context.layout.data_dir / "bootstrapped").exists(), skip_reason(context))


def after_start(context: Context) -> list:
    """What runs once the pre-migration services are up: the migration and the cache
    clear. Nothing behind PgBouncer (its database node migrates, as omnibus-gitlab has it)."""
    if context.section("pgbouncer").get("enable"):
        return []
    migrate = migration(context)
    gitlab_yml = common.rails_etc(context) / "gitlab.yml"
    clear = CacheClear(rake(context), (f"template[{gitlab_yml}]", migrate.id),
                       context.section("gitlab_rails").get("rake_cache_clear") is not False,
                       bool(context.section("redis").get("enable")),
                       context.layout)
    return [migrate.step(), clear.step()]


def root_password_cleanup(context: Context, now: float | None = None) -> Step:
    """Delete /etc/gitlab/initial_root_password once it is 24 hours old, on every run (as
    omnibus-gitlab's cleanup_root_password_file)."""
    path = context.layout.etc_dir / ROOT_PASSWORD_FILE

    def expired() -> bool:
        try:
            return path.stat().st_mtime <= (now or time.time()) - ROOT_PASSWORD_MAX_AGE
        except FileNotFoundError:
            return False

    def check(run: Run) -> list[str] | None:
        return [f"delete {path} (older than 24 hours)"] if expired() else None

    def apply(run: Run) -> None:
        path.unlink(missing_ok=True)
        run.notes.append(f"Found old initial root password file at {path} and deleted it.")

    return Step(f"file[{path}] expire", check, apply)
