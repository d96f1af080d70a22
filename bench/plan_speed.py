"""Benchmark: wall time of `omnibus plan` on a 100-software project (goal: under 0.3 s).

Usage: .venv/bin/python bench/plan_speed.py [--count 100] [--runs 15]

Writes a synthetic definitions root (bench/synthetic.py) and times the real console script in
fresh processes, as a user or CI job runs it: once with an empty artifact cache (everything
to build) and once with every artifact cached. Also prints where the time goes in-process.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import write_root

from builder.compile.cache import ArtifactCache
from builder.compile.plan import make_plan
from builder.definitions.loader import load_catalog
from builder.digests import write_atomic
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys

OMNIBUS = Path(sys.executable).parent / "omnibus"


def time_runs(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def phases(root: Path, cache: ArtifactCache) -> dict[str, float]:
    marks = [time.perf_counter()]
    catalog = load_catalog(root)
    marks.append(time.perf_counter())
    graph = resolve(catalog, catalog.projects["synthetic"], catalog.platforms["debian-12"], "amd64")
    marks.append(time.perf_counter())
    keys = compute_keys(graph, root)
    marks.append(time.perf_counter())
    make_plan(graph, keys, cache)
    marks.append(time.perf_counter())
    names = ("load", "resolve", "keys", "plan")
    return {name: marks[i + 1] - marks[i] for i, name in enumerate(names)}


def fill_cache(root: Path, cache: ArtifactCache) -> None:
    catalog = load_catalog(root)
    graph = resolve(catalog, catalog.projects["synthetic"], catalog.platforms["debian-12"], "amd64")
    for record in compute_keys(graph, root).values():
        write_atomic(cache.artifact_path(record.key), b"")
        write_atomic(cache.sidecar_path(record.key), b"{}")


def summary(label: str, times: list[float]) -> str:
    return (f"| {label} | {min(times):.3f} | {statistics.median(times):.3f} | "
            f"{max(times):.3f} | {len(times)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="software in the project")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnibus-bench-"))
    try:
        root = write_root(work / "defs", args.count)
        cache = ArtifactCache(work / "cache")
        argv = [str(OMNIBUS), "plan", "synthetic", "--platform", "debian-12", "--arch",
                "amd64", "--root", str(root), "--cache-dir", str(cache.root)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        cold = time_runs(argv, args.runs)
        fill_cache(root, cache)
        warm = time_runs(argv, args.runs)
        breakdown = phases(root, cache)
    finally:
        shutil.rmtree(work)
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    print(f"omnibus plan of {args.count} software (seconds, wall, fresh process each run)\n")
    print("| case | min | median | max | runs |\n|---|---|---|---|---|")
    print(summary("nothing cached", cold))
    print(summary("everything cached", warm))
    print("\nin-process phases (s): "
          + ", ".join(f"{name} {seconds:.4f}" for name, seconds in breakdown.items()))
    verdict = "meets" if statistics.median(cold) < 0.3 else "MISSES"
    print(f"\ngoal < 0.3 s median: {verdict}")


if __name__ == "__main__":
    main()
