"""gitlab-ctl pg-upgrade and revert-pg-upgrade with two real PostgreSQL majors.

The machine builds neither major here (the package's PostgreSQL build takes too long for a
test run), so Debian's builds stand in, laid out as the package lays out its own: each
major's programs in /opt/gitlab/embedded/postgresql/<major>/bin, and embedded/bin's links
pointing at the major in use. Debian trixie carries PostgreSQL 17 and bookworm carries 15;
trixie's programs need trixie's C library, so the image is trixie with postgresql-17
installed, plus bookworm's postgresql-15 (and the two libraries it needs that trixie no
longer has: ICU 72 and OpenLDAP 2.5) unpacked with `dpkg -x`. Their sonames differ from
trixie's (libicuuc.so.72, libldap-2.5.so.0), so both majors run side by side without
wrappers or LD_LIBRARY_PATH. Everything else is real: runit supervises PostgreSQL, gitlab-ctl
reconfigure configures it, and pg_upgrade moves the data.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest

from builder.compile.builder_images import ensure_base, image_exists
from builder.definitions.loader import load_catalog
from tests.conftest import REPO
from tests.integration.runtime_host import (
    INSTALL_DIR,
    PREFIX,
    docker,
    gitlab_ctl,
    install_tree,
    sh,
)

pytestmark = pytest.mark.integration

#: bookworm's PostgreSQL 15 and what it links that trixie does not have
BOOKWORM_DEBS = "postgresql-15 postgresql-client-15 libicu72 libldap-2.5-0"
TRIXIE_PACKAGES = ("postgresql-17 runit python3 python3-jinja2 python3-yaml procps passwd "
                   "redis-server nginx-light logrotate libgnutls30t64 libsasl2-2")


def build_two_majors_image() -> str:
    """trixie with PostgreSQL 17 and bookworm's 15, made once and kept (tag: content hash)."""
    catalog = load_catalog(REPO)
    report = lambda *_args, **_kw: None  # noqa: E731
    bookworm = ensure_base(catalog.platforms["debian-12"], "amd64", report)
    trixie = ensure_base(catalog.platforms["debian-13"], "amd64", report)
    recipe = (
        f"FROM {bookworm} AS bookworm\n"
        "RUN apt-get update -qq && mkdir /debs && cd /debs && "
        f"apt-get download -qq {BOOKWORM_DEBS}\n"
        f"FROM {trixie}\n"
        "RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && "
        "chmod 0755 /usr/sbin/policy-rc.d && mkdir -p /etc/postgresql-common && "
        "echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf && "
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {TRIXIE_PACKAGES} && rm -rf /var/lib/apt/lists/*\n"
        "COPY --from=bookworm /debs /debs\n"
        "RUN for deb in /debs/*.deb; do dpkg -x \"$deb\" /; done && ldconfig && rm -rf /debs"
        " && /usr/lib/postgresql/15/bin/postgres --version"
        " && /usr/lib/postgresql/17/bin/postgres --version\n")
    tag = "gitlab-ctl-test/pg-majors:" + hashlib.sha256(recipe.encode()).hexdigest()[:16]
    if not image_exists(tag):
        subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=recipe,
                       text=True, check=True, capture_output=True, timeout=1800)
    return tag


#: the other programs reconfigure runs, from the image
DISTRO_PROGRAMS = {
    **{f"bin/{p}": f"/usr/bin/{p}" for p in ("redis-server", "redis-cli", "runsvdir", "runsv",
                                             "sv", "svlogd", "chpst", "python3")},
    "sbin/nginx": "/usr/sbin/nginx", "sbin/logrotate": "/usr/sbin/logrotate",
    "conf/mime.types": "/etc/nginx/mime.types",
}
#: what the package's version manifest says of its PostgreSQL builds
MANIFEST = {"manifest_format": 2, "build_version": "17.5.0", "software": {
    "postgresql-15": {"described_version": "15.20"},
    "postgresql-17-debian": {"described_version": "17.12"}}}
ROWS = 5000
PSQL = f"{INSTALL_DIR}/bin/gitlab-psql -d gitlabhq_production -tA -c"
DATA = "/var/opt/gitlab/postgresql/data"


def package_layout() -> str:
    """embedded/postgresql/<major>/bin for both majors (links to Debian's programs), and
    embedded/bin linked to 15's as software/postgresql-15.yml links them."""
    return " && ".join([
        *(f"mkdir -p {PREFIX}/postgresql/{major} && ln -s /usr/lib/postgresql/{major}/bin "
          f"{PREFIX}/postgresql/{major}/bin" for major in (15, 17)),
        f"mkdir -p {PREFIX}/bin {PREFIX}/sbin {PREFIX}/conf",
        f"for f in {PREFIX}/postgresql/15/bin/*; do ln -sf \"$f\" {PREFIX}/bin/; done",
        *(f"ln -s {target} {PREFIX}/{path}" for path, target in DISTRO_PROGRAMS.items()),
        f"printf %s \"$MANIFEST\" > {INSTALL_DIR}/version-manifest.json",
        "mkdir -p /etc/gitlab && echo \"external_url 'http://gitlab.example.test'\" "
        "> /etc/gitlab/gitlab.rb"])


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    image = build_two_majors_image()
    name = docker("run", "-d", "--hostname", "gitlab", image, "sleep", "infinity"
                  ).stdout.strip()
    try:
        docker("cp", f"{install_tree(tmp_path_factory.mktemp('install'))}/.",
               f"{name}:{INSTALL_DIR}/")
        sh(name, package_layout(), env={"MANIFEST": json.dumps(MANIFEST)})
        gitlab_ctl(name, "reconfigure")
        sh(name, f"{PSQL} \"CREATE TABLE kept AS SELECT g AS id, md5(g::text) AS v "
                 f"FROM generate_series(1, {ROWS}) g\"")
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def server(host: str) -> tuple[str, str]:
    """The running server's major, and a digest of every row of the table."""
    version = sh(host, f"{PSQL} 'SHOW server_version'").stdout.strip().split(".")[0]
    rows = sh(host, f"{PSQL} \"SELECT count(*) || ':' || md5(string_agg(v, '' ORDER BY id)) "
                    "FROM kept\"").stdout.strip()
    return version, rows


def linked_major(host: str) -> str:
    return sh(host, f"readlink {PREFIX}/bin/postgres").stdout.split("/postgresql/")[1][:2]


@pytest.fixture(scope="module")
def before(host):
    return server(host)


@pytest.fixture(scope="module")
def upgraded(host, before):
    return gitlab_ctl(host, "pg-upgrade", "-V", "17", "-w", check=False)


def test_pg_upgrade_moves_every_row_to_17(host, before, upgraded):
    assert before == ("15", f"{ROWS}:" + before[1].split(":")[1])
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "Upgrading the data: OK" in upgraded.stdout
    assert "==== Upgrade has completed ====" in upgraded.stdout
    assert server(host) == ("17", before[1])
    assert sh(host, f"cat {DATA}/PG_VERSION").stdout.strip() == "17"
    assert sh(host, f"cat {DATA}.15/PG_VERSION").stdout.strip() == "15"  # kept for revert
    assert sh(host, "cat /var/opt/gitlab/postgresql-version.old").stdout.strip() == "15.20"
    assert linked_major(host) == "17"
    # the services it stopped run again (logrotate; nginx and redis were never stopped)
    assert re.search(r"^run: logrotate:", gitlab_ctl(host, "status").stdout, re.MULTILINE)


def test_pg_upgrade_on_the_target_is_a_no_op(host, upgraded):
    again = gitlab_ctl(host, "pg-upgrade", "-V", "17", "-w", check=False)
    assert again.returncode == 0
    assert "The latest version 17.12 is already running, nothing to do" in again.stderr
    assert "Checking if we already upgraded: NOT OK" in again.stdout


def test_revert_brings_15_back_with_the_rows(host, before, upgraded):
    reverted = gitlab_ctl(host, "revert-pg-upgrade", check=False)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert "== Reverted ==" in reverted.stdout
    assert server(host) == before
    assert linked_major(host) == "15"
    assert sh(host, f"test ! -e {DATA}.15 && test ! -e /var/opt/gitlab/postgresql-version.old",
              check=False).returncode == 0
    again = gitlab_ctl(host, "revert-pg-upgrade", "-V", "15", check=False)
    assert again.returncode == 1 and "Already running 15" in again.stdout


def test_a_failed_pg_upgrade_puts_15_back(host, before):
    """17's pg_upgrade replaced by one that fails: the old links, data and server return."""
    tool = f"{PREFIX}/postgresql/17/bin"
    sh(host, f"rm {tool} && mkdir {tool} && for f in /usr/lib/postgresql/17/bin/*; do "
             f"ln -s \"$f\" {tool}/; done && rm {tool}/pg_upgrade && "
             f"printf '#!/bin/sh\\necho broken >&2\\nexit 3\\n' > {tool}/pg_upgrade && "
             f"chmod 755 {tool}/pg_upgrade")
    failed = gitlab_ctl(host, "pg-upgrade", "-V", "17", "-w", check=False)
    assert failed.returncode == 1
    assert "Upgrading the data: NOT OK" in failed.stdout
    assert "STDERR: broken" in failed.stdout
    assert "== Reverted to 15.20. Please check output for what went wrong ==" in failed.stderr
    assert server(host) == before
    assert linked_major(host) == "15"
    assert sh(host, f"test ! -e {DATA}.17", check=False).returncode == 0


def test_postgresql_version_relinks_embedded_bin_and_refuses_another_major(host, before):
    """embedded/bin on 17 under a server of 15 (as a package upgrade whose default is 17
    leaves it): postgresql['version'] = '15' links it back, and the server keeps running
    (it already runs 15: no restart); '17' on data of 15 is refused, nothing changed."""
    pid = f"head -1 {DATA}/postmaster.pid"
    started = sh(host, pid).stdout.strip()
    sh(host, f"for f in {PREFIX}/postgresql/17/bin/*; do ln -sf \"$f\" {PREFIX}/bin/; done")
    assert linked_major(host) == "17"
    rb = "/etc/gitlab/gitlab.rb"
    sh(host, f"cp {rb} {rb}.orig && echo \"postgresql['version'] = '15'\" >> {rb}")
    try:
        pinned = gitlab_ctl(host, "reconfigure", check=False)
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        assert "link[postgresql binaries of postgresql['version'] = 15]" in pinned.stdout
        assert linked_major(host) == "15"
        assert server(host) == before and sh(host, pid).stdout.strip() == started
        sh(host, f"sed -i \"s/version'\\] = '15'/version'] = '17'/\" {rb}")
        refused = gitlab_ctl(host, "reconfigure", check=False)
        assert refused.returncode != 0
        assert "postgresql['version']" in refused.stdout + refused.stderr
        assert "pg-upgrade" in refused.stdout + refused.stderr
        assert linked_major(host) == "15" and server(host) == before
    finally:
        sh(host, f"mv {rb}.orig {rb}")
