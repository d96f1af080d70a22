"""The resource engine: check before acting, atomic writes, dry runs, notifications, skips."""

from __future__ import annotations

import getpass
import grp
import os

import pytest

from gitlab_ctl.engine.resources import (
    Command,
    Directory,
    File,
    Link,
    ResourceError,
    Run,
    Skip,
    Step,
    converge,
)

ME = getpass.getuser()
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def converged(resources, dry_run=False):
    lines: list[str] = []
    run = Run(dry_run=dry_run, report=lines.append)
    converge(resources, run)
    return run, lines


def test_a_second_converge_changes_nothing(tmp_path):
    resources = [
        Directory(tmp_path / "etc", owner=ME, group=MY_GROUP, mode=0o750),
        File(tmp_path / "etc" / "app.conf", "a = 1\n", owner=ME, mode=0o640,
             notifies=(("restart", "app"),)),
        Link(tmp_path / "current", tmp_path / "etc"),
    ]
    first, _ = converged(resources)
    assert first.changed == [r.id for r in resources]
    assert list(first.notifications) == [("restart", "app")]
    assert (tmp_path / "etc").stat().st_mode & 0o7777 == 0o750
    assert (tmp_path / "etc" / "app.conf").stat().st_mode & 0o7777 == 0o640
    assert os.readlink(tmp_path / "current") == str(tmp_path / "etc")
    second, lines = converged(resources)
    assert second.changed == [] and lines == [] and not second.notifications


def test_a_changed_file_reports_a_diff_and_notifies_only_its_service(tmp_path):
    path = tmp_path / "redis.conf"
    path.write_text("port 0\nmaxclients 10000\n")
    path.chmod(0o644)
    run, lines = converged([
        File(path, "port 0\nmaxclients 4321\n", owner=None, notifies=(("restart", "redis"),)),
        File(tmp_path / "nginx.conf", "x\n", owner=None, notifies=(("hup", "nginx"),)),
    ])
    assert "    -maxclients 10000" in lines and "    +maxclients 4321" in lines
    assert list(run.notifications) == [("restart", "redis"), ("hup", "nginx")]
    assert path.read_text() == "port 0\nmaxclients 4321\n"


def test_a_dry_run_reports_and_changes_nothing(tmp_path):
    path = tmp_path / "app.conf"
    path.write_text("old\n")
    run, lines = converged([File(path, "new\n", owner=None),
                            Directory(tmp_path / "missing", owner=None)], dry_run=True)
    assert len(run.changed) == 2
    assert "    +new" in lines
    assert path.read_text() == "old\n" and not (tmp_path / "missing").exists()


def test_sensitive_content_never_shows(tmp_path):
    _, lines = converged([File(tmp_path / "secret", "hunter2\n", owner=None, sensitive=True)])
    assert not any("hunter2" in line for line in lines)
    assert "    (suppressed: sensitive content)" in lines


def test_only_a_mode_change_keeps_the_file_and_says_so(tmp_path):
    path = tmp_path / "f"
    path.write_text("same\n")
    path.chmod(0o644)
    inode = path.stat().st_ino
    _, lines = converged([File(path, "same\n", owner=None, mode=0o600)])
    assert lines == [f"* file[{path}]", "    change mode from '0644' to '0600'"]
    assert path.stat().st_ino == inode and path.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_text("old\n")

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ResourceError, match="Operation not permitted"):
        converged([File(path, "new\n", owner=None)])
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_command_runs_only_when_its_guard_says_so_and_failures_name_it(tmp_path):
    marker = tmp_path / "done"
    command = Command("make marker", ["touch", str(marker)], guard=marker.exists)
    first, _ = converged([command])
    assert first.changed == ["execute[make marker]"] and marker.exists()
    second, _ = converged([command])
    assert second.changed == []
    with pytest.raises(ResourceError) as failure:
        converged([Command("fail", ["sh", "-c", "echo broken >&2; exit 3"])])
    assert failure.value.resource == "execute[fail]"
    assert "exited 3" in failure.value.message and "broken" in failure.value.message


def test_a_path_of_the_wrong_kind_stops_the_run_with_a_hint(tmp_path):
    (tmp_path / "conf").write_text("I am a file")
    with pytest.raises(ResourceError) as failure:
        converged([Directory(tmp_path / "conf", owner=None)])
    assert "is not a directory" in failure.value.message and failure.value.hint


def _cannot_tell(run):
    raise Skip("the database is down", hint="start it")


def test_a_check_that_cannot_decide_fails_the_run_with_its_reason(tmp_path):
    # a resource left unchecked is not converged: never a warning under a success
    with pytest.raises(ResourceError) as failure:
        converged([Step("wait[db]", _cannot_tell, lambda run: None),
                   Directory(tmp_path / "d", owner=None)])
    assert str(failure.value) == "wait[db]: cannot be checked: the database is down"
    assert failure.value.hint == "start it"
    assert not (tmp_path / "d").exists()


def test_a_dry_run_reports_what_it_cannot_decide_and_goes_on(tmp_path):
    run, lines = converged([Step("wait[db]", _cannot_tell, lambda run: None),
                            Directory(tmp_path / "d", owner=None)], dry_run=True)
    assert run.changed == ["wait[db]", f"directory[{tmp_path / 'd'}]"]
    assert "    (cannot be checked now: the database is down)" in lines
    assert run.warnings == []
