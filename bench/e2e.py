"""End to end, as an administrator: install the built package from its local signed
repository into a clean Debian 12 container, check every bundled service, upgrade to a
rebuilt N+1 package through the repository, check again. Once with apt and the .deb, once
with dnf and the .rpm.

Usage: .venv/bin/python bench/e2e.py [--project gitlab-local] [--repo repo] [--format deb,rpm]
       (or ./dev e2e)

Needs the packages in pkg/ and their repositories in repo/ (`./dev build` makes them). N+1 is
the same artifacts packaged as a nightly (`0.1.0+rnightly.<n>.<sha>-0` sorts after
`0.1.0-ce.0` for dpkg and rpm alike), so no software is rebuilt. It is published into a copy of
the repositories (cache/e2e/repo), never into repo/: there the test build would outrank the
release for whoever installs from repo/ afterwards. The repositories are served
over HTTP on the docker bridge's gateway (the package's nginx takes the container's port 80,
never this machine's). Prints each step with its time; exits 1 at the first failed check.

No rpm distribution's image can be made here (only Debian's archive is reachable), so the rpm
runs in a Debian 12 container with Debian's rpm and dnf. Debian's own packages are not in
rpm's database, so after apt installs what the rpm requires (perl, openssh-server), a
stand-in rpm made there with rpmbuild declares them; everything after that is dnf's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.compile.builder_images import ensure_base  # noqa: E402
from builder.definitions.loader import load_catalog  # noqa: E402
from builder.publish import repository_name  # noqa: E402
from tasks import signing_env  # noqa: E402
from tests.httpserver import docker_bridge_gateway, serving_directory  # noqa: E402
from tests.rpm_on_debian import HOST_PROVIDES_RPM, build_host_provides  # noqa: E402

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
SHOWN = "grep -E 'Reconfigured|Thank you|Checked|Upgrade complete|backup archive|Unpacking|" \
    "Upgrading|Installing|Removing|Erasing|stopped|kept'"
#: After removal: no process runs from the install dir, the programs are gone, the data and
#: configuration stay (as omnibus-gitlab's removal leaves them).
REMOVED = {
    "no service runs any more":
        # [b]: this check's own command line must not match itself
        "! grep -l 'opt/gitla[b]/' /proc/[0-9]*/cmdline 2>/dev/null | grep -q .",
    "the package's programs are gone": "! test -e /opt/gitlab/embedded/bin/postgres "
                                       "&& ! test -e /usr/bin/gitlab-ctl",
    "configuration and data stay": "test -f /etc/gitlab/gitlab.rb "
                                   "&& test -f /etc/gitlab/gitlab-secrets.json "
                                   "&& test -d /var/opt/gitlab/postgresql/data",
}


@dataclass(frozen=True)
class Client:
    """How an administrator installs from one kind of repository, as shell commands."""
    suffix: str  # the package file's ending in pkg/
    package_format: str  # deb or rpm: which repository of the platform it reads
    setup: str  # adds the repository; {url} is where it is served
    install: str  # {spec} is the package and its version
    upgrade: str
    installed: str  # prints the installed version
    remove: str  # the package, not its configuration or data


APT = Client(
    suffix="_amd64.deb", package_format="deb",
    setup="cp /repo/gitlab-archive-keyring.gpg /usr/share/keyrings/ && "
          "sed 's#^URIs: .*#URIs: {url}#' /repo/gitlab.sources "
          "> /etc/apt/sources.list.d/gitlab.sources && apt-get update -qq",
    install="apt-get install -y -qq {spec}", upgrade="apt-get update -qq && apt-get install "
    "-y -qq {project}", installed="dpkg-query -W {project}",
    remove="apt-get remove -y -qq {project}")
DNF_FLAGS = "-y --releasever=12 --setopt=install_weak_deps=False"
DNF = Client(
    suffix=".x86_64.rpm", package_format="rpm",
    setup="mkdir -p /etc/yum.repos.d && sed 's#^baseurl=.*#baseurl={url}#; "
          "s#^gpgkey=.*#gpgkey={url}/gpg.key#' /repo/gitlab.repo > /etc/yum.repos.d/gitlab.repo",
    install=f"dnf {DNF_FLAGS} install {{spec}}",
    upgrade=f"dnf {DNF_FLAGS} --refresh upgrade {{project}}", installed="rpm -q {project}",
    remove=f"dnf {DNF_FLAGS} remove {{project}}")
CLIENTS = {"deb": APT, "rpm": DNF}


def shown(command: str) -> str:
    """`command` with the lines an administrator looks at; all of it, and its status, if it
    fails (a pipe into grep would hide both)."""
    return (f"{command} >/tmp/e2e.log 2>&1; status=$?; {SHOWN} /tmp/e2e.log; "
            "[ $status -eq 0 ] || { tail -n 40 /tmp/e2e.log; exit $status; }")


def step(title: str, started: float) -> None:
    print(f"==> [{time.monotonic() - started:6.1f} s] {title}", flush=True)


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, text=True, capture_output=True, **kwargs)


def in_container(name: str, script: str, check: bool = True) -> str:
    result = run(["docker", "exec", "-e", "DEBIAN_FRONTEND=noninteractive", name, "sh", "-c",
                  script])
    if check and result.returncode != 0:
        raise SystemExit(f"e2e: failed: {script}\n{result.stdout}{result.stderr}")
    return result.stdout


def working_repositories(source: Path, work: Path) -> Path:
    """A fresh copy of the repositories ./dev build made, for this run to serve and publish
    N+1 into; `source` stays as it was."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, symlinks=True)
    return work


