"""runit status records read directly, printed as omnibus-gitlab's `gitlab-ctl status`;
whether runsv is alive, asked through a real FIFO as sv asks it."""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import time

import pytest

from gitlab_ctl.engine.resources import ResourceError
from gitlab_ctl.engine.runit import (
    TAI_OFFSET,
    is_running,
    log_config,
    processes,
    read_status,
    runsv_running,
    status_line,
    wait_supervised_step,
)
from gitlab_ctl.paths import Layout

NOW = 1_700_000_000


def write_status(directory, pid, state, since, want=b"u", down_file=False, fifo=False):
    """What runsv leaves in supervise/: `ok` is a FIFO with `fifo` (as runsv makes it), or
    a plain file that opens as a live one would."""
    supervise = directory / "supervise"
    supervise.mkdir(parents=True)
    if fifo:
        os.mkfifo(supervise / "ok")
    else:
        (supervise / "ok").touch()
    record = struct.pack(">QI", TAI_OFFSET + since, 0) + struct.pack("<I", pid)
    record += bytes([0]) + want + bytes([0, state])
    (supervise / "status").write_bytes(record)
    if down_file:
        (directory / "down").touch()


def test_running_service_and_its_log_in_omnibus_format(tmp_path):
    layout = Layout(install_dir=tmp_path)
    write_status(layout.service_dir / "redis", 961, 1, NOW - 7)
    write_status(layout.service_dir / "redis" / "log", 960, 1, NOW - 8)
    status = read_status(layout.service_dir / "redis", now=NOW)
    assert status.describe("redis") == "run: redis: (pid 961) 7s"
    line, running = status_line(layout, "redis")
    assert running and line.startswith("run: redis: (pid 961) ")
    assert "; run: log: (pid 960) " in line


def test_down_states_carry_sv_suffixes(tmp_path):
    write_status(tmp_path / "a", 0, 0, NOW - 5, want=b"d")  # after `sv stop`
    assert read_status(tmp_path / "a", now=NOW).describe("r") == "down: r: 5s, normally up"
    write_status(tmp_path / "b", 42, 1, NOW - 3, want=b"d", down_file=True)
    assert read_status(tmp_path / "b", now=NOW).describe("x") == \
        "run: x: (pid 42) 3s, normally down, want down"


def test_a_service_without_runsv_fails_status(tmp_path):
    layout = Layout(install_dir=tmp_path)
    (layout.service_dir / "gitaly").mkdir(parents=True)
    assert status_line(layout, "gitaly") == ("fail: gitaly: runsv not running", False)


def test_svlogd_config_from_the_logging_settings():
    text = log_config({"svlogd_size": 209715200, "svlogd_num": 30, "svlogd_timeout": 86400,
                       "svlogd_filter": "gzip", "svlogd_udp": None, "svlogd_prefix": None})
    assert text == "s209715200\nn30\nt86400\n!gzip\n"


@pytest.mark.parametrize("emulator", ["/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
                                      "/usr/bin/qemu-aarch64-static"])
def test_a_program_run_under_qemu_user_emulation_is_found(tmp_path, emulator):
    # What /proc shows for an arm64 runsvdir in a container on an amd64 host: the emulator
    # (Debian 12's binfmt name, or the static one) first, then the program and its arguments.
    program = tmp_path / "runsvdir"
    program.write_text("import time\ntime.sleep(30)\n")
    argv = [emulator, str(program), "runsvdir", "-P", "/opt/gitlab/service"]
    process = subprocess.Popen(argv, executable=sys.executable)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = dict(processes(b"runsvdir"))
            if process.pid in found:
                break
            time.sleep(0.05)
        assert found.get(process.pid) == [arg.encode() for arg in argv[1:]] + [b""]
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def runsv_reading(*directories):
    """Hold each supervise/ok open for reading, as a live runsv does."""
    handles = [os.open(d / "supervise" / "ok", os.O_RDONLY | os.O_NONBLOCK) for d in directories]
    try:
        yield
    finally:
        for handle in handles:
            os.close(handle)


def test_the_status_a_dead_runsv_left_behind_is_not_believed(tmp_path):
    # after `docker stop` + `docker start`: supervise/ok and a "run" record are still on disk
    layout = Layout(install_dir=tmp_path)
    redis = layout.service_dir / "redis"
    write_status(redis, 55, 1, int(time.time()) - 17, fifo=True)
    write_status(redis / "log", 54, 1, int(time.time()) - 17, fifo=True)
    assert not runsv_running(redis)
    assert read_status(redis) is None
    assert status_line(layout, "redis") == ("fail: redis: runsv not running", False)
    assert not is_running(layout, "redis")
    with runsv_reading(redis, redis / "log"):
        assert runsv_running(redis)
        line, running = status_line(layout, "redis")
        assert running and line.startswith("run: redis: (pid 55) 1")
        assert is_running(layout, "redis")


def test_reconfigure_waits_for_a_live_runsv_not_for_the_fifo_it_left(tmp_path):
    layout = Layout(install_dir=tmp_path)
    redis = layout.service_dir / "redis"
    write_status(redis, 55, 1, int(time.time()), fifo=True)
    write_status(redis / "log", 54, 1, int(time.time()), fifo=True)
    step = wait_supervised_step(layout, ["redis"], timeout=0.3)
    assert step.check() == ["wait for runsv to supervise redis"]
    with pytest.raises(ResourceError) as failure:
        step.apply()
    assert "runsv did not pick up redis" in failure.value.message
    assert "runsvdir" in failure.value.hint
    with runsv_reading(redis, redis / "log"):
        assert step.check() is None
        step.apply()
