"""A GitLab package's life on a clean Debian 12 container, through a signed apt repository:
install version N, reconfigure, write data, upgrade to N+1, remove, install again, purge.

The two packages (1.0.0 and 1.1.0) are built by our builder and packager from the real
definitions of what the gitlab-local package has for reconfigure: gitlab-ctl (gitlab_ctl/ with
its templates), gitlab-psql, gitlab-redis-cli, gitlab-scripts and gitlab-config-template,
with the real maintainer scripts (templates/package/).

Said plainly: the service programs are NOT the package's own builds. Debian 12's PostgreSQL
15, Redis, nginx, logrotate, runit and Python 3 stand in for them, because building those takes
half an hour (BENCHMARKS.md). The stand-in software (tests/data/lifecycle/software/) installs
a two-line script under /opt/gitlab/embedded for each program that execs Debian's, and the
package depends on the Debian packages that provide them; the project
(tests/data/lifecycle/projects/) substitutes it for redis, nginx, logrotate, runit, postgresql
and python3 in the real dependency graph, and leaves out the bundled Jinja2 and PyYAML (the
builder image gets Debian's, which gitlab-ctl's build step uses to precompile its templates,
as the package's runtime uses Debian's).

The repository is published with `builder.publish` (signed, with its keyring and deb822 source
snippet installed in the container as a user would) and served over HTTP from this machine on
the docker bridge's gateway address. Not `--network host`: the package's nginx would then
listen on this machine's ports 80 and 8060.
"""

from __future__ import annotations

import functools
import re
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.formats.meta import Signing
from builder.publish import PublishSettings, publisher
from tests.conftest import REPO
from tests.httpserver import docker_bridge_gateway, serving_directory
from tests.integration.conftest import LIFECYCLE_PROJECT as PROJECT
from tests.integration.conftest import NEW, OLD
from tests.packaging_helpers import make_gpg_key

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")  # as projects/*.yml name it

pytestmark = pytest.mark.integration

EXTERNAL_URL = "http://gitlab.example.test"
SERVICES = {"logrotate", "nginx", "postgresql", "redis"}
#: Seconds each step took, printed at the end of the module (pytest -s).
TIMINGS: dict[str, float] = {}


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          **kwargs)


