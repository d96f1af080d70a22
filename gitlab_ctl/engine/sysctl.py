"""Kernel parameters, as omnibus-gitlab's gitlab_sysctl resource sets them: one file
90-omnibus-gitlab-<name>.conf saying `<name> = <value>`, linked from /etc/sysctl.d (so the
value returns at boot), loaded with `sysctl -e -p <file>` when either changes. The file is
in <install dir>/etc/sysctl, not omnibus-gitlab's embedded/etc: the package owns embedded/
(removing the package removes it whole), while etc/ is what reconfigure writes (a purge
removes it, and the links with it). package['modify_kernel_parameters'] = false leaves the
kernel alone (callers then declare no Sysctl at all).

Inside a container /proc/sys is usually mounted read-only: omnibus-gitlab's Docker image
turns modify_kernel_parameters off for that. Here the file and the link are still written
but the load is skipped with a note instead of failing the run: the host decides those
values, and the link applies the file wherever the system does boot with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitlab_ctl.engine.resources import File, Link, Notify, run_command

SYSCTL_D = Path("/etc/sysctl.d")
PROC_SYS = Path("/proc/sys")


def conf_name(name: str) -> str:
    return f"90-omnibus-gitlab-{name}.conf"


@dataclass(frozen=True)
class Sysctl:
    """One kernel parameter: `etc_dir` holds the file (<install dir>/etc/sysctl)."""

    name: str
    value: object
    etc_dir: Path
    sysctl_d: Path = SYSCTL_D
    proc_sys: Path = PROC_SYS
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"sysctl[{self.name}]"

    @property
    def conf(self) -> File:
        return File(self.etc_dir / conf_name(self.name), f"{self.name} = {self.value}\n")

    @property
    def link(self) -> Link:
        return Link(self.sysctl_d / conf_name(self.name), self.conf.path)

    def writable(self) -> bool:
        # access(2) answers EROFS for a read-only mount, even to root
        return os.access(self.proc_sys, os.W_OK)

    def check(self) -> list[str] | None:
        changes = [*(self.conf.check() or []), *(self.link.check() or [])]
        if not changes:
            return None
        if self.writable():
            return [*changes, f"load it: sysctl -e -p {self.conf.path}"]
        return [*changes, f"not loaded now: {self.proc_sys} is read-only (a container?); "
                "the host's value stays until the system boots with this file"]

    def apply(self) -> None:
        self.sysctl_d.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.conf.check():
            self.conf.apply()
        if self.link.check():
            self.link.apply()
        if self.writable():
            run_command(self.id, ["sysctl", "-e", "-p", str(self.conf.path)])


def kernel_parameters(enabled: bool, etc_dir: Path,
                      parameters: dict[str, object]) -> list[Sysctl]:
    """Sysctl resources for `parameters` ({name: value}); none when `enabled` is false
    (package['modify_kernel_parameters'])."""
    if not enabled:
        return []
    return [Sysctl(name, value, etc_dir) for name, value in parameters.items()]
