"""The database lifecycle (gitlab_ctl/services/gitlab_rails_migrations.py): the migration's
environment, marker, log, notifications, skips and failures; the root password file; the
cache clear; and where plan() puts them.

GitLab's Rails cannot be built here, so `gitlab-rake` is a stand-in: a shell script this
test writes into the temporary installation's bin/, which records its arguments and the
GITLAB_* variables it was given and exits with the code the test chooses. Everything around
it (the marker, the log file, the password file, the order) is the real code on a real
directory tree.

Peer cases: ids name the omnibus-gitlab spec they come from (the words are ours, the facts
theirs): db_migrations = spec/chef/cookbooks/gitlab/recipes/database_migrations_spec.rb,
migration_helper = spec/chef/cookbooks/gitlab/libraries/rails_migration_helper_spec.rb,
rails_migration = spec/chef/cookbooks/gitlab/resources/rails_migration_spec.rb,
omnibus_helper = spec/chef/cookbooks/package/libraries/omnibus_helper_spec.rb,
cache_clear = spec/chef/cookbooks/gitlab/recipes/rails_cache_clear_spec.rb and
gitlab_rails = spec/chef/cookbooks/gitlab/recipes/gitlab-rails_spec.rb."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.commands import reconfigure
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import ResourceError, Run, converge
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import gitlab_rails_migrations as migrations
from tests.unit.gitlab_ctl.test_config_templates import make_context

GIVEN_PASSWORD = "foobar123"
STAND_IN = """#!/bin/sh
# stand-in for GitLab's gitlab-rake: records its call, then exits with the chosen code
echo "$*" >> {root}/rake-calls
env | grep '^GITLAB_' | sort >> {root}/rake-env
echo "rake says: $*"
exit $(cat {root}/rake-exit 2>/dev/null || echo 0)
"""


class Host:
    """A temporary installation: layout, gitlab-rails dirs, the stand-in rake."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = Layout(install_dir=root / "opt", etc_dir=root / "etc",
                             data_dir=root / "var", log_dir=root / "log")
        rake = self.layout.install_dir / "bin" / "gitlab-rake"
        rake.parent.mkdir(parents=True)
        rake.write_text(STAND_IN.format(root=root))
        rake.chmod(0o755)
        self.layout.etc_dir.mkdir()
        self.revision("abc1234")

    def revision(self, value: str) -> None:
        path = self.layout.embedded / "service" / "gitlab-rails" / "REVISION"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")

    def context(self, rails: dict | None = None, **sections: Any):
        rails = {"dir": str(self.root / "rails"), "log_directory": str(self.root / "rails-log"),
                 **(rails or {})}
        return make_context({"gitlab_rails": rails, **sections}, self.layout)

    def calls(self) -> list[str]:
        path = self.root / "rake-calls"
        return path.read_text().splitlines() if path.exists() else []

    def env(self) -> dict[str, str]:
        path = self.root / "rake-env"
        lines = path.read_text().splitlines() if path.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def fail_with(self, code: int) -> None:
        (self.root / "rake-exit").write_text(f"{code}\n")

    def converge(self, rails: dict | None = None, environ: dict | None = None,
                 **sections: Any) -> Run:
        context = self.context(rails, **sections)
        migrate = migrations.migration(context, environ or {})
        steps = [migrate.step(), *migrations.after_start(context)[1:]]
        run = Run()
        converge(steps, run)
        return run

    @property
    def password_file(self) -> Path:
        return self.layout.etc_dir / "initial_root_password"


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def given(host: Host, rails: dict | None = None, environ: dict | None = None,
          licenses: tuple[str, ...] = ()) -> dict[str, str]:
    for name in licenses:
        (host.layout.etc_dir / name).write_text("license\n")
    return dict(migrations.migration(host.context(rails), environ or {}).given.values)


