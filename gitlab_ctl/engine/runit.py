"""runit supervision: service directories, enabling, the supervisor itself, and status.

Status is read straight from each service's `supervise/status` record (the 20-byte format
runsv writes, in runit and in BusyBox alike), so `gitlab-ctl status` and reconfigure's
"is it running?" checks cost no process; control commands go through `sv`. Whether runsv is
alive is asked as `sv` asks it: through the `supervise/ok` FIFO (see `runsv_running`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Absent, Directory, File, Link, ResourceError, Run, Step
from gitlab_ctl.paths import Layout

TAI_OFFSET = 4611686018427387914  # 2**62 + 10: TAI64 label of the Unix epoch
SYSTEMD_UNIT = Path("/usr/lib/systemd/system/gitlab-runsvdir.service")
ENABLE_TIMEOUT = 20.0  # runsvdir looks for new services every 5 s
#: Beside `run` in a service's sv directory (runsv ignores other files): its `sv -w` seconds.
SV_TIMEOUT_FILE = "sv-timeout"


@dataclass(frozen=True)
class Status:
    """One supervised process: state is 'run', 'down' or 'finish'."""

    state: str
    pid: int
    seconds: int
    normally_up: bool
    want: str  # 'u', 'd' or ''
    paused: bool
    got_term: bool

    def describe(self, name: str) -> str:
        """sv's wording: `run: redis: (pid 123) 45s` plus its suffixes."""
        text = f"{self.state}: {name}: "
        text += f"(pid {self.pid}) {self.seconds}s" if self.pid else f"{self.seconds}s"
        if self.pid and not self.normally_up:
            text += ", normally down"
        if not self.pid and self.normally_up:
            text += ", normally up"
        if self.paused:
            text += ", paused"
        if self.want == "d" and self.pid:
            text += ", want down"
        if self.want == "u" and not self.pid:
            text += ", want up"
        if self.got_term:
            text += ", got TERM"
        return text


