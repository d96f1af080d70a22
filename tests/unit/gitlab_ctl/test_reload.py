"""The children of a process, read from a /proc-like tree (the real one is used by the
integration tests, where nginx's workers are replaced on reconfigure)."""

import os
from pathlib import Path

from gitlab_ctl.engine.reload import children


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
    assert children(10, tmp_path) == {11, 12}
    assert children(99, tmp_path) == set()


def test_children_of_this_process_on_the_real_proc():
    assert os.getpid() in children(os.getppid())