# (spec: it, gitlab_rails settings, environment, license files in /etc/gitlab,
#  the variables the task gets besides a generated root password)
ENV_CASES = [
    ("db_migrations: root password set via gitlab.rb", {"initial_root_password": "foobar123"},
     {}, (), {"GITLAB_ROOT_PASSWORD": "foobar123"}),
    ("db_migrations: root password set via env variable", {},
     {"GITLAB_ROOT_PASSWORD": "asdf1234@"}, (), {"GITLAB_ROOT_PASSWORD": "asdf1234@"}),
    ("db_migrations: env variable wins over gitlab.rb", {"initial_root_password": "foobar123"},
     {"GITLAB_ROOT_PASSWORD": "asdf1234@"}, (), {"GITLAB_ROOT_PASSWORD": "asdf1234@"}),
    ("db_migrations: root password and runner token in the environment",
     {"initial_root_password": "123456789",
      "initial_shared_runners_registration_token": "987654321"}, {}, (),
     {"GITLAB_ROOT_PASSWORD": "123456789",
      "GITLAB_SHARED_RUNNERS_REGISTRATION_TOKEN": "987654321"}),
    ("db_migrations: detects license file from /etc/gitlab", {}, {},
     ("company.gitlab-license", "company2.gitlab-license"),
     {"GITLAB_LICENSE_FILE": "etc/company.gitlab-license"}),
    ("db_migrations: license file specified in gitlab.rb gets priority",
     {"initial_license_file": "/mnt/random.gitlab-license"}, {},
     ("company.gitlab-license", "company2.gitlab-license"),
     {"GITLAB_LICENSE_FILE": "/mnt/random.gitlab-license"}),
    ("db_migrations: does not fail if no license file found in /etc/gitlab", {}, {}, (), {}),
]


@pytest.mark.parametrize(("rails", "environ", "licenses", "expected"),
                         [case[1:] for case in ENV_CASES], ids=[c[0] for c in ENV_CASES])
def test_peer_the_task_gets_omnibus_variables(host, rails, environ, licenses, expected):
    values = given(host, rails, environ, licenses)
    if "GITLAB_LICENSE_FILE" in expected and not expected["GITLAB_LICENSE_FILE"].startswith("/"):
        expected = {**expected, "GITLAB_LICENSE_FILE": str(
            host.root / expected["GITLAB_LICENSE_FILE"])}
    assert values == expected


def test_peer_db_migrations_a_generated_root_password_when_none_is_set(host):
    """db_migrations: 'generates a random root password and runs DB migration with
    GITLAB_ROOT_PASSWORD set to it' (generate_base64(32): 44 characters)."""
    host.converge()
    password = host.env()["GITLAB_ROOT_PASSWORD"]
    assert len(password) == 44 and re.fullmatch(r"[A-Za-z0-9+/]{43}=", password)


def test_peer_db_migrations_runs_the_task_with_its_log_prefix(host):
    """db_migrations: 'runs the migrations with expected attributes' (rake_task
    gitlab:db:configure, logfile_prefix gitlab-rails-db-migrate)."""
    migrate = migrations.migration(host.context(), {})
    assert (migrate.task, migrations.LOGFILE_PREFIX) == ("gitlab:db:configure",
                                                        "gitlab-rails-db-migrate")
    host.converge()
    assert host.calls() == ["gitlab:db:configure"]
    logs = list((host.root / "rails-log").glob("gitlab-rails-db-migrate-*.log"))
    assert len(logs) == 1
    assert re.fullmatch(r"gitlab-rails-db-migrate-\d{4}(-\d\d){5}\.log", logs[0].name)
    assert logs[0].read_text() == "rake says: gitlab:db:configure\n"
    assert logs[0].stat().st_mode & 0o777 == 0o600  # umask 077


def test_peer_db_migrations_auto_migrate_off_skips_with_a_warning(host):
    """db_migrations: 'with auto_migrate off skips running the migrations'; here it also
    says so, since GitLab is left on an unmigrated database."""
    run = host.converge({"auto_migrate": False})
    assert host.calls() == []
    assert run.changed == []
    assert "database migrations were NOT run (gitlab_rails['auto_migrate'] is false)" in \
        run.warnings[0]


