"""gitlab-ctl's command line: the command registry, usage errors, root, exit codes and what
each maintenance command prints, on temporary directories (GITLAB_*_DIR)."""

from __future__ import annotations

import json
import os
import re
import tarfile
import time
from pathlib import Path

import pytest

from gitlab_ctl.cli import COMMANDS, main
from gitlab_ctl.commands import maintenance, table
from gitlab_ctl.paths import Layout


@pytest.fixture
def layout(tmp_layout) -> Layout:
    layout = tmp_layout
    layout.etc_dir.mkdir(parents=True)
    layout.config_file.write_text("external_url 'http://gitlab.example.test'\n")
    layout.secrets_file.write_text("{}\n")
    return layout


@pytest.fixture
def root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)


@pytest.fixture
def user(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for verb in COMMANDS:
        assert re.search(rf"^  {re.escape(verb)}\b", text, re.MULTILINE), verb
    for verb in ("diff-config", "backup-etc", "cleanse", "upgrade", "upgrade-check",
                 "service-list", "restart-except", "reconfigure", "status", "tail"):
        assert verb in COMMANDS


def test_help_command_prints_the_same_help(capsys, user):
    assert main(["help"]) == 0
    assert "restart-except" in capsys.readouterr().out


@pytest.mark.parametrize("verb", ["backup-etc", "cleanse", "upgrade", "diff-config"])
def test_each_command_explains_itself(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    assert COMMANDS[verb][0].split(":")[0] in " ".join(capsys.readouterr().out.split())


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["frobnicate"])
    assert done.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["cleanse", "no"], ["upgrade-check", "19.2"], ["restart-except"],
                 ["backup-etc", "--backup-path"]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2, argv
    capsys.readouterr()


@pytest.mark.parametrize("argv", [["backup-etc"], ["cleanse", "yes"], ["upgrade"],
                                  ["restart-except", "redis"], ["service-list"]])
def test_changing_commands_need_root(argv, layout, user, capsys):
    assert main(argv) == 1
    assert capsys.readouterr().err == "This command must be executed as root user\n"
    assert layout.config_file.exists()


def test_diff_config_needs_no_root_and_names_a_missing_template(layout, user, capsys):
    assert main(["diff-config"]) == 1
    error = capsys.readouterr().err
    template = layout.install_dir / "etc" / "gitlab.rb.template"
    assert f"gitlab-ctl: error: {template}: cannot be read" in error
    assert "  hint: is the package installed" in error
    template.parent.mkdir(parents=True)
    template.write_text("external_url 'GENERATED_EXTERNAL_URL'\n")
    assert main(["diff-config"]) == 0
    out = capsys.readouterr().out
    assert f"+++ {template}" in out and "+external_url 'GENERATED_EXTERNAL_URL'" in out


def test_upgrade_check_exit_codes_and_message(capsys, user, monkeypatch):
    monkeypatch.delenv("MIN_VERSION", raising=False)
    assert main(["upgrade-check", "19.2.1", "19.5.0"]) == 0
    assert main(["upgrade-check", "19.1.3", "19.5.0"]) == 1
    error = capsys.readouterr().err
    assert "It seems you are upgrading from 19.1.3 to 19.5.0." in error
    assert "It is required to upgrade to the latest 19.2.x version first" in error
    monkeypatch.setenv("MIN_VERSION", "19.0")
    assert main(["upgrade-check", "19.1.3", "19.5.0"]) == 0
    assert main(["upgrade-check", "nineteen", "19.5.0"]) == 1
    assert "OLD: 'nineteen' is not a version" in capsys.readouterr().err


def test_backup_etc_prints_the_archive_it_wrote(layout, root, capsys, tmp_path):
    assert main(["backup-etc", "--no-delete-old-backups", "-p", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    archive = re.search(r"^Configuration backup archive complete: (\S+)$", out, re.MULTILINE)
    assert archive and archive.group(1).startswith(str(tmp_path / "b" / "gitlab_config_"))
    with tarfile.open(archive.group(1)) as tar:
        assert str(layout.secrets_file).lstrip("/") in tar.getnames()


def test_cleanse_yes_reports_where_the_configuration_went(layout, root, capsys, tmp_path,
                                                          monkeypatch):
    monkeypatch.setattr(maintenance, "CLEANSE_BACKUP_ROOT", tmp_path / "root")
    (layout.data_dir / "redis").mkdir(parents=True)
    assert main(["cleanse", "yes"]) == 0
    out = capsys.readouterr().out
    copy = re.search(r"^Your config files have been backed up to (\S+)\.$", out, re.MULTILINE)
    assert copy and Path(copy.group(1)).parent == tmp_path / "root"
    assert (Path(copy.group(1)) / "gitlab.rb").exists()
    assert not layout.etc_dir.exists() and not layout.data_dir.exists()


def test_cleanse_ctrl_c_during_the_wait_deletes_nothing(layout, root, capsys, tmp_path,
                                                        monkeypatch):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(maintenance, "CLEANSE_BACKUP_ROOT", tmp_path / "root")
    monkeypatch.setattr(time, "sleep", interrupted)
    assert main(["cleanse"]) == 0
    assert "Cancelled: nothing was deleted." in capsys.readouterr().out
    assert layout.config_file.exists()


def test_upgrade_on_a_first_install_runs_the_shared_reconfigure(layout, root, capsys,
                                                                monkeypatch):
    calls = []
    monkeypatch.setattr(table, "run_reconfigure", lambda *args: calls.append(args) or 0)
    monkeypatch.setenv("EXTERNAL_URL", "http://gitlab.example.test")
    assert main(["upgrade"]) == 0
    assert calls == [(Layout.from_environ(), layout.config_file)]
    assert "Thank you for installing GitLab!" in capsys.readouterr().out
    monkeypatch.setattr(table, "run_reconfigure", lambda *args: 1)
    assert main(["upgrade"]) == 1
    assert "gitlab-ctl: error: gitlab-ctl upgrade: the first reconfigure failed" in \
        capsys.readouterr().err


def test_upgrade_of_an_unconfigured_host_does_nothing(layout, root, capsys, monkeypatch):
    monkeypatch.delenv("EXTERNAL_URL", raising=False)
    assert main(["upgrade"]) == 0
    assert "It looks like GitLab has not been configured yet" in capsys.readouterr().out


def test_restart_except_an_unknown_service(layout, root, capsys):
    (layout.sv_dir / "redis").mkdir(parents=True)
    assert main(["restart-except", "nosuch"]) == 2
    assert "nosuch is not a service of this installation; services: redis" in \
        capsys.readouterr().err


def test_reconfigure_failure_output_names_the_resource(layout, root, capsys, monkeypatch):
    from gitlab_ctl.engine.resources import ResourceError

    def failing(*args, **kwargs):
        raise ResourceError("file[/etc/gitlab/x]", "disk full", hint="free some space")

    monkeypatch.setattr(table, "reconfigure", failing)
    assert main(["reconfigure"]) == 1
    error = capsys.readouterr().err
    assert "There was an error running gitlab-ctl reconfigure:" in error
    assert "file[/etc/gitlab/x]: disk full" in error and "  hint: free some space" in error


def _left_by_a_dead_runsv(layout: Layout, name: str) -> None:
    """An enabled service as a killed container leaves it: supervise/ok (runsv's FIFO) and
    a status record saying `run` (pid 55, 17 s ago), with no runsv reading the FIFO."""
    from tests.unit.gitlab_ctl.test_runit_status import write_status

    (layout.sv_dir / name).mkdir(parents=True)
    layout.service_dir.mkdir(parents=True, exist_ok=True)
    (layout.service_dir / name).symlink_to(layout.sv_dir / name)
    write_status(layout.sv_dir / name, 55, 1, int(time.time()) - 17, fifo=True)
    write_status(layout.sv_dir / name / "log", 54, 1, int(time.time()) - 17, fifo=True)


def test_status_after_runsv_died_fails_and_says_runsvdir_is_not_running(layout, root, capsys):
    _left_by_a_dead_runsv(layout, "redis")
    assert main(["status"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "fail: redis: runsv not running\n"
    assert "gitlab-ctl: error: runsvdir is not running, so nothing supervises redis" in \
        captured.err
    assert "hint: " in captured.err and "gitlab-ctl reconfigure" in captured.err


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "hup"])
def test_a_service_command_without_runsvdir_says_how_to_start_it(layout, root, capsys, verb):
    _left_by_a_dead_runsv(layout, "redis")
    assert main([verb, "redis"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "fail: redis: runsv not running\n"
    assert "runsvdir is not running" in captured.err
    assert "gitlab-ctl reconfigure" in captured.err


def test_show_config_prints_modes_in_octal(layout, user, capsys):
    layout.config_file.write_text("external_url 'http://gitlab.example.test'\n"
                                  "gitlab_rails['backup_archive_permissions'] = 0640\n")
    assert main(["show-config", "--config", str(layout.config_file)]) == 0
    shown = capsys.readouterr().out
    assert '"backup_archive_permissions": "0640"' in shown  # not 416
    attributes = json.loads(shown)
    assert attributes["gitlab_workhorse"]["listen_umask"] == "0000"  # the default, 0
    assert attributes["redis"]["unixsocketperm"] == "777"  # text, left as written
    assert attributes["nginx"]["worker_connections"] == 10240  # not a mode