def sh(container: str, script: str, env: dict | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    args = ["exec"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    result = docker(*args, container, "sh", "-c", script, check=False, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{script!r} exited {result.returncode}:\n{result.stdout}\n"
                             f"{result.stderr}")
    return result


def apt(container: str, command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """An apt-get command as a user types it; the output is stdout and stderr in order."""
    return sh(container, f"DEBIAN_FRONTEND=noninteractive apt-get {command} 2>&1",
              env=env, check=False)


def timed(name: str):
    def wrap(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            started = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                TIMINGS[name] = time.monotonic() - started
        return run
    return wrap


@pytest.fixture(scope="session")
@timed("build both packages")
def packages(lifecycle_packages) -> dict[str, Path]:
    """1.0.0 built (every software in its builder container), 1.1.0 packaged from the same
    artifacts (tests/integration/conftest.py)."""
    return lifecycle_packages


class Repository:
    """A signed apt repository, served over HTTP while the module runs."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.stack = ExitStack()
        url = self.stack.enter_context(serving_directory(root, docker_bridge_gateway()))
        self.settings = PublishSettings(
            repo_root=root, platform=load_catalog(REPO).platforms["debian-12"],
            signing=Signing(make_gpg_key(home), home), date=int(time.time()),
            base_url=f"{url}/", project=GITLAB)
        self.log: list[str] = []

    def publish(self, *debs: Path):
        return publisher("deb")(list(debs), self.settings, self.log.append)

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="module")
def repository(packages, tmp_path_factory):
    base = tmp_path_factory.mktemp("repository")
    repo = Repository(base / "repo", base / "gnupg")
    try:
        result = repo.publish(packages["old"])
        assert result.added == (packages["old"].name,)
        yield repo, result
    finally:
        repo.close()


@pytest.fixture(scope="module")
def debian_image():
    platform = load_catalog(REPO).platforms["debian-12"]
    return ensure_base(platform, "amd64", lambda *_args, **_kw: None)


@pytest.fixture(scope="module")
def host(repository, debian_image):
    """A clean Debian 12 (no init system), with the repository's keyring and source added as
    its instructions say: the keyring into /usr/share/keyrings, the source snippet into
    /etc/apt/sources.list.d."""
    _repo, published = repository
    files = {path.name: path for path in published.client_files}
    name = docker("run", "-d", "--hostname", "gitlab", debian_image, "sleep", "infinity"
                  ).stdout.strip()
    try:
        keyring = files["gitlab-archive-keyring.gpg"]
        assert f"Signed-By: /usr/share/keyrings/{keyring.name}" in files["gitlab.sources"
                                                                         ].read_text()
        docker("cp", str(keyring), f"{name}:/usr/share/keyrings/{keyring.name}")
        docker("cp", str(files["gitlab.sources"]), f"{name}:/etc/apt/sources.list.d/")
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def status(container: str) -> subprocess.CompletedProcess:
    return sh(container, "gitlab-ctl status", check=False)


def pids(container: str) -> dict[str, str]:
    """Service name -> pid, from `gitlab-ctl status`."""
    return dict(re.findall(r"^run: ([\w-]+): \(pid (\d+)\)", status(container).stdout,
                           re.MULTILINE))


def processes(container: str) -> list[str]:
    """The command names of the live (not zombie) processes: the image has no ps."""
    listing = sh(container, "for p in /proc/[0-9]*; do s=$(cut -d' ' -f3 $p/stat 2>/dev/null) "
                 "&& [ \"$s\" != Z ] && cat $p/comm 2>/dev/null; done; true").stdout
    return listing.split()


def http_status(container: str, port: int, host: str) -> str:
    """The status line nginx answers with (bash's /dev/tcp: the image has no curl)."""
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET / HTTP/1.0\\r\\nHost: {host}"
              "\\r\\n\\r\\n' >&3; head -n 1 <&3")
    return docker("exec", container, "bash", "-c", script).stdout.strip()


def present(container: str, paths: list[str]) -> list[str]:
    """Which of these paths (relative to /) exist in the container."""
    listing = docker("exec", "-i", container, "sh", "-c", "cd / && while read -r p; do "
                     "{ [ -e \"$p\" ] || [ -L \"$p\" ]; } && echo \"$p\"; done; true",
                     input="\n".join(paths) + "\n").stdout
    return listing.split()


def installed_version(container: str) -> str:
    return sh(container, f"dpkg-query -W -f '${{Version}} ${{db:Status-Status}}' {PROJECT}",
              check=False).stdout.strip()


@pytest.fixture(scope="module")
@timed("install 1.0.0 (apt-get update, Debian dependencies, first reconfigure)")
def installed(host):
    return apt(host, f"update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                     f"{PROJECT}={OLD}", env={"EXTERNAL_URL": EXTERNAL_URL})


@pytest.fixture(scope="module")
def data_written(host, installed):
    """A row in PostgreSQL and a key in Redis, as GitLab's users would leave them."""
    assert installed.returncode == 0, installed.stdout[-4000:]
    sh(host, "gitlab-psql -d gitlabhq_production -v ON_ERROR_STOP=1 -c \"create table "
             "lifecycle_probe (v text); insert into lifecycle_probe values ('kept')\"")
    assert sh(host, "gitlab-redis-cli set lifecycle:probe kept").stdout.strip() == "OK"
    return {"pids": pids(host),
            "secrets": sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout}


@pytest.fixture(scope="module")
@timed("upgrade to 1.1.0 (publish, apt-get update, install)")
def upgraded(host, repository, packages, data_written):
    repo, _published = repository
    result = repo.publish(packages["old"], packages["new"])
    assert (result.added, result.unchanged) == ((packages["new"].name,),
                                                (packages["old"].name,))
    return apt(host, f"update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                     f"{PROJECT}")


@pytest.fixture(scope="module")
@timed("remove")
def removed(host, upgraded):
    return apt(host, f"remove -y -q {PROJECT}")


@pytest.fixture(scope="module")
@timed("install again after remove")
def reinstalled(host, removed):
    return apt(host, f"install -y -q {PROJECT}")


@pytest.fixture(scope="module")
@timed("purge (remove and purge)")
def purged(host, reinstalled):
    return apt(host, f"purge -y -q {PROJECT}")


@pytest.fixture(scope="module", autouse=True)
def print_timings():
    yield
    for step, seconds in TIMINGS.items():
        print(f"lifecycle: {step}: {seconds:.1f} s")


def test_install_from_the_signed_repository_reconfigures_and_starts_the_services(
        host, repository, installed):
    repo, _published = repository
    output = installed.stdout
    assert installed.returncode == 0, output[-4000:]
    # from our repository, which apt checked against the keyring (an unsigned or badly signed
    # repository is an error with signed-by)
    assert re.search(rf"^Get:\d+ {re.escape(repo.settings.url())} bookworm/main amd64 "
                     rf"{PROJECT} amd64 {re.escape(OLD)} ", output, re.MULTILINE), output
    assert installed_version(host) == f"{OLD} installed"
    # postinst: the links, gitlab.rb from the template with EXTERNAL_URL, gitlab-ctl upgrade,
    # which on a first install is the first reconfigure
    assert sh(host, "readlink /usr/bin/gitlab-ctl").stdout.strip() == "/opt/gitlab/bin/gitlab-ctl"
    assert sh(host, "stat -c '%a %U' /etc/gitlab/gitlab.rb").stdout.strip() == "600 root"
    assert f"external_url '{EXTERNAL_URL}'" in sh(host, "cat /etc/gitlab/gitlab.rb").stdout
    assert "gitlab Reconfigured!" in output
    assert f"GitLab should be available at {EXTERNAL_URL}" in output
    running = status(host)
    assert running.returncode == 0, running.stdout
    for service in SERVICES:
        assert re.search(rf"^run: {service}: \(pid \d+\) \d+s; run: log: \(pid \d+\) \d+s$",
                         running.stdout, re.MULTILINE), running.stdout
    assert sh(host, "gitlab-psql -tA -c 'select 1'").stdout.strip() == "1"
    assert sh(host, "gitlab-redis-cli ping").stdout.strip() == "PONG"
    # workhorse is not in this package: nginx itself answers 502 for the external URL's host
    assert http_status(host, 80, "gitlab.example.test").startswith("HTTP/1.1 502")


def test_upgrade_through_the_repository_backs_up_runs_gitlab_ctl_upgrade_and_keeps_data(
        host, data_written, upgraded):
    output = upgraded.stdout
    assert upgraded.returncode == 0, output[-4000:]
    assert installed_version(host) == f"{NEW} installed"
    assert re.search(rf"^Unpacking {PROJECT} \({re.escape(NEW)}\) over \({re.escape(OLD)}\)",
                     output, re.MULTILINE), output
    preinst, postinst = output.split(f"Unpacking {PROJECT} ")
    # preinst: backup-etc before the new files are unpacked
    archive = re.search(r"^Configuration backup archive complete: "
                        r"(/etc/gitlab/config_backup/gitlab_config_\d+_[\d_]+\.tar)$",
                        preinst, re.MULTILINE)
    assert archive, output
    names = sh(host, f"tar -tf {archive.group(1)}").stdout.split()
    assert {"etc/gitlab/gitlab.rb", "etc/gitlab/gitlab-secrets.json"} <= set(names)
    assert sh(host, f"stat -c %a {archive.group(1)}").stdout.strip() == "600"
    # postinst: gitlab-ctl upgrade, with its reconfigure, after the new files are in place
    for line in ("Shutting down all GitLab services except those needed for migrations",
                 "gitlab Reconfigured!", "Upgrade complete!"):
        assert line in postinst, output
    assert re.search(r"Checked \d+ resources, 0 updated", postinst), output
    manifest = sh(host, "cat /opt/gitlab/version-manifest.json").stdout
    assert '"build_version": "1.1.0"' in manifest
    # the data and the secrets are there, the databases stayed up, the rest was restarted
    row = sh(host, "gitlab-psql -d gitlabhq_production -tA -c 'select v from lifecycle_probe'")
    assert row.stdout.strip() == "kept"
    assert sh(host, "gitlab-redis-cli get lifecycle:probe").stdout.strip() == "kept"
    assert sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout == data_written["secrets"]
    before, after = data_written["pids"], pids(host)
    assert set(before) == set(after) == SERVICES
    assert (after["postgresql"], after["redis"]) == (before["postgresql"], before["redis"])
    assert after["nginx"] != before["nginx"]
    assert status(host).returncode == 0
    assert http_status(host, 80, "gitlab.example.test").startswith("HTTP/1.1 502")


def test_the_redis_key_survives_a_redis_restart(host, upgraded):
    # redis.conf's save rules: Redis writes its dump when it is stopped, and reads it back
    sh(host, "gitlab-ctl restart redis")
    answer = sh(host, "for i in $(seq 50); do v=$(gitlab-redis-cli get lifecycle:probe "
                "2>/dev/null) && [ -n \"$v\" ] && { echo $v; exit 0; }; sleep 0.2; done; exit 1")
    assert answer.stdout.strip() == "kept"
    assert sh(host, "test -s /var/opt/gitlab/redis/dump.rdb", check=False).returncode == 0


def test_remove_keeps_configuration_and_data_and_removes_the_commands(host, removed):
    assert removed.returncode == 0, removed.stdout[-4000:]
    assert installed_version(host) == f"{NEW} config-files"
    assert present(host, ["usr/bin/gitlab-ctl", "usr/bin/gitlab-psql", "usr/bin/gitlab-redis-cli",
                          "opt/gitlab/bin", "opt/gitlab/embedded"]) == []
    for path in ("/etc/gitlab/gitlab.rb", "/etc/gitlab/gitlab-secrets.json",
                 "/var/opt/gitlab/postgresql/data/PG_VERSION", "/var/opt/gitlab/redis/dump.rdb",
                 "/var/log/gitlab/postgresql/current"):
        assert sh(host, f"test -s {path}", check=False).returncode == 0, path
    assert sh(host, "ls /etc/gitlab/config_backup/*.tar").stdout.strip()


def test_after_remove_nothing_of_the_package_runs(host, removed):
    left = sorted(set(processes(host)) & {"runsvdir", "runsv", "svlogd", "postgres",
                                          "redis-server", "nginx"})
    assert left == [], f"still running after apt-get remove: {left}"


def test_installing_again_after_remove_finds_the_data_and_runs_the_services(host, reinstalled):
    output = reinstalled.stdout
    assert reinstalled.returncode == 0, output[-4000:]
    assert installed_version(host) == f"{NEW} installed"
    # dpkg passes the version last configured, so the scripts take the upgrade path; the
    # removal's prerm stopped everything (gitlab-ctl uninstall), so upgrade reconfigures
    assert "GitLab was configured here before; reconfiguring" in output
    assert "Thank you for installing GitLab!" not in output
    sh(host, "for i in $(seq 50); do gitlab-ctl status >/dev/null && exit 0; sleep 0.2; done; "
             "gitlab-ctl status")
    assert set(pids(host)) == SERVICES
    row = sh(host, "gitlab-psql -d gitlabhq_production -tA -c 'select v from lifecycle_probe'")
    assert row.stdout.strip() == "kept"
    assert sh(host, "gitlab-redis-cli get lifecycle:probe").stdout.strip() == "kept"


def test_purge_removes_what_the_package_owns_and_says_what_it_kept(host, packages, purged):
    output = purged.stdout
    assert purged.returncode == 0, output[-4000:]
    assert sh(host, f"dpkg-query -W {PROJECT}", check=False).returncode == 1
    for path in ("/etc/gitlab", "/var/opt/gitlab", "/var/log/gitlab"):
        assert (f"{PROJECT}: kept {path} (configuration, data and logs are never removed by "
                "the package)") in output, output
        assert sh(host, f"test -d {path}", check=False).returncode == 0, path
    assert sh(host, "test -s /etc/gitlab/gitlab-secrets.json", check=False).returncode == 0
    owned = [line.split(" ./", 1)[1].split(" -> ")[0]
             for line in subprocess.run(["dpkg-deb", "-c", str(packages["new"])],
                                        capture_output=True, text=True, check=True
                                        ).stdout.splitlines()
             if not line.startswith("d")]
    assert len(owned) > 100
    assert present(host, owned) == []
    assert present(host, ["usr/share/doc/gitlab-lifecycle", "opt/gitlab/embedded"]) == []


def test_purge_names_everything_it_leaves(host, purged):
    kept = re.findall(rf"^{PROJECT}: kept (\S+) ", purged.stdout, re.MULTILINE)
    left = [f"/opt/gitlab/{name}" for name in
            sh(host, "ls -A /opt/gitlab 2>/dev/null; true").stdout.split()]
    unnamed = [path for path in left
               if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept)]
    assert unnamed == [], f"left by purge without a word (it named {kept}): {unnamed}"
