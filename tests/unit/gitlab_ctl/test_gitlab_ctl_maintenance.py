"""gitlab-ctl's maintenance commands on temporary directories: diff-config, backup-etc,
cleanse, upgrade, upgrade-check and restart-except. Services are runit records written by
hand, and `sv` is a stand-in script that logs what it was asked."""

from __future__ import annotations

import os
import stat
import struct
import tarfile
import time
from pathlib import Path

import pytest

from gitlab_ctl.commands import maintenance, upgrade
from gitlab_ctl.commands.backup_etc import archive_name, backup_etc
from gitlab_ctl.commands.maintenance import MaintenanceError
from gitlab_ctl.engine import control
from gitlab_ctl.engine.runit import TAI_OFFSET
from gitlab_ctl.paths import Layout

NOW = 1_700_000_000.0


@pytest.fixture
def layout(tmp_layout) -> Layout:
    return tmp_layout


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def etc(layout) -> Path:
    """/etc/gitlab as an installation has it."""
    write(layout.config_file, "external_url 'http://gitlab.example.test'\n", 0o600)
    write(layout.secrets_file, '{"gitlab_rails": {"secret_key_base": "s3cret"}}\n', 0o600)
    write(layout.etc_dir / "ssl" / "gitlab.example.test.crt", "CERT\n")
    write(layout.etc_dir / "trusted-certs" / "corp-ca.crt", "CA\n")
    return layout.etc_dir


def fake_sv(layout: Layout) -> Path:
    """embedded/bin/sv that appends its arguments to a log and succeeds."""
    log = layout.install_dir / "sv.log"
    write(layout.embedded / "bin" / "sv", f'#!/bin/sh\necho "$@" >> {log}\necho "ok: $*"\n',
          0o755)
    return log


def supervised(layout: Layout, name: str, running: bool = True) -> None:
    """An enabled service whose runsv reports `run` (or `down`), as runsv's status file."""
    service = layout.sv_dir / name
    for directory in (service, service / "log"):
        (directory / "supervise").mkdir(parents=True)
        (directory / "supervise" / "ok").touch()
        record = struct.pack(">QL", TAI_OFFSET + int(time.time()) - 5, 0)
        record += struct.pack("<L", 4242 if running else 0)
        record += bytes([0, ord("u"), 0, 1 if running else 0])
        (directory / "supervise" / "status").write_bytes(record)
    layout.service_dir.mkdir(parents=True, exist_ok=True)
    (layout.service_dir / name).symlink_to(service)


def sv_calls(log: Path) -> list[str]:
    return [" ".join(line.split()[2:]) if line.startswith("-w") else line
            for line in log.read_text().splitlines()] if log.exists() else []


# --- diff-config -------------------------------------------------------------------------


def test_diff_config_is_a_unified_diff_from_gitlab_rb_to_the_template(layout, etc):
    template = write(maintenance.template_path(layout),
                     "external_url 'GENERATED_EXTERNAL_URL'\n# redis['maxclients'] = 10000\n")
    lines = maintenance.diff_config(layout, layout.config_file)
    assert lines[:2] == [f"--- {layout.config_file}", f"+++ {template}"]
    assert "-external_url 'http://gitlab.example.test'" in lines
    assert "+external_url 'GENERATED_EXTERNAL_URL'" in lines
    assert "+# redis['maxclients'] = 10000" in lines
    template.write_text(layout.config_file.read_text())
    assert maintenance.diff_config(layout, layout.config_file) == []


def test_diff_config_marks_a_missing_final_newline(layout, etc):
    write(maintenance.template_path(layout), "external_url 'x'")
    lines = maintenance.diff_config(layout, layout.config_file)
    assert lines[-2:] == ["+external_url 'x'", "\\ No newline at end of file"]


