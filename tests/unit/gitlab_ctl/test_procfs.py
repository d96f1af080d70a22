"""Processes by parent or group, read from a /proc-like tree (the real one is used by the
integration tests, where nginx's workers are replaced on reconfigure and graceful-kill
finds a service's process group)."""

import os
from pathlib import Path

from gitlab_ctl.engine.procfs import PPID, parent_pid, processes_where


def stat(proc: Path, pid: int, comm: str, ppid: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} 0 0\n")


def test_children_are_the_processes_naming_it_as_parent(tmp_path):
    stat(tmp_path, 10, "nginx", 1)
    stat(tmp_path, 11, "nginx", 10)
    stat(tmp_path, 12, "a (weird) name 10", 10)  # comm with spaces and parentheses
    stat(tmp_path, 13, "other", 11)
    (tmp_path / "self").mkdir()  # not a pid
    (tmp_path / "14").mkdir()  # exited while read: no stat
    assert processes_where(PPID, 10, tmp_path) == {11, 12}
    assert processes_where(PPID, 99, tmp_path) == set()
    assert parent_pid(12, tmp_path) == 10
    assert parent_pid(14, tmp_path) is None


def test_zombies_count_unless_live_only(tmp_path):
    stat(tmp_path, 20, "nginx", 1)
    (tmp_path / "21").mkdir()
    (tmp_path / "21" / "stat").write_text("21 (nginx) Z 20 21 0 0\n")
    assert processes_where(PPID, 20, tmp_path) == {21}
    assert processes_where(PPID, 20, tmp_path, live_only=True) == set()


def test_children_of_this_process_on_the_real_proc():
    assert os.getpid() in processes_where(PPID, os.getppid())
