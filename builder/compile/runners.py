"""Runners: where a build script runs. One small interface, one plain dict.

A runner is `run(job, log) -> exit code`. Both runners show the build its install prefix at
the project's install dir (the path that ends up in rpaths) and its source tree, and give
it no network (unless its definition says `network: true`, for lockfile-pinned dependencies):
a build that tries to download something else fails here, not in production.
  docker  a fresh container of the platform's builder image per software
  host    this machine, in a private mount namespace (for CI jobs that already run inside
          the builder image, as omnibus-gitlab's do)
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from builder.compile.docker import docker_path

CONTAINER_SOURCE = "/src"
CONTAINER_SCRIPT = "/omnibus-build.sh"
LABEL = "omnibus.build-pid"


@dataclass(frozen=True)
class BuildJob:
    name: str
    image: str
    docker_platform: str
    script: Path
    source_dir: Path  # the source tree on this machine
    source_subdir: str  # the source root, relative to source_dir
    prefix: Path  # the assembled install dir on this machine
    install_dir: str  # where the build sees it (e.g. /opt/gitlab)
    environment: Mapping[str, str]
    network: bool = False  # see Software.network
    #: (directory on this machine, where the build sees it): toolchains, read-only
    mounts: tuple[tuple[Path, str], ...] = ()


def run_docker(job: BuildJob, log: BinaryIO) -> int:
    source_root = f"{CONTAINER_SOURCE}/{job.source_subdir}".rstrip("/")
    command = [
        # The image tag is arch-specific already; see images.ensure_image on --platform.
        docker_path(), "run", "--rm", "--network", "bridge" if job.network else "none",
        "--label", f"{LABEL}={os.getpid()}", "--name", f"omnibus-{job.name}-{os.getpid()}",
        "-v", f"{job.prefix}:{job.install_dir}", "-v", f"{job.source_dir}:{CONTAINER_SOURCE}",
        "-v", f"{job.script}:{CONTAINER_SCRIPT}:ro", "-e", f"OMNIBUS_SOURCE_DIR={source_root}",
    ]
    for directory, target in job.mounts:
        command += ["-v", f"{directory}:{target}:ro"]
    for name, value in sorted(job.environment.items()):
        command += ["-e", f"{name}={value}"]
    command += [job.image, "bash", CONTAINER_SCRIPT]
    return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL).returncode


def run_host(job: BuildJob, log: BinaryIO) -> int:
    source_root = job.source_dir / job.source_subdir
    binds = [(str(job.prefix), job.install_dir, "")]
    binds += [(str(directory), target, "ro") for directory, target in job.mounts]
    inner = " && ".join(
        f"mkdir -p {shlex.quote(target)} && mount --bind {shlex.quote(directory)} "
        f"{shlex.quote(target)}" + (f" && mount -o remount,bind,ro {shlex.quote(target)}"
                                    if mode else "")
        for directory, target, mode in binds) + f" && exec bash {shlex.quote(str(job.script))}"
    isolation = ["--mount", "--propagation", "private"] + ([] if job.network else ["--net"])
    command = ["unshare", *isolation, "bash", "-c", inner]
    environment = {**job.environment, "OMNIBUS_SOURCE_DIR": str(source_root)}
    return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                          stdin=subprocess.DEVNULL).returncode


def remove_stale_containers() -> None:
    """Containers of an omnibus run that was killed keep running; stop them."""
    listing = subprocess.run([docker_path(), "ps", "-q", "--filter", f"label={LABEL}",
                              "--format", f'{{{{.ID}}}} {{{{.Label "{LABEL}"}}}}'],
                             capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        container, _, pid = line.partition(" ")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run([docker_path(), "rm", "-f", container], capture_output=True)


Runner = Callable[[BuildJob, BinaryIO], int]
RUNNERS: dict[str, Runner] = {"docker": run_docker, "host": run_host}