def test_diff_config_names_the_missing_file_with_a_hint(layout, etc):
    with pytest.raises(MaintenanceError) as missing_template:
        maintenance.diff_config(layout, layout.config_file)
    assert missing_template.value.where == str(maintenance.template_path(layout))
    assert "cannot be read (No such file or directory)" in missing_template.value.message
    assert "is the package installed" in missing_template.value.hint
    layout.config_file.unlink()
    with pytest.raises(MaintenanceError) as missing_config:
        maintenance.diff_config(layout, layout.config_file)
    assert missing_config.value.where == str(layout.config_file)
    assert "gitlab.rb.template" in missing_config.value.hint


# --- backup-etc --------------------------------------------------------------------------


def test_backup_etc_writes_a_0600_tar_of_etc_in_a_0700_directory(layout, etc):
    lines: list[str] = []
    result = backup_etc(layout, lines.append, now=NOW)
    backup_dir = etc / "config_backup"
    assert result.archive == backup_dir / archive_name(NOW)
    assert result.archive.name.startswith("gitlab_config_1700000000_2023_11_1")
    assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(result.archive.stat().st_mode) == 0o600
    if os.geteuid() == 0:
        assert backup_dir.stat().st_uid == 0 and backup_dir.stat().st_gid == 0
    with tarfile.open(result.archive) as tar:
        names = tar.getnames()
        top = str(etc).lstrip("/")
        secrets = tar.extractfile(f"{top}/gitlab-secrets.json").read()
    assert {f"{top}/gitlab.rb", f"{top}/gitlab-secrets.json", f"{top}/ssl/gitlab.example.test.crt",
            f"{top}/trusted-certs/corp-ca.crt"} <= set(names)
    assert not any("config_backup" in name for name in names)
    assert b"s3cret" in secrets
    assert f"Configuration backup archive complete: {result.archive}" in lines
    assert os.listdir(backup_dir) == [result.archive.name]  # no temporary file left


def test_backup_etc_follows_symlinks_and_restores_with_tar_c_root(layout, etc, tmp_path):
    write(tmp_path / "letsencrypt" / "live.crt", "LIVE\n")
    (etc / "ssl" / "live.crt").symlink_to(tmp_path / "letsencrypt" / "live.crt")
    archive = backup_etc(layout, lambda line: None, now=NOW).archive
    restore = tmp_path / "restore"
    with tarfile.open(archive) as tar:
        tar.extractall(restore, filter="data")
    restored = restore / str(etc).lstrip("/")
    assert (restored / "ssl" / "live.crt").read_text() == "LIVE\n"
    assert (restored / "gitlab-secrets.json").read_text() == layout.secrets_file.read_text()


def test_backup_etc_to_another_directory(layout, etc, tmp_path):
    target = tmp_path / "backups" / "etc"
    result = backup_etc(layout, lambda line: None, target, now=NOW)
    assert result.archive.parent == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert not (etc / "config_backup").exists()


def old_archives(directory: Path) -> dict[str, Path]:
    directory.mkdir(mode=0o700, exist_ok=True)
    archives = {age: directory / archive_name(NOW - seconds)
                for age, seconds in (("old", 7200), ("older", 90000), ("new", 60))}
    for path in archives.values():
        path.write_bytes(b"")
    write(directory / "notes.txt", "keep me\n")
    return archives


def test_backup_etc_prunes_archives_older_than_backup_keep_time(layout, etc):
    write(layout.config_file, "gitlab_rails['backup_keep_time'] = 3600\n")
    archives = old_archives(etc / "config_backup")
    lines: list[str] = []
    result = backup_etc(layout, lines.append, now=NOW)
    assert sorted(result.removed) == sorted([archives["old"], archives["older"]])
    assert archives["new"].exists() and result.archive.exists()
    assert (etc / "config_backup" / "notes.txt").exists()
    assert "Keeping only configuration backups created in the last 3600 seconds." in lines


def test_backup_etc_keeps_old_archives_when_told_or_unset(layout, etc):
    archives = old_archives(etc / "config_backup")
    backup_etc(layout, lambda line: None, now=NOW)  # backup_keep_time not set
    write(layout.config_file, "gitlab_rails['backup_keep_time'] = 3600\n")
    backup_etc(layout, lambda line: None, delete_old=False, now=NOW + 1)
    assert all(path.exists() for path in archives.values())


