"""Benchmark: the all-in-one image of the built package: its size, start-to-healthy on empty
volumes (the first reconfigure, initdb included) and on used ones (a restart), and how long
`docker stop` takes.

Usage: .venv/bin/python bench/image_start.py [--project gitlab-local] [--runs 3]

Makes the image with `omnibus image package PROJECT` (the newest .deb in pkg/; `./dev build`
first) and times each phase from this machine's side: `docker run` to the first healthy
probe (probes every second, `--health-interval 1s`, so the figure is at most a second late),
and `docker stop` until it returns. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOLUMES = ("/etc/gitlab", "/var/opt/gitlab", "/var/log/gitlab")
CONFIG = "external_url 'http://gitlab.example.test'"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def healthy_after(container: str, started: float) -> float:
    while True:
        state = json.loads(docker("inspect", "-f", "{{json .State}}", container))
        if state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - started
        if not state["Running"] or time.monotonic() - started > 600:
            raise SystemExit(f"{container[:12]} never became healthy:\n"
                             + docker("logs", "--tail", "40", container))
        time.sleep(0.2)


def start(image: str, volumes: dict[str, str]) -> tuple[str, float]:
    mounts = [arg for path, name in volumes.items() for arg in ("-v", f"{name}:{path}")]
    started = time.monotonic()
    container = docker("run", "-d", "--health-interval", "1s", *mounts, "-e",
                       f"GITLAB_OMNIBUS_CONFIG={CONFIG}", image)
    return container, healthy_after(container, started)


def stop(container: str) -> float:
    started = time.monotonic()
    docker("stop", "-t", "60", container)
    took = time.monotonic() - started
    code = docker("inspect", "-f", "{{.State.ExitCode}}", container)
    docker("rm", container)
    if code != "0":
        raise SystemExit(f"{container[:12]} exited {code} on docker stop")
    return took


def one_run(image: str) -> tuple[float, float, float]:
    volumes = {path: f"bench-image-{uuid.uuid4().hex[:8]}" for path in VOLUMES}
    try:
        container, first = start(image, volumes)
        stopped = stop(container)
        container, again = start(image, volumes)
        stop(container)
        return first, again, stopped
    finally:
        for name in volumes.values():
            subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="gitlab-local")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    made = subprocess.run([str(ROOT / ".venv/bin/omnibus"), "image", "package", args.project,
                           "--root", str(ROOT)], capture_output=True, text=True)
    if made.returncode != 0:
        raise SystemExit(made.stdout + made.stderr)
    image = made.stdout.strip().splitlines()[-1]
    making = time.monotonic() - started
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image)) / 1e6
    runs = [one_run(image) for _ in range(args.runs)]
    first, again, stopped = (statistics.median(values) for values in zip(*runs, strict=True))
    print(f"\nimage {image}: {size:.0f} MB, made in {making:.0f} s; medians of {args.runs} runs\n")
    print("| empty volumes: run to healthy | used volumes: run to healthy | `docker stop` |")
    print("|---|---|---|")
    print(f"| {first:.1f} s | {again:.1f} s | {stopped:.1f} s |")
    print("runs:", ", ".join(f"({a:.1f}, {b:.1f}, {c:.1f})" for a, b, c in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
