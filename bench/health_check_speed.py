"""Benchmark: the health check of a ~400 MB tree holding ~5,000 ELF files.

Usage: .venv/bin/python bench/health_check_speed.py [--elf 5000] [--size-mb 400] [--runs 3]
                                                    [--work /var/tmp/omnibus-bench-health]

The tree is real content from this machine's /usr: ELF files found there (programs and
shared libraries, smallest first, each copied under two prefixes: /usr here has fewer
than --elf small enough), then other
files (Python, Perl, docs) until the size is reached; staged under /opt/bench. Each run is
`check_stage` over the whole stage (ELF parsing with pyelftools, NEEDED resolution through
RPATH/RUNPATH, GLIBC versions, modes, links and the build-path scan of text files). Goal:
under 10 s on 2 cores. No peer: omnibus's health check runs ldd/otool over each file and
needs the Ruby toolchain, which this machine cannot install.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.definitions.loader import load_catalog
from builder.package.healthcheck import check_stage
from builder.package.stage import make_stage

ROOT = Path(__file__).resolve().parent.parent
FILLERS = ("/usr/lib/python3", "/usr/share/perl", "/usr/share/doc", "/usr/share")


def _elf_files(limit: int) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk("/usr"):
        dirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_symlink() or not path.is_file():
                continue
            try:
                with path.open("rb") as handle:
                    if handle.read(4) == b"\x7fELF":
                        found.append(path)
            except OSError:
                continue
    return found


def make_tree(target: Path, elf_count: int, budget: int) -> None:
    # The smallest ELF files first, so that 5,000 of them fit a GitLab-like 400 MB tree
    # (/usr here also holds a few very large programs).
    elves = sorted(_elf_files(elf_count), key=lambda p: (p.stat().st_size, str(p)))
    total, copied = 0, 0
    for path in elves:
        for copy in range(2):
            if copied >= elf_count or total >= budget * 0.9:
                break
            destination = target / f"set{copy}" / path.relative_to("/usr")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            total += destination.stat().st_size
            copied += 1
    for source in FILLERS:
        for directory, dirs, files in os.walk(source):
            dirs.sort()
            for name in sorted(files):
                if total >= budget:
                    return
                path = Path(directory, name)
                destination = target / "data" / path.relative_to("/usr")
                if path.is_symlink() or not path.is_file() or destination.exists():
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
                total += destination.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elf", type=int, default=5000)
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/omnibus-bench-health"))
    args = parser.parse_args()
    source = args.work / f"tree-{args.elf}-{args.size_mb}"
    if not source.exists():
        print(f"copying {args.elf} ELF files and {args.size_mb} MB in all into {source}")
        make_tree(source / "bench", args.elf, args.size_mb * 1_000_000)
    stage = make_stage([("bench", source, ())], "/opt", [], args.work / "stage")
    platform = load_catalog(ROOT).platforms["debian-12"]
    elves = 0
    for entry in stage.entries:
        if entry.kind == "file":
            with open(stage.source(entry), "rb") as handle:
                elves += handle.read(4) == b"\x7fELF"
    size = sum(e.size for e in stage.entries)
    print(f"tree: {size:,} bytes, {elves:,} ELF files, {len(stage.entries):,} entries; "
          f"{os.cpu_count()} CPUs")
    seconds, offences = [], []
    for _ in range(args.runs):
        started = time.monotonic()
        offences = check_stage(stage, platform.allowed_libs, platform.glibc, {})
        seconds.append(time.monotonic() - started)
    print(f"health check: median {statistics.median(seconds):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in seconds)}); {len(offences)} offences "
          "(system libraries of /usr's programs, as expected for this tree)")


if __name__ == "__main__":
    main()