def test_backup_etc_does_not_prune_when_the_config_is_unreadable(layout, etc):
    write(layout.config_file, "gitlab_rails['backup_keep_time'] = `echo 1`\n")
    archives = old_archives(etc / "config_backup")
    lines: list[str] = []
    backup_etc(layout, lines.append, now=NOW)
    assert all(path.exists() for path in archives.values())
    assert any(line.startswith(f"Could not read gitlab_rails['backup_keep_time'] "
                               f"({layout.config_file}:1:") and "kept" in line for line in lines)


def test_backup_etc_leaves_no_partial_archive_when_writing_fails(layout, etc, monkeypatch):
    calls = []

    def failing_add(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(name))
        return original(self, name, *args, **kwargs)

    original = tarfile.TarFile.add
    monkeypatch.setattr(tarfile.TarFile, "add", failing_add)
    with pytest.raises(MaintenanceError) as error:
        backup_etc(layout, lambda line: None, now=NOW)
    assert "No space left on device" in error.value.message
    assert "no archive was written" in error.value.hint
    assert os.listdir(etc / "config_backup") == []


def test_backup_etc_into_an_unusable_directory_is_a_clear_error(layout, etc, tmp_path):
    blocker = write(tmp_path / "a-file", "")
    with pytest.raises(MaintenanceError) as error:
        backup_etc(layout, lambda line: None, blocker / "backups", now=NOW)
    assert error.value.where == str(blocker / "backups")
    assert "-p PATH" in error.value.hint


def test_backup_etc_without_etc_dir(layout):
    with pytest.raises(MaintenanceError) as error:
        backup_etc(layout, lambda line: None, now=NOW)
    assert error.value.where == str(layout.etc_dir)


# --- cleanse -----------------------------------------------------------------------------


def installation(layout: Layout) -> None:
    write(layout.data_dir / "postgresql" / "data" / "PG_VERSION", "15\n")
    write(layout.log_dir / "redis" / "current", "log\n")
    (layout.sv_dir / "redis").mkdir(parents=True)


def test_cleanse_yes_deletes_the_dirs_and_keeps_a_copy_of_etc(layout, etc, tmp_path):
    installation(layout)
    lines: list[str] = []
    waited: list[float] = []
    copy = maintenance.cleanse(layout, lines.append, confirmed=True, backup_root=tmp_path / "root",
                               wait=waited.append, now=NOW)
    assert waited == []
    for path in (layout.etc_dir, layout.data_dir, layout.log_dir):
        assert not path.exists(), path
    assert copy.parent == tmp_path / "root" and copy.name.startswith("gitlab-cleanse-2023-11-1")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o700
    assert "s3cret" in (copy / "gitlab-secrets.json").read_text()
    assert (copy / "ssl" / "gitlab.example.test.crt").exists()
    assert (layout.sv_dir / "redis").exists()  # the package's files stay
    assert f"Deleting {layout.data_dir}" in lines


def test_cleanse_waits_60_seconds_and_ctrl_c_changes_nothing(layout, etc, tmp_path):
    installation(layout)
    waited: list[float] = []

    def interrupted(seconds: float) -> None:
        waited.append(seconds)
        raise KeyboardInterrupt

    lines: list[str] = []
    with pytest.raises(maintenance.CleanseCancelled):
        maintenance.cleanse(layout, lines.append, confirmed=False,
                            backup_root=tmp_path / "root", wait=interrupted)
    assert waited == [60]
    assert any("60 seconds to hit Ctrl-C" in line for line in lines)
    assert any(str(layout.data_dir) in line for line in lines)
    assert layout.data_dir.exists() and layout.config_file.exists()
    assert not (tmp_path / "root").exists()


def test_cleanse_keeps_an_earlier_copy_of_the_same_minute(layout, etc, tmp_path):
    root = tmp_path / "root"
    first = maintenance.backup_etc_copy(layout, root, NOW)
    second = maintenance.backup_etc_copy(layout, root, NOW)
    assert first != second and first.exists() and second.exists()