def runsv_running(directory: Path) -> bool:
    """Whether a runsv supervises `directory`. runsv holds `supervise/ok`, a FIFO, open for
    reading; the FIFO and the status record outlive it (a killed container keeps both), so
    its existence proves nothing. Opening it for writing without blocking succeeds only
    while a reader has it open, and fails with ENXIO otherwise: `sv`'s own test."""
    try:
        handle = os.open(directory / "supervise" / "ok", os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        # ENXIO: nobody reads it, runsv is gone; ENOENT: runsv never ran here; anything
        # else (EACCES) leaves sv unable to control it either
        return False
    os.close(handle)
    return True


def read_status(directory: Path, now: float | None = None) -> Status | None:
    """The state of the process supervised in `directory`, or None if no runsv runs there
    (its last status record then describes a process that may be long gone)."""
    try:
        record = (directory / "supervise" / "status").read_bytes()
    except OSError:
        return None
    if len(record) < 20 or not runsv_running(directory):
        return None
    seconds_tai, = struct.unpack(">Q", record[0:8])
    pid, = struct.unpack("<I", record[12:16])
    since = max(0, int((time.time() if now is None else now) - (seconds_tai - TAI_OFFSET)))
    state = {0: "down", 1: "run", 2: "finish"}.get(record[19], "down")
    return Status(state=state, pid=pid, seconds=since,
                  normally_up=not (directory / "down").exists(),
                  want=chr(record[17]) if record[17] in b"ud" else "",
                  paused=bool(record[16]), got_term=bool(record[18]))


def status_line(layout: Layout, name: str) -> tuple[str, bool]:
    """omnibus-gitlab's status line for one service and whether the service itself runs."""
    directory = layout.service_dir / name
    main = read_status(directory)
    if main is None:
        return f"fail: {name}: runsv not running", False
    line = main.describe(name)
    log = read_status(directory / "log")
    if log is not None:
        line += "; " + log.describe("log")
    return line, main.state == "run"


def is_running(layout: Layout, name: str) -> bool:
    status = read_status(layout.service_dir / name)
    return status is not None and status.state == "run"


def wants_up(layout: Layout, name: str) -> bool:
    """runsv is alive and keeps the service up (not stopped with `sv down`/`gitlab-ctl
    stop`): it is running, starting or being restarted after a crash."""
    status = read_status(layout.service_dir / name)
    return status is not None and status.want == "u"


def enabled_services(layout: Layout) -> list[str]:
    """Services linked into the service dir, sorted (omnibus-gitlab's order)."""
    try:
        return sorted(entry.name for entry in layout.service_dir.iterdir()
                      if entry.is_symlink())
    except FileNotFoundError:
        return []


def all_services(layout: Layout) -> list[str]:
    try:
        return sorted(entry.name for entry in layout.sv_dir.iterdir() if entry.is_dir())
    except FileNotFoundError:
        return []


def sv_timeout(layout: Layout, name: str) -> int | None:
    """The seconds reconfigure recorded for `sv -w` on this service (omnibus-gitlab's
    runit_service sv_timeout, e.g. redis['runit_sv_timeout']), or None."""
    try:
        return int((layout.sv_dir / name / SV_TIMEOUT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def sv(layout: Layout, command: str, name: str, wait: int | None = None
       ) -> subprocess.CompletedProcess:
    """`sv COMMAND NAME` with the service dir as SVDIR, so sv prints the bare name. A
    waiting command waits the service's own sv_timeout where it has one."""
    argv = [str(layout.embedded / "bin" / "sv")]
    if wait is not None:
        wait = sv_timeout(layout, name) or wait
    if wait is not None:
        argv += ["-w", str(wait)]
    env = {**os.environ, "SVDIR": str(layout.service_dir)}
    return subprocess.run([*argv, command, name], capture_output=True, text=True, env=env)


def shipped_logging(logging: Mapping[str, Any], name: str, hostname: str) -> dict[str, Any]:
    """What logging['udp_log_shipping_host'] implies, as omnibus-gitlab's Logging library:
    svlogd sends every line to host:port over UDP, each prefixed '<hostname> <service>: ',
    unless gitlab.rb set svlogd_udp or svlogd_prefix itself."""
    values = dict(logging)
    host = values.get("udp_log_shipping_host")
    if not host:
        return values
    port = values.get("udp_log_shipping_port")
    if not values.get("svlogd_udp"):
        values["svlogd_udp"] = f"{host}:{port}" if port else str(host)
    if not values.get("svlogd_prefix"):
        values["svlogd_prefix"] = f"{hostname} {name}: "
    return values


def log_config(logging: Mapping[str, Any], name: str = "") -> str:
    """svlogd's config: size, number of files, rotation time, the gzip processor, and the
    UDP destination and prefix when logs are shipped."""
    logging = shipped_logging(logging, name, socket.gethostname())
    lines = [f"s{logging['svlogd_size']}", f"n{logging['svlogd_num']}",
             f"t{logging['svlogd_timeout']}"]
    if logging.get("svlogd_filter"):
        lines.append(f"!{logging['svlogd_filter']}")
    if logging.get("svlogd_udp"):
        lines.append(f"u{logging['svlogd_udp']}")
    if logging.get("svlogd_prefix"):
        lines.append(f"p{logging['svlogd_prefix']}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ServiceDefinition:
    """What a runit service needs: its run script, where its log goes, how a changed
    configuration reaches it ('restart' or 'hup')."""

    name: str
    run_script: str
    log_dir: Path
    log_owner: str = "root"
    log_group: str | None = None
    reload_action: str = "restart"
    # svlogd's -tt timestamps; off for a service logging JSON, whose lines carry their own
    timestamps: bool = True
    # runit's down file (omnibus-gitlab's ha / start_down): runsv leaves the service stopped
    # until something (a failover, `gitlab-ctl start`) starts it; None: the file is not managed
    start_down: bool | None = None
    # seconds `sv -w` waits for it to stop or restart (None: gitlab-ctl's SVWAIT)
    sv_timeout: int | None = None


#: The services whose run script omnibus-gitlab starts with its mount_point_check (the
#: data stores and what serves or reads their data; not crond, logrotate, mailroom,
#: gitlab-sshd, registry or storage-check).
MOUNT_CHECKED = frozenset({
    "alertmanager", "gitaly", "gitlab-exporter", "gitlab-kas", "gitlab-pages",
    "gitlab-workhorse", "nginx", "node-exporter", "postgres-exporter", "postgresql",
    "prometheus", "puma", "redis", "redis-exporter", "sidekiq"})


def mount_point_check(mountpoints: Any) -> str:
    """high_availability['mountpoint'] (one path or a list) as omnibus-gitlab's
    mount_point_check: the service refuses to start while a path is not mounted."""
    paths = mountpoints if isinstance(mountpoints, list) else [mountpoints]
    return "".join(f"if ! mountpoint -q '{path}' ; then\n"
                   f"  echo 'Refusing to start because {path} is not a mountpoint.'\n"
                   "  exit 1\nfi\n" for path in paths if path)


def with_mount_check(layout: Layout, name: str, resources: list, mountpoints: Any) -> list:
    """The service's resources with the check put in its run script after `exec 2>&1`
    (every run script here starts with the shebang and that line)."""
    check = mount_point_check(mountpoints) if name in MOUNT_CHECKED else ""
    if not check:
        return resources
    run = layout.sv_dir / name / "run"
    return [dataclasses.replace(r, content=r.content.replace("exec 2>&1\n",
                                                             "exec 2>&1\n" + check, 1))
            if isinstance(r, File) and r.path == run else r for r in resources]


def service_resources(layout: Layout, service: ServiceDefinition,
                      logging: Mapping[str, Any]) -> list:
    """The sv directory with run, log/run and log/config, and the log dir."""
    sv_dir = layout.sv_dir / service.name
    # logging['log_group'] (omnibus-gitlab's LogfilesHelper): the group of every service's
    # log directory and svlogd, unless the service names its own
    group = service.log_group or logging.get("log_group")
    log_group = group or "root"
    log_run = (f"#!/bin/sh\nexec {layout.embedded}/bin/chpst -P -U root:{log_group} "
               f"-u root:{log_group} {layout.embedded}/bin/svlogd "
               f"{'-tt ' if service.timestamps else ''}{service.log_dir}\n")
    return [
        Directory(sv_dir), Directory(sv_dir / "log"), Directory(sv_dir / "log" / "main"),
        Directory(service.log_dir, owner=service.log_owner, group=group,
                  mode=0o750 if group else 0o700),
        File(sv_dir / "run", service.run_script, mode=0o755,
             notifies=(("restart", service.name),)),
        File(sv_dir / "log" / "run", log_run, mode=0o755,
             notifies=(("restart-log", service.name),)),
        File(sv_dir / "log" / "config", log_config(logging, service.name),
             notifies=(("hup-log", service.name),)),
        Link(service.log_dir / "config", sv_dir / "log" / "config"),
        *([] if service.start_down is None else
          [File(sv_dir / "down", "") if service.start_down else Absent(sv_dir / "down")]),
        File(sv_dir / SV_TIMEOUT_FILE, f"{service.sv_timeout}\n") if service.sv_timeout
        else Absent(sv_dir / SV_TIMEOUT_FILE),
    ]


def _supervised(layout: Layout, name: str) -> bool:
    directory = layout.service_dir / name
    return all(runsv_running(path) for path in (directory, directory / "log"))


def wait_supervised_step(layout: Layout, names: list[str], timeout: float = ENABLE_TIMEOUT
                         ) -> Step:
    """After linking, wait until runsv supervises each service and its log (runsvdir looks
    for new links every few seconds, so all services are linked first, then waited for)."""
    def check(run: Run) -> list[str] | None:
        waiting = [name for name in names if not _supervised(layout, name)]
        return [f"wait for runsv to supervise {', '.join(waiting)}"] if waiting else None

    def apply(run: Run) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = [name for name in names if not _supervised(layout, name)]
            if not waiting:
                return
            time.sleep(0.1)
        raise ResourceError("runit_service", f"runsv did not pick up {', '.join(waiting)} in "
                            f"{timeout:.0f} s", hint="is runsvdir running? see "
                            f"`ps -ef | grep runsvdir` and {layout.log_dir}/reconfigure/")

    return Step("runsv[supervise]", check, apply)


def enable_step(layout: Layout, name: str) -> Step:
    link = layout.service_dir / name
    target = layout.sv_dir / name

    def check(run: Run) -> list[str] | None:
        # linked is enabled; whether runsv supervises it is the next steps' business
        # (start_supervisor_step, wait_supervised_step)
        if link.is_symlink() and os.readlink(link) == str(target):
            return None
        return [f"enable service {name} (link {link} -> {target})"]

    def apply(run: Run) -> None:
        if not (link.is_symlink() and os.readlink(link) == str(target)):
            Link(link, target).apply()
            run.started.add(name)

    return Step(f"runit_service[{name}]", check, apply)


def disable_step(layout: Layout, name: str) -> Step:
    link = layout.service_dir / name

    def check(run: Run) -> list[str] | None:
        return [f"disable service {name}"] if link.is_symlink() else None

    def apply(run: Run) -> None:
        sv(layout, "down", name)
        link.unlink()
        # runsvdir ends the service's runsv at its next scan (every 5 s). Until then a link
        # made again (the service re-enabled) is taken for the old one, whose runsv keeps the
        # service down and exits later, so the run waits for it to go.
        directory = layout.sv_dir / name
        deadline = time.monotonic() + ENABLE_TIMEOUT
        while (any(runsv_running(path) for path in (directory, directory / "log"))
               and time.monotonic() < deadline):
            time.sleep(0.1)

    return Step(f"runit_service[{name}] disable", check, apply)


def processes(program: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of every running process whose program path ends with `program`. Under
    qemu-user emulation (an arm64 image on an amd64 host) the kernel shows the emulator as
    argv[0] (/usr/libexec/qemu-binfmt/aarch64-binfmt-P, /usr/bin/qemu-aarch64-static) and
    the program's path after it, so that one counts."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and b"qemu" in argv[0]:
            argv = argv[1:]
        if argv[0].endswith(program):
            yield int(entry.name), argv


def runsvdir_pids(layout: Layout) -> Iterator[int]:
    wanted = str(layout.service_dir).encode()
    return (pid for pid, argv in processes(b"runsvdir") if wanted in argv)


def supervisor_running(layout: Layout) -> bool:
    return next(runsvdir_pids(layout), None) is not None


def start_supervisor_hint(layout: Layout) -> str:
    """How an administrator starts runsvdir on this host."""
    if systemd_manages_runsvdir():
        return ("start it with `systemctl start gitlab-runsvdir` (or run `gitlab-ctl "
                "reconfigure`, which starts it), then run the command again")
    return (f"run `gitlab-ctl reconfigure`, which starts it (or start "
            f"{layout.embedded}/bin/runsvdir-start in the background), then run the "
            "command again")


def uses_systemd() -> bool:
    return Path("/run/systemd/system").is_dir()


def systemd_manages_runsvdir() -> bool:
    """systemd runs and gitlab-runsvdir.service is installed (package['detect_init'] =
    false writes none: then runsvdir is started directly, as in a container)."""
    return uses_systemd() and SYSTEMD_UNIT.exists()


def detects_init(package: Mapping[str, Any] | None) -> bool:
    """package['detect_init']: false skips the init system, as omnibus-gitlab's runit
    recipe does (no unit written, enabled or started)."""
    return (package or {}).get("detect_init") is not False


#: omnibus-gitlab's package['systemd_*'] defaults, for the unit that starts runsvdir.
SYSTEMD_DEFAULTS = {"systemd_after": "multi-user.target", "systemd_wanted_by": "multi-user.target",
                    "systemd_tasks_max": 4915}


def systemd_unit(layout: Layout, package: Mapping[str, Any] | None = None) -> str:
    """gitlab-runsvdir.service as omnibus-gitlab writes it (package['systemd_after'],
    ['systemd_wanted_by'], ['systemd_tasks_max']; a null TasksMax leaves systemd's)."""
    values = {**SYSTEMD_DEFAULTS, **{k: v for k, v in (package or {}).items()
                                     if k in SYSTEMD_DEFAULTS}}
    tasks_max = values["systemd_tasks_max"]
    return (
        f"[Unit]\nDescription=GitLab Runit supervision process\nAfter={values['systemd_after']}"
        "\n\n[Service]\n"
        f"ExecStart={layout.embedded}/bin/runsvdir-start\nRestart=always\n"
        + (f"TasksMax={tasks_max}\n" if tasks_max is not None else "")
        + "Slice=gitlab.slice\nDelegate=memory cpu\n\n"
        f"[Install]\nWantedBy={values['systemd_wanted_by']}\n")


def supervisor_resources(layout: Layout, package: Mapping[str, Any] | None = None) -> list:
    """The service directories, and the systemd unit where systemd runs (unless
    package['detect_init'] = false)."""
    resources: list = [Directory(layout.sv_dir), Directory(layout.service_dir)]
    if uses_systemd() and detects_init(package):
        resources.append(File(SYSTEMD_UNIT, systemd_unit(layout, package)))
    return resources


def start_supervisor_step(layout: Layout) -> Step:
    """runsvdir under systemd's gitlab-runsvdir.service, or started directly where there is
    no systemd (containers). Planned after the services are linked, so a first run's
    runsvdir finds them all at once instead of on its next 5-second scan."""
    def check(run: Run) -> list[str] | None:
        return None if supervisor_running(layout) else ["start runsvdir"]

    def apply(run: Run) -> None:
        if systemd_manages_runsvdir():
            for argv in (["systemctl", "daemon-reload"],
                         ["systemctl", "enable", "gitlab-runsvdir.service"],
                         ["systemctl", "start", "gitlab-runsvdir.service"]):
                subprocess.run(argv, check=False, capture_output=True)
        else:
            subprocess.Popen([str(layout.embedded / "bin" / "runsvdir-start")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30  # slow under emulation (arm64 images under qemu)
        while not supervisor_running(layout):
            if time.monotonic() > deadline:
                raise ResourceError("runsvdir", "did not start",
                                    hint="run embedded/bin/runsvdir-start by hand to see why")
            time.sleep(0.1)

    return Step("runsvdir[gitlab-runsvdir]", check, apply)


def stop_supervisor(layout: Layout, timeout: float = 10.0) -> list[str]:
    """End runsvdir (omnibus-ctl's uninstall): systemd's unit is stopped, disabled and
    removed; a runsvdir started directly gets TERM. What was done, for the caller to say."""
    done = []
    if SYSTEMD_UNIT.exists():
        for argv in (["systemctl", "stop", "gitlab-runsvdir.service"],
                     ["systemctl", "disable", "gitlab-runsvdir.service"]):
            subprocess.run(argv, check=False, capture_output=True)
        SYSTEMD_UNIT.unlink()
        subprocess.run(["systemctl", "daemon-reload"], check=False, capture_output=True)
        done.append(f"stopped, disabled and removed {SYSTEMD_UNIT.name}")
    pids = list(runsvdir_pids(layout))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while supervisor_running(layout) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pids:
        done.append(f"stopped runsvdir (pid {', '.join(map(str, pids))})")
    return done