def test_the_skip_auto_migrations_file_skips_with_a_warning(host):
    (host.layout.etc_dir / "skip-auto-migrations").write_text("")
    run = host.converge()
    assert host.calls() == []
    assert "skip-auto-migrations exists" in run.warnings[0]
    assert "auto_migrate" in run.warnings[0]


def test_peer_db_migrations_notifies_the_cache_clear(host, monkeypatch):
    """db_migrations: 'should notify rails cache clear resource': the migration ran, so
    cache:clear follows it (Redis running)."""
    monkeypatch.setattr(migrations.runit, "is_running", lambda layout, name: True)
    run = host.converge(redis={"enable": True})
    assert host.calls() == ["gitlab:db:configure", "cache:clear"]
    assert "execute[clear the gitlab-rails cache]" in run.changed


def test_peer_cache_clear_off_with_rake_cache_clear_false(host, monkeypatch):
    """gitlab_rails: 'with rake_cache_clear set to false ... should not run cache clear'."""
    monkeypatch.setattr(migrations.runit, "is_running", lambda layout, name: True)
    host.converge({"rake_cache_clear": False}, redis={"enable": True})
    assert host.calls() == ["gitlab:db:configure"]


@pytest.mark.parametrize(("case", "value", "expected"), [
    ("cache_clear: default attribute value set to true", None, True),
    ("cache_clear: attribute value set to true", True, True),
    ("cache_clear: attribute value set to false", False, False)])
def test_peer_rake_cache_clear_setting(host, case, value, expected):
    rails = {} if value is None else {"rake_cache_clear": value}
    clear = migrations.after_start(host.context(rails, redis={"enable": True}))[1]
    assert clear.check_step.__self__.enabled is expected


def test_peer_cache_clear_command_and_nothing_without_a_change(host, monkeypatch):
    """cache_clear: 'check command used to clear cache' (gitlab-rake cache:clear, action
    :nothing): nothing runs unless gitlab.yml or the migration changed."""
    monkeypatch.setattr(migrations.runit, "is_running", lambda layout, name: True)
    clear = migrations.after_start(host.context(redis={"enable": True}))[1]
    assert clear.check(Run()) is None
    yml = f"template[{host.root / 'rails' / 'etc' / 'gitlab.yml'}]"
    assert clear.check(Run(changed=[yml])) == [f"run {host.layout.install_dir}/bin/gitlab-rake "
                                               "cache:clear"]


def test_gitlab_yml_changed_with_redis_down_warns_instead_of_clearing(host):
    clear = migrations.after_start(host.context(redis={"enable": True}))[1]
    run = Run(changed=["rails_migration[gitlab-rails]"])
    assert clear.check(run) is None
    assert "Rails' cache was not cleared" in run.warnings[0]


# rails_migration_helper_spec.rb: #migrated? and #db_migrate_status_file
@pytest.mark.parametrize(("case", "content", "expected"), [
    ("migration_helper: true if status file exists and content is 0", "0\n", True),
    ("migration_helper: false when status file does not exist", None, False),
    ("migration_helper: false when content is different from 0", "1\n", False)])
def test_peer_migrated(tmp_path, case, content, expected):
    marker = tmp_path / "db-migrate-x-y"
    if content is not None:
        marker.write_text(content)
    assert migrations.migrated(marker) is expected


def test_peer_migration_helper_status_file_path():
    """migration_helper: 'returns a path including status_file_prefix connection_digest and
    revision'."""
    context = make_context()
    digest = migrations.connection_digest(context.section("gitlab_rails"))
    assert re.fullmatch(r"[0-9a-f]{32}", digest)
    assert migrations.status_file(context) == Path(
        f"/var/opt/gitlab/gitlab-rails/upgrade-status/db-migrate-{digest}-"
        f"{migrations.revision(context)}")


@pytest.mark.parametrize("setting", [{"db_database": "other"}, {"db_host": "db.example.test"},
                                     {"db_port": 5433}, {"db_socket": "/zz/socket"},
                                     {"databases": {"ci": {"enable": False}}}])