def test_cleanse_stops_and_unlinks_services(layout, etc, tmp_path):
    log = fake_sv(layout)
    supervised(layout, "redis")
    maintenance.cleanse(layout, lambda line: None, confirmed=True, backup_root=tmp_path / "r")
    assert sv_calls(log) == ["stop redis", "down redis/log"]
    assert not (layout.service_dir / "redis").is_symlink()


def test_cleanse_refuses_system_directories(etc, tmp_path):
    layout = Layout(install_dir=tmp_path / "opt", etc_dir=etc, data_dir=Path("/var"),
                    log_dir=tmp_path / "log")
    with pytest.raises(MaintenanceError) as error:
        maintenance.cleanse(layout, lambda line: None, confirmed=True, backup_root=tmp_path)
    assert error.value.where == "/var" and etc.exists()


# --- upgrade-check -----------------------------------------------------------------------


@pytest.mark.parametrize(("old", "allowed"), [
    ("19.1.9", False), ("18.11.0", False), ("19.2.0", True), ("19.2.5-ee.0", True),
    ("19.10.1", True), ("20.0.0", True), ("", True),
])
def test_upgrade_check_against_the_default_stop(old, allowed):
    refusal = upgrade.upgrade_check(old, "19.4.0", environ={})
    assert (refusal == []) == allowed
    if not allowed:
        assert refusal[1] == ("It is required to upgrade to the latest 19.2.x version first "
                              "before proceeding.")


def test_upgrade_check_reads_min_version_and_refuses_nonsense():
    assert upgrade.upgrade_check("18.5.1", "19.0.0", environ={"MIN_VERSION": "18.5"}) == []
    assert upgrade.upgrade_check("18.4.1", "19.0.0", environ={"MIN_VERSION": "18.5"})
    with pytest.raises(MaintenanceError) as error:
        upgrade.upgrade_check("latest", "19.0.0", environ={})
    assert error.value.where == "OLD"


# --- upgrade -----------------------------------------------------------------------------


class Reconfigure:
    def __init__(self, code: int = 0) -> None:
        self.code, self.calls = code, 0

    def __call__(self) -> int:
        self.calls += 1
        return self.code


def test_upgrade_on_a_first_install_reconfigures_and_welcomes(layout, etc):
    lines: list[str] = []
    reconfigure = Reconfigure()
    code = upgrade.upgrade(layout, lines.append, reconfigure,
                           environ={"EXTERNAL_URL": "http://gitlab.example.test"})
    assert (code, reconfigure.calls) == (0, 1)
    assert "Thank you for installing GitLab!" in lines
    with pytest.raises(MaintenanceError):
        upgrade.upgrade(layout, lines.append, Reconfigure(1),
                        environ={"EXTERNAL_URL": "http://gitlab.example.test"})


@pytest.mark.parametrize("url", ["", "http://gitlab.example.com"])
def test_upgrade_skips_an_installation_never_configured(layout, etc, url):
    lines: list[str] = []
    reconfigure = Reconfigure()
    assert upgrade.upgrade(layout, lines.append, reconfigure, environ={"EXTERNAL_URL": url}) == 0
    assert reconfigure.calls == 0
    assert lines[0] == ("It looks like GitLab has not been configured yet; skipping the upgrade "
                        "script.")


def test_upgrade_restarts_a_configured_installation_whose_supervisor_is_down(layout, etc):
    """After `gitlab-ctl uninstall` (package removal) a reinstall brings GitLab back."""
    supervised(layout, "redis")
    (layout.sv_dir / "redis" / "supervise" / "ok").unlink()
    write(layout.data_dir / "bootstrapped", "")
    lines: list[str] = []
    reconfigure = Reconfigure()
    assert upgrade.upgrade(layout, lines.append, reconfigure, environ={}) == 0
    assert reconfigure.calls == 1 and "configured here before" in lines[0]
    write(etc / "skip-auto-reconfigure", "")
    assert upgrade.upgrade(layout, lines.append, reconfigure, environ={}) == 0
    assert reconfigure.calls == 1  # skip-auto-reconfigure: left alone


