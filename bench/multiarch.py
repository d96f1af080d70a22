"""Multi-arch check: zlib built for arm64 (debian-12) and armhf (raspbian-bookworm) under qemu.

Usage: .venv/bin/python bench/multiarch.py [--cache-dir DIR]

Builds each builder image (bootstrapped with mmdebstrap, run under qemu-user emulation),
builds zlib in it with `omnibus build`, then checks what a release engineer would check:
`readelf -h` shows the right machine, the armhf objects carry ARMv6 attributes
(`readelf -A`), and a program linked against the built libz runs under emulation. Prints a
table for BENCHMARKS.md. Takes tens of minutes on two cores: it emulates compilers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roots import root_with_project

OMNIBUS = Path(sys.executable).parent / "omnibus"
TARGETS = (("debian-12", "arm64", "AArch64"), ("raspbian-bookworm", "armhf", "ARM"))
CHECK_C = r"""
#include <stdio.h>
#include <string.h>
#include <zlib.h>
int main(void) {
    const char *text = "omnibus multi-arch check omnibus multi-arch check";
    unsigned char packed[256], unpacked[256];
    uLongf packed_size = sizeof packed, unpacked_size = sizeof unpacked;
    if (compress(packed, &packed_size, (const Bytef *)text, strlen(text) + 1) != Z_OK) return 1;
    if (uncompress(unpacked, &unpacked_size, packed, packed_size) != Z_OK) return 2;
    printf("zlib %s round trip %s\n", zlibVersion(), strcmp(text, (char *)unpacked) ? "BAD" : "ok");
    return 0;
}
"""


def run(*command: str, **options) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, **options)


def check(root: Path, cache: Path, platform: str, arch: str, machine: str) -> dict:
    started = time.monotonic()
    built = run(str(OMNIBUS), "build", "zlib-only", "--platform", platform, "--arch", arch,
                "--root", str(root), "--cache-dir", str(cache), "--mirror", "debian")
    seconds = time.monotonic() - started
    if built.returncode != 0:
        return {"target": f"{platform}/{arch}", "ok": False, "why": built.stderr[-2000:]}
    sidecar = next(json.loads(p.read_text()) for p in (cache / "artifacts").glob("*.json")
                   if json.loads(p.read_text())["arch"] == arch)
    tree = cache / "unpacked" / sidecar["key"]
    library = sorted((tree / "embedded/lib").glob("libz.so.*.*"))[0]
    header = run("readelf", "-h", str(library)).stdout
    attributes = run("readelf", "-A", str(tree / "embedded/lib/libz.a")).stdout
    image = sidecar["image"]
    (cache / "check.c").write_text(CHECK_C)
    probe = run("docker", "run", "--rm", "-v", f"{tree}:/opt/gitlab", "-v", f"{cache}:/work",
                image,
                "sh", "-c", "cc -o /tmp/check /work/check.c -I/opt/gitlab/embedded/include "
                "-L/opt/gitlab/embedded/lib -lz -Wl,-rpath,/opt/gitlab/embedded/lib && "
                "/tmp/check && uname -m")
    return {
        "target": f"{platform}/{arch}", "seconds": round(seconds), "ok": probe.returncode == 0,
        "machine": f"Machine: {machine}" in header.replace("  ", " ") or machine in header,
        "armv6": "Tag_CPU_arch: v6" in attributes if arch == "armhf" else None,
        "run": probe.stdout.strip().replace("\n", " / "),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, help="keep the cache here (default: temporary)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnibus-multiarch-"))
    cache = (args.cache_dir or work / "cache").resolve()
    results = []
    try:
        for platform, arch, machine in TARGETS:
            root = root_with_project(work / f"root-{arch}", "zlib-only", ["zlib"])
            results.append(check(root, cache, platform, arch, machine))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| target | build s (cold, incl. image) | readelf machine | ARMv6 attrs | runs |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['target']} | {r.get('seconds', '-')} | {r.get('machine')} | "
              f"{r.get('armv6', 'n/a')} | {r.get('run') or r.get('why', '')[:200]} |")


if __name__ == "__main__":
    main()
