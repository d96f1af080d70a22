"""Thin wrappers around the docker command line; every failure becomes a BuilderError."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from builder.errors import BuilderError

DOCKER_HINT = "./dev installs docker.io and starts dockerd; or start it yourself: dockerd &"


def docker_path() -> str:
    path = shutil.which("docker")
    if path is None:
        raise BuilderError("docker is not installed", hint=DOCKER_HINT)
    return path


def docker(*args: str, check: bool = True, capture: bool = True, input_bytes: bytes | None = None,
           timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([docker_path(), *args], capture_output=capture, input=input_bytes,
                            timeout=timeout)
    if check and result.returncode != 0:
        detail = (result.stderr or b"").decode(errors="replace").strip()[-1500:]
        if "Cannot connect to the Docker daemon" in detail:
            raise BuilderError("the Docker daemon is not running", hint=DOCKER_HINT)
        raise BuilderError(f"docker {args[0]} failed: {detail}")
    return result


def image_exists(tag: str) -> bool:
    result = docker("image", "inspect", tag, check=False)
    if result.returncode != 0 and b"Cannot connect to the Docker daemon" in (result.stderr or b""):
        # not "missing": an image would be bootstrapped for minutes, only to fail at the end
        raise BuilderError("the Docker daemon is not running", hint=DOCKER_HINT)
    return result.returncode == 0


def run_logged(command: Sequence[str], log, timeout: float | None = None) -> int:
    """Run `command` with stdout and stderr appended to the open binary `log`."""
    return subprocess.run(list(command), stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, timeout=timeout).returncode