def test_upgrade_honours_skip_auto_reconfigure(layout, etc):
    supervised(layout, "redis")
    write(layout.data_dir / "bootstrapped", "")
    write(etc / "skip-auto-reconfigure", "")
    lines: list[str] = []
    reconfigure = Reconfigure()
    assert upgrade.upgrade(layout, lines.append, reconfigure, environ={}) == 0
    assert lines == [f"Found {etc}/skip-auto-reconfigure, exiting..."]
    assert reconfigure.calls == 0


def configured(layout: Layout) -> Path:
    log = fake_sv(layout)
    for name in ("nginx", "postgresql", "redis"):
        supervised(layout, name)
    supervised(layout, "logrotate", running=False)
    write(layout.data_dir / "bootstrapped", "")
    return log


def test_upgrade_stops_all_but_the_databases_reconfigures_and_starts_them_again(layout, etc):
    log = configured(layout)
    order: list[str] = []
    lines: list[str] = []

    def reconfigure() -> int:
        order.extend(sv_calls(log))
        return 0

    assert upgrade.upgrade(layout, lines.append, reconfigure, environ={}) == 0
    assert order == ["stop nginx", "start postgresql", "start redis"]
    assert sv_calls(log)[len(order):] == ["start nginx", "start postgresql", "start redis"]
    assert "Upgrade complete! If your GitLab server is misbehaving try running" in lines


def test_upgrade_stops_at_a_failed_reconfigure(layout, etc):
    log = configured(layout)
    with pytest.raises(MaintenanceError) as error:
        upgrade.upgrade(layout, lambda line: None, Reconfigure(1), environ={})
    assert "still down: nginx" in error.value.message
    assert sv_calls(log) == ["stop nginx", "start postgresql", "start redis"]


# --- restart-except ----------------------------------------------------------------------


def test_restart_except_restarts_every_other_enabled_service(layout):
    log = fake_sv(layout)
    for name in ("nginx", "postgresql", "redis"):
        supervised(layout, name)
    assert maintenance.restart_except(layout, ["postgresql"], lambda line: None) == 0
    assert sv_calls(log) == ["restart nginx", "restart redis"]
    with pytest.raises(control.UnknownService):
        maintenance.restart_except(layout, ["postgresq"], lambda line: None)
    assert sv_calls(log) == ["restart nginx", "restart redis"]


def test_runsv_pids_finds_runsv_by_its_service_directory(layout, tmp_path):
    import shutil
    import subprocess

    runsv = tmp_path / "runsv"
    shutil.copy(shutil.which("sleep"), runsv)
    (layout.sv_dir / "redis").mkdir(parents=True)
    process = subprocess.Popen([str(runsv), "30"], cwd=layout.sv_dir / "redis")
    try:
        deadline = time.monotonic() + 5
        while not maintenance.runsv_pids(layout, ["redis"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert maintenance.runsv_pids(layout, ["redis"]) == [process.pid]
        assert maintenance.runsv_pids(layout, ["nginx"]) == []
    finally:
        process.kill()
        process.wait()
    assert maintenance.runsv_pids(layout, ["redis"]) == []


def test_backup_etc_refuses_etc_dir_itself_as_the_backup_path(layout, etc):
    with pytest.raises(MaintenanceError) as error:
        backup_etc(layout, lambda line: None, etc, now=NOW)
    assert "cannot go into" in error.value.message
    assert sorted(os.listdir(etc)) == ["gitlab-secrets.json", "gitlab.rb", "ssl", "trusted-certs"]


def test_upgrade_reports_a_crashing_reconfigure_and_what_is_down(layout, etc):
    configured(layout)

    def crash() -> int:
        raise KeyError("gitlab_rails")

    with pytest.raises(MaintenanceError) as error:
        upgrade.upgrade(layout, lambda line: None, crash, environ={})
    assert "reconfigure failed: KeyError" in error.value.message
    assert "still down: nginx" in error.value.message
