"""Benchmark: assembling the install prefix of a software with 20 dependencies.

Usage (root): .venv/bin/python bench/prefix_assembly.py [--deps 20] [--files 2000]

Makes `--deps` artifact trees of `--files` small files each, then times what a build does
before it starts: stacking them as overlayfs layers (ours: one mount) against the classic
alternatives, a hardlink farm (`cp -al` of every tree) and a full copy (`cp -a`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.compile.prefix import PrefixMount


def make_trees(base: Path, deps: int, files: int) -> list[Path]:
    trees = []
    for index in range(deps):
        tree = base / f"artifact-{index:02d}"
        for number in range(files):
            path = tree / "embedded" / "lib" / f"dep{index}" / f"d{number % 40}" / f"f{number}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 512)
        trees.append(tree)
    return trees


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def overlay(trees: list[Path], work: Path) -> None:
    with PrefixMount(work, trees) as mount:
        assert (mount.merged / "embedded" / "lib" / "dep0").is_dir()


def copy_all(trees: list[Path], target: Path, flag: str) -> None:
    target.mkdir()
    for tree in trees:
        subprocess.run(["cp", flag, f"{tree}/.", str(target)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deps", type=int, default=20)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="omnibus-prefix-"))
    try:
        trees = make_trees(base / "trees", args.deps, args.files)
        results: dict[str, list[float]] = {"overlay (ours)": [], "hardlink farm": [],
                                           "copy": []}
        for run in range(args.runs):
            ours, farm, full = base / f"ov{run}", base / f"hl{run}", base / f"cp{run}"
            results["overlay (ours)"].append(timed(lambda o=ours: overlay(trees, o)))
            results["hardlink farm"].append(timed(lambda f=farm: copy_all(trees, f, "-al")))
            results["copy"].append(timed(lambda c=full: copy_all(trees, c, "-a")))
            for directory in (ours, farm, full):
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    total = args.deps * args.files
    print(f"prefix of {args.deps} dependencies, {total} files in all; median of {args.runs}\n")
    print("| method | median s | ratio to ours |\n|---|---|---|")
    ours = statistics.median(results["overlay (ours)"])
    for name, times in results.items():
        median = statistics.median(times)
        print(f"| {name} | {median:.4f} | {median / ours:.0f}x |")


if __name__ == "__main__":
    main()
