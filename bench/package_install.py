"""Benchmark: gitlab-local's deb and rpm, with zstd and with xz: size, packaging time and
install time in a clean Debian 12 container.

Usage: .venv/bin/python bench/package_install.py [--project gitlab-local]
                                                [--compressions zstd:9,xz:6]

Needs the project built (`./dev build`); packages the cached artifacts again per compression
into cache/bench-install/<compression>/ (both formats in one `omnibus package` run, whose
per-package times are reported). Each package is then installed in its own clean container
from the debian-12 base image: its requirements first (apt: openssh-server and perl; for the
rpm also Debian's rpm and a stand-in rpm declaring them, as bench/e2e.py does), not timed;
then the timed, low-level install, inside the container: `dpkg -i` or `rpm -i` (both run the
package's scripts: links, gitlab.rb from its template, and `gitlab-ctl upgrade`, which skips
a host that was never configured). Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from e2e import ROOT, prepare_rpm_host, run

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog

WROTE = re.compile(r"wrote (\S+) \(([\d.]+ [kMG]?B)\) in ([\d.]+) s")
INSTALL = {
    ".deb": "apt-get install -y -qq openssh-server perl >/dev/null",
    ".rpm": "",  # prepare_rpm_host
}
TIMED = {
    ".deb": "dpkg -i /pkg/{name}",
    # Debian's rpm refuses to install without --force-debian (it points at alien instead)
    ".rpm": "rpm -i --force-debian /pkg/{name}",
}


def package(project: str, compression: str, out: Path) -> list[tuple[str, str, float]]:
    """(file name, size, packaging seconds) of each package written."""
    result = run([f"{ROOT}/.venv/bin/omnibus", "package", project, "--format", "deb,rpm",
                  "--compression", compression, "--out", str(out), "--root", str(ROOT)])
    if result.returncode != 0:
        raise SystemExit(f"omnibus package failed:\n{result.stderr[-2000:]}")
    written = [(name, size, float(seconds))
               for name, size, seconds in WROTE.findall(result.stdout + result.stderr)]
    if not written:
        raise SystemExit(f"nothing written to {out} (up to date? delete it):\n{result.stdout}")
    return written


def install_seconds(base: str, out: Path, name: str) -> tuple[float, str]:
    """Seconds the install took inside a clean container, and the installed tree's size."""
    container = run(["docker", "run", "-d", "-v", f"{out}:/pkg:ro", base, "sleep", "infinity"],
                    check=True).stdout.strip()
    try:
        prepare = "apt-get update -qq && " + (INSTALL[Path(name).suffix] or "true")
        run(["docker", "exec", "-e", "DEBIAN_FRONTEND=noninteractive", container, "sh", "-c",
             prepare], check=True)
        if name.endswith(".rpm"):
            prepare_rpm_host(container, out / name, time.monotonic())
        timed = TIMED[Path(name).suffix].format(name=name)
        script = (f"start=$(date +%s.%N); {timed} >/tmp/install.log 2>&1 || "
                  "{ cat /tmp/install.log; exit 1; }; end=$(date +%s.%N); "
                  "echo \"$start $end\"; du -sm /opt/gitlab | cut -f1")
        lines = run(["docker", "exec", container, "sh", "-c", script], check=True).stdout
        times, size = lines.splitlines()[-2:]
        start, end = (float(value) for value in times.split())
        return end - start, f"{size} MB"
    finally:
        run(["docker", "rm", "-f", container])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="gitlab-local")
    parser.add_argument("--compressions", default="zstd:9,xz:6")
    args = parser.parse_args()
    base = ensure_base(load_catalog(ROOT).platforms["debian-12"], "amd64",
                       lambda *_args, **_kw: None)
    rows = []
    for compression in args.compressions.split(","):
        out = ROOT / "cache" / "bench-install" / compression.replace(":", "-")
        subprocess.run(["rm", "-rf", str(out)], check=True)
        for name, size, seconds in package(args.project, compression, out):
            installed, tree = install_seconds(base, out, name)
            rows.append(f"| {Path(name).suffix[1:]} | {compression.replace(':', ' ')} | {size} "
                        f"| {seconds:.1f} s | {installed:.1f} s | {tree} |")
            print(rows[-1], flush=True)
    print("\n| format | compression | package | packaging | install | installed tree |\n"
          "|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
