"""Benchmark: cold builds with --jobs 1 and --jobs 2, and the no-op build of a cached project.

Usage: .venv/bin/python bench/build_speed.py [--software zlib,openssl,pcre2,redis]
                                             [--skip-cold] [--runs 5]

Writes a root with the repository's definitions and a project of the given software, fetches
the sources once (through the mirror chain, into a shared download cache), then times
`omnibus build` from an empty artifact cache with --jobs 1 and with --jobs 2 (the builder
image exists already, as in a CI job), and finally the no-op build of the fully cached
project, in fresh processes. Cold builds take many minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roots import root_with_project

OMNIBUS = Path(sys.executable).parent / "omnibus"


def build(root: Path, cache: Path, downloads: Path, jobs: int) -> float:
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "downloads").exists():
        os.symlink(downloads, cache / "downloads")
    started = time.monotonic()
    result = subprocess.run([str(OMNIBUS), "build", "bench", "--root", str(root), "--cache-dir",
                             str(cache), "--jobs", str(jobs), "--mirror", "debian"],
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.stderr[-3000:]}")
    print(result.stdout.strip().splitlines()[-1], flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--software", default="zlib,openssl,pcre2,redis")
    parser.add_argument("--skip-cold", action="store_true", help="only the no-op build")
    parser.add_argument("--runs", type=int, default=5, help="no-op runs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnibus-buildbench-"))
    try:
        root = root_with_project(work / "root", "bench", args.software.split(","))
        downloads = work / "downloads"
        subprocess.run([str(OMNIBUS), "fetch", "bench", "--root", str(root), "--cache-dir",
                        str(work / "fetch"), "--mirror", "debian"], check=True,
                       capture_output=True)
        shutil.move(work / "fetch" / "downloads", downloads)
        print(f"software: {args.software}; machine: {os.cpu_count()} CPUs", flush=True)
        if not args.skip_cold:
            one = build(root, work / "jobs1", downloads, 1)
            two = build(root, work / "jobs2", downloads, 2)
            print(f"\n| cold build | seconds |\n|---|---|\n| --jobs 1 | {one:.0f} |\n"
                  f"| --jobs 2 | {two:.0f} |\n\nratio jobs1/jobs2: {one / two:.2f}")
            warm = work / "jobs2"
        else:
            warm = work / "warm"
            build(root, warm, downloads, 2)
        times = []
        for _ in range(args.runs):
            times.append(build(root, warm, downloads, 2))
        print(f"\nno-op build of the cached project: median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} runs (goal: under 3 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