def test_the_marker_changes_with_the_connection_and_the_enabled_databases(setting):
    assert migrations.status_file(make_context({"gitlab_rails": setting})) != \
        migrations.status_file(make_context())


def test_the_marker_does_not_change_with_unrelated_settings():
    assert migrations.status_file(make_context({"gitlab_rails": {"db_pool": 20}})) == \
        migrations.status_file(make_context())


def test_peer_rails_migration_runs_once_then_not_until_the_revision_changes(host):
    """rails_migration: 'executes the bash script migration' when not migrated, 'does not
    execute' when migrated; 'pipes exit code to db-migrate file'."""
    first = host.converge()
    assert first.changed == ["rails_migration[gitlab-rails]"]
    marker = migrations.status_file(host.context())
    assert marker.name.endswith("-abc1234") and marker.read_text() == "0\n"
    assert host.converge().changed == []
    host.revision("def5678")
    assert host.converge().changed == ["rails_migration[gitlab-rails]"]
    assert host.calls() == ["gitlab:db:configure"] * 2


def test_peer_rails_migration_restarts_dependent_services(host):
    """rails_migration: 'restarts dependent_services' (puma and sidekiq, when they run:
    deliver_notifications restarts only running services)."""
    run = host.converge()
    assert list(run.notifications) == [("restart", "puma"), ("restart", "sidekiq")]


def test_peer_rails_migration_passes_environment_variables_through(host, monkeypatch):
    """rails_migration: 'passes appropriate environment variables through'."""
    monkeypatch.setenv("GITLAB_PROBE_VARIABLE", "kept")
    host.converge({"initial_root_password": GIVEN_PASSWORD})
    assert host.env()["GITLAB_PROBE_VARIABLE"] == "kept"
    assert host.env()["GITLAB_ROOT_PASSWORD"] == GIVEN_PASSWORD


def test_a_failing_task_fails_naming_it_and_its_log_and_is_retried(host):
    host.fail_with(3)
    with pytest.raises(ResourceError) as error:
        host.converge()
    log = next((host.root / "rails-log").glob("gitlab-rails-db-migrate-*.log"))
    assert error.value.where == "rails_migration[gitlab-rails]"
    assert "gitlab-rake gitlab:db:configure` exited 3" in error.value.message
    assert str(log) in error.value.message and "rake says" in error.value.message
    assert "again" in error.value.hint
    assert migrations.status_file(host.context()).read_text() == "3\n"  # not "0"
    host.fail_with(0)
    time.sleep(1.05)  # a new log of its own
    assert host.converge().changed == ["rails_migration[gitlab-rails]"]
    assert host.calls() == ["gitlab:db:configure"] * 2


def test_no_password_reaches_the_output_or_the_plan(host):
    run = Run(dry_run=False)
    lines: list[str] = []
    run.report = lines.append
    context = host.context({"initial_root_password": GIVEN_PASSWORD,
                            "initial_shared_runners_registration_token": "runner-secret"})
    converge(migrations.after_start(context), run)
    shown = "\n".join([*lines, *run.notes, *run.warnings,
                       repr(migrations.after_start(context))])
    assert GIVEN_PASSWORD not in shown and "runner-secret" not in shown
    assert "GITLAB_ROOT_PASSWORD" in shown  # the names do show