def publish_next(project: str, repo: Path, formats: list[str]) -> None:
    """Package the cached artifacts again as a nightly (N+1) and publish it into `repo`."""
    out = ROOT / "cache" / "e2e" / "next"
    shutil.rmtree(out, ignore_errors=True)  # one N+1 only, not every earlier run's
    # Signed (dnf checks package signatures) with ./dev build's key, unless OMNIBUS_SIGN_KEY
    env = {**os.environ, **signing_env(), "NIGHTLY": "true",
           "CI_PIPELINE_ID": str(int(time.time())), "CI_COMMIT_SHA": "e2e0" * 10}
    verbs = [["package", project, "--out", str(out), "--format", ",".join(formats)]]
    verbs += [["publish", project, "--from", str(out), "--repo", str(repo), "--format", fmt]
              for fmt in formats]
    for verb in verbs:
        if subprocess.run([f"{ROOT}/.venv/bin/omnibus", *verb, "--root", str(ROOT)],
                          env=env).returncode != 0:
            raise SystemExit(f"e2e: `omnibus {verb[0]}` of N+1 failed (its error is above); "
                             "if the sources changed since the last build, run ./dev build")


def built_spec(project: str, client: Client) -> str:
    """The package and version in pkg/ (N: what ./dev build wrote), as apt or dnf names it."""
    packages = sorted((ROOT / "pkg").glob(f"{project}[-_]*{client.suffix}"),
                      key=lambda path: path.stat().st_mtime)
    if not packages:
        raise SystemExit(f"e2e: no {project} package *{client.suffix} in pkg/; "
                         "run ./dev build first")
    if client is APT:
        return f"{project}={packages[-1].name.split('_')[1]}"
    return packages[-1].name.removesuffix(client.suffix)


