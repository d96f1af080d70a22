"""Wall time of `gitlab-ctl reconfigure`: the first run (without initdb) and no-op re-runs.

Usage: .venv/bin/python bench/reconfigure_speed.py [--deb PKG.deb] [--runs 10] [--all-services]

Runs in a clean Debian 12 container (docker), timing each reconfigure inside the container
(`date +%s.%N` around the command, so docker's own exec overhead is not counted):
- default: the integration test's host, where Debian's PostgreSQL, Redis, nginx and runit are
  linked into /opt/gitlab/embedded and gitlab_ctl comes from this checkout;
- --deb: the real package (e.g. pkg/gitlab-local_*.deb from `./dev build`) installed with apt,
  so reconfigure runs on the package's own Python, PostgreSQL, Redis, nginx and BusyBox runit.
--all-services turns on every service this gitlab-ctl configures besides the default ones
(registry, Pages, mail_room, gitlab-sshd, crond, storage-check, gitlab-backup-cli; the
monitoring services and KAS run by default), so each run renders and checks all of them;
those whose program the package does not include are configured and noted, not started.
The first run's time is reported with and without initdb, whose duration reconfigure's log
records. The peer, omnibus-gitlab's Chef-based reconfigure, cannot run here (no Cinc client
and no omnibus-gitlab package reachable), so no ratio is measured; BENCHMARKS.md says so.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog
from tests.integration import runtime_host as runtime

ROOT = Path(__file__).resolve().parent.parent
CTL = "/opt/gitlab/bin/gitlab-ctl"
DEFAULT_RB = "external_url 'http://gitlab.example.test'\n"
ALL_SERVICES_RB = DEFAULT_RB + """registry_external_url 'http://registry.example.test'
pages_external_url 'http://pages.example.test'
gitlab_rails['incoming_email_enabled'] = true
gitlab_rails['incoming_email_address'] = 'incoming+%{key}@example.test'
gitlab_sshd['enable'] = true
crond['enable'] = true
storage_check['enable'] = true
gitlab_backup_cli['enable'] = true
storage_check['target'] = 'unix:///var/opt/gitlab/gitlab-rails/sockets/gitlab.socket'
"""


def timed(container: str, command: str) -> tuple[float, str]:
    """Seconds the command took inside the container, and its output."""
    script = (f"start=$(date +%s.%N); {command} > /tmp/bench.out 2>&1; status=$?; "
              "end=$(date +%s.%N); cat /tmp/bench.out; echo \"@@ $start $end $status\"")
    output = runtime.sh(container, script).stdout
    start, end, status = re.search(r"@@ (\S+) (\S+) (\d+)\s*$", output).groups()
    if status != "0":
        raise SystemExit(f"{command} failed:\n{output}")
    return float(end) - float(start), output


def host_from_checkout(image: str) -> str:
    tree = runtime.install_tree(Path(tempfile.mkdtemp()))
    name = runtime.docker("run", "-d", image, "sleep", "infinity").stdout.strip()
    runtime.docker("cp", f"{tree}/.", f"{name}:{runtime.INSTALL_DIR}/")
    links = " && ".join(f"mkdir -p $(dirname {runtime.PREFIX}/{p}) && "
                        f"ln -s {d} {runtime.PREFIX}/{p}"
                        for p, d in runtime.DISTRO_BINARIES.items())
    runtime.sh(name, links)
    return name


def host_from_package(deb: Path) -> str:
    platform = load_catalog(ROOT).platforms["debian-12"]
    base = ensure_base(platform, "amd64", lambda *_args, **_kw: None)
    name = runtime.docker("run", "-d", "-v", f"{deb.resolve().parent}:/pkg:ro", base, "sleep",
                          "infinity").stdout.strip()
    runtime.sh(name, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install "
               f"-y -qq /pkg/{deb.name} > /tmp/install.log 2>&1 || "
               "{ cat /tmp/install.log; exit 1; }")
    return name


def initdb_seconds(container: str) -> float:
    log = runtime.sh(container, "cat $(ls /var/log/gitlab/reconfigure/*.log | head -1)").stdout
    found = re.search(r"^\s+([\d.]+) s\s+execute\[initdb\]$", log, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def measure(container: str, runs: int, gitlab_rb: str) -> dict:
    runtime.sh(container, "mkdir -p /etc/gitlab && printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
               env={"RB": gitlab_rb})
    first, output = timed(container, f"{CTL} reconfigure")
    updated = re.search(r"Checked (\d+) resources, (\d+) updated", output).groups()
    noops = [timed(container, f"{CTL} reconfigure")[0] for _ in range(runs)]
    status, _ = timed(container, f"{CTL} status")
    return {"first": first, "initdb": initdb_seconds(container), "resources": updated,
            "noops": noops, "status": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, help="measure this package instead of the checkout")
    parser.add_argument("--runs", type=int, default=10, help="no-op runs (default 10)")
    parser.add_argument("--all-services", action="store_true",
                        help="enable every service gitlab-ctl configures, not only the defaults")
    args = parser.parse_args()
    if args.deb:
        container = host_from_package(args.deb)
    else:
        container = host_from_checkout(runtime.build_runtime_image())
    try:
        result = measure(container, args.runs,
                         ALL_SERVICES_RB if args.all_services else DEFAULT_RB)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    total, changed = result["resources"]
    print(f"subject: {args.deb.name if args.deb else 'checkout + Debian binaries'}"
          f"{', every service enabled' if args.all_services else ''}")
    print(f"first reconfigure: {result['first']:.2f} s wall ({changed} of {total} resources "
          f"changed), initdb {result['initdb']:.2f} s, without initdb "
          f"{result['first'] - result['initdb']:.2f} s")
    print(f"no-op reconfigure ({args.runs} runs): median {statistics.median(result['noops']):.3f}"
          f" s, max {max(result['noops']):.3f} s")
    print(f"gitlab-ctl status: {result['status']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