# omnibus_helper_spec.rb: write_root_password, print_root_account_details
def test_peer_omnibus_helper_stores_root_password_in_the_file(host):
    """omnibus_helper: 'stores root password to /etc/gitlab/initial_root_password'."""
    host.converge({"initial_root_password": GIVEN_PASSWORD, "store_initial_root_password": True})
    text = host.password_file.read_text()
    assert "\nPassword: foobar123\n" in text
    assert text.startswith("# WARNING: This password is only valid if ALL of the following")
    assert text.endswith("# NOTE: This file is automatically deleted after 24 hours on the "
                         "next reconfigure run.\n")
    assert host.password_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("case", "rails", "environ", "stored"), [
    ("omnibus_helper: store_initial_root_password true writes it",
     {"initial_root_password": GIVEN_PASSWORD, "store_initial_root_password": True}, {}, True),
    ("omnibus_helper: default store, auto-generated password writes it", {}, {}, True),
    ("omnibus_helper: default store, password via gitlab.rb does not write it",
     {"initial_root_password": GIVEN_PASSWORD}, {}, False),
    ("omnibus_helper: default store, password via env variable does not write it", {},
     {"GITLAB_ROOT_PASSWORD": GIVEN_PASSWORD}, False),
    ("omnibus_helper: store false, display false: not written",
     {"initial_root_password": GIVEN_PASSWORD, "store_initial_root_password": False}, {},
     False)])
def test_peer_root_password_file(host, case, rails, environ, stored):
    run = host.converge(rails, environ)
    assert host.password_file.exists() is stored
    note = run.notes[0]
    assert note.startswith("Default admin account has been configured with following "
                           "details: Username: root")
    assert ("stored to " + str(host.password_file) in note) is stored
    if stored:  # the generated one is the one the task got
        assert f"Password: {host.env()['GITLAB_ROOT_PASSWORD']}\n" in \
            host.password_file.read_text()


def test_peer_omnibus_helper_not_first_reconfigure_no_note_no_file(host):
    """omnibus_helper: 'when not on first reconfigure after installation does not add a note
    or write password to file' (bootstrapped exists)."""
    host.layout.data_dir.mkdir()
    (host.layout.data_dir / "bootstrapped").write_text("")
    run = host.converge()
    assert run.notes == [] and not host.password_file.exists()
    assert host.calls() == ["gitlab:db:configure"]  # the migration itself still runs


@pytest.mark.parametrize("where", ["gitlab.rb", "environment"])
def test_peer_omnibus_helper_a_short_password_is_refused(host, where):
    """omnibus_helper: 'raises an exception when password is too short' (before anything
    runs)."""
    rails = {"initial_root_password": "foobar"} if where == "gitlab.rb" else {}
    environ = {"GITLAB_ROOT_PASSWORD": "foobar"} if where == "environment" else {}
    with pytest.raises(ConfigError, match="initial_root_password: Length is too short, "
                                          "minimum is 8 characters"):
        migrations.migration(host.context(rails), environ)
    assert host.calls() == []


@pytest.mark.parametrize(("case", "age_hours", "deleted"), [
    ("omnibus_helper: when file is older than 24 hours attempts to remove it", 24 * 4 + 2,
     True),
    ("omnibus_helper: when file is younger than 24 hours does not remove it", 2, False)])
def test_peer_cleanup_root_password_file(host, case, age_hours, deleted):
    host.password_file.write_text("Password: x\n")
    stamp = time.time() - age_hours * 3600
    os.utime(host.password_file, (stamp, stamp))
    run = Run()
    converge([migrations.root_password_cleanup(host.context())], run)
    assert host.password_file.exists() is not deleted
    note = f"Found old initial root password file at {host.password_file} and deleted it."
    assert (run.notes == [note]) is deleted


def test_peer_cleanup_root_password_file_absent_does_nothing(host):
    """omnibus_helper: 'when /etc/gitlab/initial_root_password does not exist does not
    attempt to remove the file'."""
    assert migrations.root_password_cleanup(host.context()).check(Run()) is None


def ids(resources: list) -> list[str]:
    return [resource.id for resource in resources]


