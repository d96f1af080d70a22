"""What the image tests share: docker, starting a container of the image on named volumes,
waiting for its health check, running in it, stopping it."""

from __future__ import annotations

import json
import subprocess
import time

CONFIG = "external_url 'http://gitlab.example.test'; redis['maxclients'] = 1234"
VOLUMES = ("/etc/gitlab", "/var/opt/gitlab", "/var/log/gitlab")


def docker(*args: str, check: bool = True, timeout: float = 600,
           input: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                            input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}: {result.stdout}{result.stderr}")
    return result


def mounts(volumes: dict[str, str]) -> list[str]:
    return [arg for path, name in volumes.items() for arg in ("-v", f"{name}:{path}")]


def start(image: str, volumes: dict[str, str], config: str = CONFIG,
          env: dict[str, str] | None = None) -> str:
    variables = [arg for name, value in (env or {}).items() for arg in ("-e", f"{name}={value}")]
    return docker("run", "-d", "--health-interval", "2s", "--hostname", "gitlab",
                  *mounts(volumes), "-e", f"GITLAB_OMNIBUS_CONFIG={config}", *variables,
                  image).stdout.strip()


def on_volumes(image: str, volumes: dict[str, str], script: str) -> str:
    """A shell script in a throw-away container of the image, on the volumes (not the
    entrypoint: nothing starts)."""
    return docker("run", "--rm", *mounts(volumes), "--entrypoint", "sh", image, "-c",
                  script).stdout


def wait_healthy(container: str, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container).stdout)
        if state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - started
        if not state["Running"]:
            break
        time.sleep(1)
    raise AssertionError(f"{container[:12]} did not become healthy:\n"
                         + docker("logs", container, check=False).stdout[-4000:])


def wait_exit(container: str, timeout: float = 300) -> tuple[int, str]:
    """The exit code and the logs of a container that ends by itself; it is removed."""
    docker("wait", container, timeout=timeout)
    code = int(docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout)
    logs = docker("logs", container).stdout
    docker("rm", container)
    return code, logs


def sh(container: str, script: str) -> str:
    return docker("exec", container, "sh", "-c", script).stdout


def stop(container: str) -> tuple[int, str]:
    """`docker stop` with a timeout the services must meet; the exit code and the logs."""
    docker("stop", "-t", "60", container, timeout=120)
    code = int(docker("inspect", "-f", "{{.State.ExitCode}}", container).stdout)
    logs = docker("logs", container).stdout
    docker("rm", container)
    return code, logs


def wait_said(container: str, line: str, timeout: float = 300) -> str:
    """The container's logs once they hold `line`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = docker("logs", container).stdout
        if line in logs:
            return logs
        if docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() != "true":
            break
        time.sleep(1)
    raise AssertionError(f"{container[:12]} never said {line!r}:\n{logs[-4000:]}")


def wait_running(container: str, timeout: float = 300) -> str:
    """Healthy, and container-run past its start steps (post script, pg-upgrade check); its
    logs so far."""
    wait_healthy(container, timeout)
    return wait_said(container, "GitLab is running", timeout)
