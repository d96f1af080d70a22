"""End to end, as an administrator: install the built package from the local signed apt
repository into a clean Debian 12 container, check every bundled service, upgrade to a
rebuilt N+1 package through the repository, check again.

Usage: .venv/bin/python bench/e2e.py [--project gitlab-local] [--repo repo] (or ./dev e2e)

Needs the package in pkg/ and its repository in repo/ (`./dev build` makes both). N+1 is the
same artifacts packaged as a nightly (`0.1.0+rnightly.<n>.<sha>-0` sorts after `0.1.0-ce.0`),
so no software is rebuilt. The repository is served over HTTP on the docker bridge's gateway
(the package's nginx takes the container's port 80, never this machine's). Prints each step
with its time; exits 1 at the first failed check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.images import ensure_base  # noqa: E402
from builder.loader import load_catalog  # noqa: E402
from tests.httpserver import docker_bridge_gateway, serving_directory  # noqa: E402

CHECKS = {
    "services run (gitlab-ctl status)": "gitlab-ctl status",
    "PostgreSQL answers over its socket": "gitlab-psql -tA -c 'select 1' | grep -qx 1",
    "Redis answers on its socket": "gitlab-redis-cli ping | grep -qx PONG",
    # 502 from nginx itself: gitlab-local bundles no workhorse or Rails behind it
    "nginx answers on port 80": "curl -s -o /dev/null -w '%{http_code}' "
                                "-H 'Host: gitlab.example.test' http://127.0.0.1/ | grep -qx 502",
    "the data written before is there":
        "gitlab-psql -d gitlabhq_production -tA -c 'select v from e2e_probe' | grep -qx kept "
        "&& gitlab-redis-cli get e2e:probe | grep -qx kept",
}


def step(title: str, started: float) -> None:
    print(f"==> [{time.monotonic() - started:6.1f} s] {title}", flush=True)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, text=True, capture_output=True, **kwargs)


def in_container(name: str, script: str, check: bool = True) -> str:
    result = run(["docker", "exec", name, "sh", "-c", script])
    if check and result.returncode != 0:
        raise SystemExit(f"e2e: failed: {script}\n{result.stdout}{result.stderr}")
    return result.stdout


def publish_next(project: str, repo: Path) -> None:
    """Package the cached artifacts again as a nightly (N+1) and publish it."""
    out = ROOT / "cache" / "e2e-next"
    env = {**os.environ, "NIGHTLY": "true", "CI_PIPELINE_ID": str(int(time.time())),
           "CI_COMMIT_SHA": "e2e0" * 10}
    for verb in (["package", project, "--out", str(out)],
                 ["publish", project, "--from", str(out), "--repo", str(repo)]):
        if subprocess.run([f"{ROOT}/.venv/bin/omnibus", *verb, "--root", str(ROOT)],
                          env=env).returncode != 0:
            raise SystemExit(f"e2e: `omnibus {verb[0]}` of N+1 failed (its error is above); "
                             "if the sources changed since the last build, run ./dev build")


def built_version(project: str) -> str:
    """The deb version of the project's package in pkg/ (N: what ./dev build wrote)."""
    packages = sorted((ROOT / "pkg").glob(f"{project}_*_amd64.deb"),
                      key=lambda path: path.stat().st_mtime)
    if not packages:
        raise SystemExit(f"e2e: no {project} package in pkg/; run ./dev build first")
    return packages[-1].name.split("_")[1]


def check_all(name: str, started: float) -> None:
    for title, script in CHECKS.items():
        in_container(name, script)
        step(f"ok: {title}", started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="gitlab-local")
    parser.add_argument("--repo", type=Path, default=ROOT / "repo")
    args = parser.parse_args()
    started = time.monotonic()
    platform = load_catalog(ROOT).platforms["debian-12"]
    repo_dir = args.repo.resolve() / platform.id
    if not (repo_dir / "dists").is_dir():
        raise SystemExit(f"e2e: no repository in {repo_dir}; run ./dev build first")
    base = ensure_base(platform, "amd64", lambda *_args, **_kw: None)
    with serving_directory(args.repo.resolve(), docker_bridge_gateway()) as root_url:
        name = run(["docker", "run", "-d", "-v", f"{repo_dir}:/repo:ro", base, "sleep",
                    "infinity"], check=True).stdout.strip()
        try:
            return scenario(name, f"{root_url}/{platform.id}", args, started)
        finally:
            run(["docker", "rm", "-f", name])


def scenario(name: str, url: str, args: argparse.Namespace, started: float) -> int:
    step("clean Debian 12 container; adding the signed repository as a user would", started)
    in_container(name, "cp /repo/gitlab-archive-keyring.gpg /usr/share/keyrings/ && "
                 f"sed 's#^URIs: .*#URIs: {url}#' /repo/gitlab.sources "
                 "> /etc/apt/sources.list.d/gitlab.sources && apt-get update -qq && "
                 "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null")
    version = built_version(args.project)
    step(f"apt-get install {args.project}={version} (postinst reconfigures)", started)
    print(in_container(name, "EXTERNAL_URL=http://gitlab.example.test DEBIAN_FRONTEND="
                       f"noninteractive apt-get install -y -qq {args.project}={version} 2>&1 "
                       "| grep -E 'Reconfigured|Thank you|Checked'"), end="")
    in_container(name, "gitlab-psql -d gitlabhq_production -c \"create table e2e_probe (v text);"
                 " insert into e2e_probe values ('kept')\" && gitlab-redis-cli set e2e:probe "
                 "kept && gitlab-redis-cli save")
    check_all(name, started)
    step("packaging and publishing N+1 (the same artifacts, as a nightly)", started)
    publish_next(args.project, args.repo)
    step(f"apt-get install {args.project}: the upgrade through the repository", started)
    print(in_container(name, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get "
                       f"install -y -qq {args.project} 2>&1 | grep -E 'Upgrade complete|"
                       "backup archive|Unpacking'"), end="")
    print(in_container(name, f"dpkg-query -W {args.project}"), end="")
    check_all(name, started)
    step("end to end passed", started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