def test_plan_migrates_after_the_database_and_before_puma(host):
    """omnibus-gitlab's default recipe order: pre-migration services (PostgreSQL, Redis,
    Gitaly) are enabled and PostgreSQL's objects made, then the migration, then Puma,
    Sidekiq and the rest. Here every service's program 'exists'."""
    context = host.context()
    for service in reconfigure.SERVICES.values():
        program = host.layout.binary(service.binary)
        program.parent.mkdir(parents=True, exist_ok=True)
        program.touch()
    order = ids(reconfigure.plan(context, Run()))
    migration = order.index("rails_migration[gitlab-rails]")
    assert order.index("runit_service[postgresql]") < order.index(
        "execute[create database gitlabhq_production]") < migration
    assert order.index("runit_service[redis]") < migration
    assert migration < order.index("execute[clear the gitlab-rails cache]") < \
        order.index("runit_service[puma]")
    assert migration < order.index("runit_service[sidekiq]")
    assert order[-2:] == [f"file[{host.password_file}] expire",
                          f"file[{host.layout.data_dir / 'bootstrapped'}]"]


def test_plan_without_rails_installed_has_no_migration(host):
    order = ids(reconfigure.plan(host.context(), Run()))
    assert "rails_migration[gitlab-rails]" not in order
    assert f"file[{host.password_file}] expire" in order


#: (key, distinctive value): each applied key of this module changes what the task gets or
#: what is written.
APPLIED_KEYS = [("auto_migrate", False), ("initial_root_password", "probe-password-77"),
                ("store_initial_root_password", False),
                ("initial_license_file", "/zz/probe.gitlab-license"),
                ("initial_shared_runners_registration_token", "probe-runner-token"),
                ("rake_cache_clear", False)]


def outcome(host: Host, rails: dict) -> tuple:
    """What the stand-in rake saw and what was written, generated passwords masked."""
    host.converge(rails, redis={"enable": True})
    env = {name: ("<generated>" if name == "GITLAB_ROOT_PASSWORD" and len(value) == 44
                  else value) for name, value in host.env().items()}
    return host.calls(), env, host.password_file.exists()


@pytest.mark.parametrize(("key", "value"), APPLIED_KEYS, ids=[k for k, _v in APPLIED_KEYS])
def test_every_applied_key_reaches_the_task_or_the_files(tmp_path, monkeypatch, key, value):
    monkeypatch.setattr(migrations.runit, "is_running", lambda layout, name: True)
    baseline = outcome(Host(tmp_path / "baseline"), {})
    assert outcome(Host(tmp_path / "probe"), {key: value}) != baseline


def test_peer_rails_migration_defines_log_file_based_on_logfile_prefix(host):
    """rails_migration: 'defines log file based on logfile_prefix' (under gitlab-rails'
    log directory, -%Y-%m-%d-%H-%M-%S.log)."""
    host.converge()
    (log,) = (host.root / "rails-log").iterdir()
    assert re.fullmatch(r"gitlab-rails-db-migrate-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.log", log.name)


def test_peer_rails_migration_triggers_provided_rake_task(host):
    """rails_migration: 'triggers provided rake_task' (bin/gitlab-rake gitlab:db:configure,
    its output teed into the log)."""
    lines: list[str] = []
    run = Run(report=lines.append)
    converge([migrations.migration(host.context(), {}).step()], run)
    assert f"    run {host.layout.install_dir}/bin/gitlab-rake gitlab:db:configure" in \
        "\n".join(lines)
    assert host.calls() == ["gitlab:db:configure"]


def test_peer_rails_migration_does_not_run_when_migrated(host):
    """rails_migration: 'when database has been migrated already does not execute'."""
    marker = migrations.status_file(host.context())
    marker.parent.mkdir(parents=True)
    marker.write_text("0\n")
    assert host.converge().changed == [] and host.calls() == []


def test_peer_gitlab_rails_gitlab_yml_notifies_the_cache_clear(host, monkeypatch):
    """gitlab_rails: 'rails cache management, with default values should notify rails cache
    clear resource' (a changed gitlab.yml, no migration)."""
    monkeypatch.setattr(migrations.runit, "is_running", lambda layout, name: True)
    context = host.context(redis={"enable": True})
    gitlab_yml = f"template[{host.root / 'rails' / 'etc' / 'gitlab.yml'}]"
    run = Run(changed=[gitlab_yml])
    converge(migrations.after_start(context)[1:], run)
    assert host.calls() == ["cache:clear"]
