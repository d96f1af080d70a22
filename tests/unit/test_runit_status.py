"""runit status records read directly, printed as omnibus-gitlab's `gitlab-ctl status`."""

from __future__ import annotations

import struct
import subprocess
import sys
import time

import pytest

from gitlab_ctl.paths import Layout
from gitlab_ctl.runit import TAI_OFFSET, log_config, processes, read_status, status_line

NOW = 1_700_000_000


def write_status(directory, pid, state, since, want=b"u", down_file=False):
    supervise = directory / "supervise"
    supervise.mkdir(parents=True)
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
