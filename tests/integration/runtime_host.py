"""A Debian 12 container standing in for a host with the gitlab-local package: the
integration tests of gitlab-ctl start theirs from here.

Said plainly: the services' binaries here are Debian's packages, linked into the install
prefix (/opt/gitlab/embedded) where the gitlab-local package puts its own builds. Building
those takes half an hour, too long for every CI run; BENCHMARKS.md has reconfigure measured on
the real package. Everything else is what the package ships: gitlab_ctl (templates inside)
under embedded/service/gitlab-ctl, and the gitlab-ctl, gitlab-psql, gitlab-redis-cli,
runsvdir-start and logrotate wrappers rendered from templates/software/ as a build renders
them.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.compile.builder_images import ensure_base, image_exists
from builder.definitions.loader import load_catalog
from builder.definitions.templating import render_step
from tests.conftest import REPO

PACKAGES = ("postgresql-15 redis-server nginx-light runit logrotate python3 python3-jinja2 "
            "python3-yaml curl procps passwd systemd systemd-sysv")
INSTALL_DIR = "/opt/gitlab"
PREFIX = f"{INSTALL_DIR}/embedded"
#: Debian's programs standing in for the package's builds: prefix path -> Debian path.
DISTRO_BINARIES = {
    **{f"bin/{p}": f"/usr/lib/postgresql/15/bin/{p}"
       for p in ("postgres", "initdb", "psql", "pg_ctl", "createdb", "pg_isready")},
    **{f"bin/{p}": f"/usr/bin/{p}" for p in ("redis-server", "redis-cli", "runsvdir", "runsv",
                                             "sv", "svlogd", "chpst", "python3")},
    "sbin/nginx": "/usr/sbin/nginx", "sbin/logrotate": "/usr/sbin/logrotate",
    "conf/mime.types": "/etc/nginx/mime.types",
}
#: What the package's software definitions render from templates/software/.
WRAPPERS = {
    "gitlab-ctl/gitlab-ctl.j2": f"{INSTALL_DIR}/bin/gitlab-ctl",
    "gitlab-psql/gitlab-psql.j2": f"{INSTALL_DIR}/bin/gitlab-psql",
    "gitlab-redis-cli/gitlab-redis-cli.j2": f"{INSTALL_DIR}/bin/gitlab-redis-cli",
    "runit/runsvdir-start.j2": f"{PREFIX}/bin/runsvdir-start",
    "gitlab-scripts/gitlab-logrotate-wrapper.j2": f"{PREFIX}/bin/gitlab-logrotate-wrapper",
}
GITLAB_RB = "external_url 'http://gitlab.example.test'\n"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          **kwargs)


@pytest.fixture(scope="module")
def runtime_image():
    return build_runtime_image()


def debian_image(repository: str, packages: str, keep_policy: bool = True) -> str:
    """Debian 12 with these Debian packages installed, their services not started by apt (a
    policy-rc.d, removed after unless `keep_policy`): made once per base and package list,
    and kept."""
    platform = load_catalog(REPO).platforms["debian-12"]
    base = ensure_base(platform, "amd64", lambda *_args, **_kw: None)
    tag = f"{repository}:" + hashlib.sha256(f"{base} {packages}".encode()).hexdigest()[:16]
    if not image_exists(tag):
        recipe = (f"FROM {base}\n"
                  "RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && "
                  "chmod 0755 /usr/sbin/policy-rc.d && apt-get update -qq && "
                  "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  f"--no-install-recommends {packages}"
                  + ("" if keep_policy else " && rm /usr/sbin/policy-rc.d") + "\n")
        subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=recipe,
                       text=True, check=True, capture_output=True, timeout=1800)
    return tag


def build_runtime_image() -> str:
    """Debian 12 with the distro's services installed (not started), made once and kept."""
    return debian_image("gitlab-ctl-test/debian-12", PACKAGES)


def install_tree(tmp: Path) -> Path:
    """/opt/gitlab as the package lays it out, from this checkout and Debian's programs."""
    top = tmp / "opt" / "gitlab"
    service = top / "embedded" / "service" / "gitlab-ctl"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "gitlab_ctl", service / "gitlab_ctl", ignore=ignore)
    context = {"install_dir": INSTALL_DIR, "prefix": PREFIX}
    for template, target in WRAPPERS.items():
        text = render_step((REPO / "templates" / "software" / template).read_text(), context)
        path = tmp / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    return top


def start_host(image: str, tree: Path, options: tuple[str, ...] = (),
               command: tuple[str, ...] = ("sleep", "infinity")) -> str:
    """A running container with the installation and gitlab.rb."""
    name = docker("run", "-d", "--hostname", "gitlab", *options, image, *command
                  ).stdout.strip()
    docker("cp", f"{tree}/.", f"{name}:{INSTALL_DIR}/")
    links = " && ".join(f"mkdir -p $(dirname {PREFIX}/{p}) && ln -s {d} {PREFIX}/{p}"
                        for p, d in DISTRO_BINARIES.items())
    sh(name, f"{links} && mkdir -p /etc/gitlab && printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
       env={"RB": GITLAB_RB})
    return name


def sh(container: str, script: str, env: dict | None = None, check: bool = True,
       user: str | None = None) -> subprocess.CompletedProcess:
    args = ["exec"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    if user:
        args += ["-u", user]
    result = docker(*args, container, "sh", "-c", script, check=False, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{script!r} exited {result.returncode}:\n{result.stdout}\n"
                             f"{result.stderr}")
    return result


def gitlab_ctl(container: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(container, " ".join([f"{INSTALL_DIR}/bin/gitlab-ctl", *args]), check=check)


def pids(container: str) -> dict[str, str]:
    """Service name -> pid, from `gitlab-ctl status`."""
    status = gitlab_ctl(container, "status").stdout
    return dict(re.findall(r"^run: ([\w-]+): \(pid (\d+)\)", status, re.MULTILINE))