def check_all(name: str, started: float, checks: dict[str, str] = CHECKS) -> None:
    for title, script in checks.items():
        in_container(name, script)
        step(f"ok: {title}", started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="gitlab-local")
    parser.add_argument("--repo", type=Path, default=ROOT / "repo",
                        help="the repositories ./dev build made (default: repo/); read only: "
                             "the run works on a copy in cache/e2e/repo")
    parser.add_argument("--format", default="deb,rpm", help="deb, rpm or both (default)")
    parser.add_argument("--keep", action="store_true",
                        help="keep a failed run's container, to look inside it")
    args = parser.parse_args()
    formats = args.format.split(",")
    if not set(formats) <= set(CLIENTS):
        parser.error(f"--format: deb, rpm or deb,rpm, not {args.format}")
    started = time.monotonic()
    platform = load_catalog(ROOT).platforms["debian-12"]
    base = ensure_base(platform, "amd64", lambda *_args, **_kw: None)
    for fmt in formats:
        repo = repository_name(platform, CLIENTS[fmt].package_format)
        if not (args.repo / repo).is_dir():
            raise SystemExit(f"e2e: no repository in {args.repo / repo}; run ./dev build first")
    args.repo = working_repositories(args.repo.resolve(), ROOT / "cache" / "e2e" / "repo")
    with serving_directory(args.repo, docker_bridge_gateway()) as root_url:
        for fmt in formats:
            repo = repository_name(platform, CLIENTS[fmt].package_format)
            name = run(["docker", "run", "-d", "-v", f"{args.repo / repo}:/repo:ro",
                        base, "sleep", "infinity"], check=True).stdout.strip()
            try:
                scenario(name, CLIENTS[fmt], f"{root_url}/{repo}", args, formats, started)
            except SystemExit:
                if args.keep:
                    print(f"e2e: kept the container: docker exec -it {name[:12]} bash")
                    name = ""
                raise
            finally:
                if name:
                    run(["docker", "rm", "-f", name])
    step(f"end to end passed ({', '.join(formats)})", started)
    return 0


def prepare_rpm_host(name: str, package: Path, started: float) -> None:
    """Debian's rpm and dnf, and a stand-in rpm for what apt installed that `package`
    requires."""
    requires = [line.split()[0] for line in run(["rpm", "-qp", "--requires", str(package)],
                                                 check=True).stdout.splitlines()
                if not line.startswith("rpmlib(")]
    # Paths and sonames (libc.so.6(GLIBC_2.35)(64bit)) are no Debian package names; the
    # stand-in rpm below provides them.
    debian_packages = [item for item in requires
                       if not item.startswith("/") and "(" not in item]
    step(f"apt-get install rpm dnf {' '.join(debian_packages)}; a stand-in rpm provides "
         f"{', '.join(requires)}", started)
    in_container(name, "apt-get install -y -qq rpm dnf "
                 f"{' '.join(debian_packages)} >/dev/null && {build_host_provides(requires)} "
                 f"&& dnf {DNF_FLAGS} -q --disablerepo='*' install {HOST_PROVIDES_RPM}")


def scenario(name: str, client: Client, url: str, args: argparse.Namespace,
             formats: list[str], started: float) -> None:
    step(f"clean Debian 12 container; adding the signed {client.suffix[-3:]} repository as a "
         "user would", started)
    in_container(name, "apt-get update -qq && apt-get install -y -qq curl >/dev/null")
    if client is DNF:
        prepare_rpm_host(name, sorted((ROOT / "pkg").glob(f"{args.project}-*{DNF.suffix}"))[-1],
                         started)
    in_container(name, client.setup.format(url=url))
    spec = built_spec(args.project, client)
    install = client.install.format(spec=spec)
    step(f"{install} (the package's scripts reconfigure)", started)
    print(in_container(name, shown(f"EXTERNAL_URL=http://gitlab.example.test {install}")),
          end="")
    in_container(name, "gitlab-psql -d gitlabhq_production -c \"create table e2e_probe (v text);"
                 " insert into e2e_probe values ('kept')\" && gitlab-redis-cli set e2e:probe "
                 "kept && gitlab-redis-cli save")
    check_all(name, started)
    if client is CLIENTS[formats[0]]:
        step("packaging and publishing N+1 (the same artifacts, as a nightly)", started)
        publish_next(args.project, args.repo, formats)
    upgrade = client.upgrade.format(project=args.project)
    step(f"{upgrade}: the upgrade through the repository", started)
    print(in_container(name, shown(upgrade)), end="")
    print(in_container(name, client.installed.format(project=args.project)), end="")
    check_all(name, started)
    remove = client.remove.format(project=args.project)
    step(f"{remove}: the package's scripts stop everything, data stays", started)
    print(in_container(name, shown(remove)), end="")
    check_all(name, started, REMOVED)


if __name__ == "__main__":
    sys.exit(main())
