"""Benchmark: toolchain bootstrap, and the cold build of the toolchain-proof project.

Usage: .venv/bin/python bench/toolchains.py [--runs 3]

1. Bootstrap: Go, Node.js and yarn into an empty cache for amd64 (`omnibus toolchains
   --fetch`: download through the Debian mirror apt uses and the registry npm uses, verify
   each checksum, unpack, inline Debian's links), against the peer measured in the same run:
   the same files with the standard tools (curl, sha256sum/sha512sum, dpkg-deb -x, tar).
   Runs alternate; the median is reported.
2. Cold build of toolchain-proof (redis_exporter with its vendored Go modules, webpack assets
   with yarn): an empty cache, so toolchains, Go modules and npm packages are fetched too;
   then the warm (no-op) build of the same.
Docker images (base and builder) are made beforehand and not timed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OMNIBUS = ROOT / ".venv/bin/omnibus"


def run(argv: list[str], **kwargs) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = result.stdout[-2000:] + result.stderr[-2000:]
        raise SystemExit(f"{' '.join(argv)} failed:\n{tail}")
    return time.perf_counter() - started


def ours(scratch: Path) -> float:
    cache = scratch / "ours"
    seconds = run([str(OMNIBUS), "toolchains", "--fetch", "--arch", "amd64", "--cache-dir",
                   str(cache), "--root", str(ROOT)])
    shutil.rmtree(cache)
    return seconds


def peer(scratch: Path) -> float:
    """The same files, with curl, a checksum tool, dpkg-deb and tar."""
    from builder.definitions.loader import load_catalog
    from builder.sources.registries import debian_mirrors, npm_registry

    catalog = load_catalog(ROOT)
    work = scratch / "peer"
    work.mkdir()
    started = time.perf_counter()
    for toolchain in catalog.toolchains.values():
        target = work / toolchain.name
        target.mkdir()
        for item in toolchain.files_for("amd64") or ():
            file = work / item.file_name
            if item.kind == "debian":
                url = f"{debian_mirrors()[0]}/{item.location}"
            else:
                name = item.location.rpartition("@")[0]
                url = f"{npm_registry().rstrip('/')}/{name}/-/{item.file_name}"
            subprocess.run(["curl", "-fsSL", "-o", str(file), url], check=True)
            if item.sha256:
                digest = hashlib.sha256(file.read_bytes()).hexdigest()
                assert digest == item.sha256, item.file_name
                subprocess.run(["dpkg-deb", "-x", str(file), str(target)], check=True)
            else:
                raw = base64.b64decode(str(item.integrity).partition("-")[2])
                assert hashlib.sha512(file.read_bytes()).digest() == raw, item.file_name
                subprocess.run(["tar", "-xzf", str(file), "-C", str(target)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(work)
    return seconds


def cold_build(scratch: Path) -> tuple[float, float]:
    cache = scratch / "build-cache"
    argv = [str(OMNIBUS), "build", "toolchain-proof", "--no-package", "--cache-dir", str(cache),
            "--root", str(ROOT)]
    cold = run(argv)
    warm = run(argv)
    shutil.rmtree(cache)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    with tempfile.TemporaryDirectory(prefix="bench-toolchains-") as name:
        scratch = Path(name)
        for _ in range(args.runs):
            times["ours"].append(ours(scratch))
            times["peer"].append(peer(scratch))
        cold, warm = cold_build(scratch)
    ours_median, peer_median = (statistics.median(times[k]) for k in ("ours", "peer"))
    print("| bootstrap of go, node, yarn (amd64) | median s | runs |")
    print("|---|---|---|")
    print(f"| omnibus toolchains --fetch (download, verify, unpack) | {ours_median:.1f} | "
          f"{', '.join(f'{t:.1f}' for t in times['ours'])} |")
    print(f"| peer: curl + sha256sum/sha512sum + dpkg-deb -x / tar | {peer_median:.1f} | "
          f"{', '.join(f'{t:.1f}' for t in times['peer'])} |")
    print(f"\nratio ours/peer: {ours_median / peer_median:.2f}")
    print(f"\ntoolchain-proof cold build (empty cache, toolchains and vendored packages "
          f"fetched): {cold:.1f} s; warm (no-op): {warm:.1f} s")


if __name__ == "__main__":
    main()
