"""Benchmark: `omnibus plan` and a no-op `omnibus build` of two checkouts, run alternately.

Usage: .venv/bin/python bench/before_after.py BEFORE_DIR AFTER_DIR [--project gitlab-local]
       [--runs 20] [--cache-dir DIR]

For a change that must not make the quick paths slower (a refactoring, say): each checkout
runs its own `.venv/bin/omnibus` in fresh processes, one after the other, so both see the
same load on a shared machine. Both use one artifact cache (default: this checkout's
cache/), so both plans read the same records, and the no-op build compiles nothing: only
what differs between the two (their gitlab-ctl, say) is built once, in the warm-up run.
Packages go to a scratch directory per checkout, signed with the local repository key in
cache/gnupg when there is one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_KEY = "local-repository@omnibus.invalid"


def omnibus(checkout: Path, argv: list[str], environ: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([str(checkout / ".venv/bin/omnibus"), *argv, "--root", str(checkout)],
                            cwd=checkout, env=environ, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{checkout}: omnibus {' '.join(argv)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def alternate(checkouts: dict[str, Path], argv_of, runs: int,
              environ: dict[str, str]) -> dict[str, list[float]]:
    for name, checkout in checkouts.items():  # warm-up: page cache, and anything to build
        omnibus(checkout, argv_of(name), environ)
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(runs):
        for name, checkout in checkouts.items():
            times[name].append(omnibus(checkout, argv_of(name), environ))
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    print(f"\n{title}\n| checkout | min | median | max | runs |\n|---|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.3f} | {statistics.median(values):.3f} | "
              f"{max(values):.3f} | {len(values)} |")
    before, after = (statistics.median(values) for values in times.values())
    print(f"after / before (medians): {after / before:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--project", default="gitlab-local")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "cache")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    environ = dict(os.environ)
    if (args.cache_dir / "gnupg").is_dir():
        environ.update(GNUPGHOME=str(args.cache_dir / "gnupg"), OMNIBUS_SIGN_KEY=LOCAL_KEY)
    plan = alternate(checkouts, lambda _name: ["plan", args.project, "--cache-dir",
                                               str(args.cache_dir)], args.runs, environ)
    with tempfile.TemporaryDirectory(prefix="before-after-") as scratch:
        build = alternate(checkouts, lambda name: [
            "build", args.project, "--format", "deb,rpm", "--cache-dir", str(args.cache_dir),
            "--out", f"{scratch}/{name}"], max(args.runs // 3, 3), environ)
    print(f"before: {checkouts['before']}\nafter: {checkouts['after']}")
    report(f"omnibus plan {args.project} (seconds, wall, fresh process each run)", plan)
    report(f"no-op omnibus build {args.project} --format deb,rpm (everything cached, "
           "packages up to date)", build)


if __name__ == "__main__":
    main()
