"""The all-in-one container image, made by `omnibus image package` from a built .deb, run
as an administrator runs the official one: GITLAB_OMNIBUS_CONFIG, the three volumes,
`docker stop`, a new container on the same volumes, a newer image on them, and a hostile
configuration.

The packages are the lifecycle test's (tests/integration/conftest.py): the real gitlab-ctl,
scripts, maintainer scripts and healthcheck, with Debian 12's PostgreSQL, Redis, nginx,
runit and curl standing in for the bundled builds (gitlab-local's own take half an hour;
BENCHMARKS.md has the image of the real package).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.integration.conftest import LIFECYCLE_PROJECT
from tests.integration.image_helpers import VOLUMES, docker, sh, start, stop, wait_healthy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def volumes():
    names = {path: f"omnibus-image-test-{uuid.uuid4().hex[:8]}" for path in VOLUMES}
    yield names
    for name in names.values():
        docker("volume", "rm", "-f", name, check=False)


#: Owner, group and mode of what an upgrade must leave as it was.
KEPT_MODES = ("/etc/gitlab/gitlab.rb", "/etc/gitlab/gitlab-secrets.json",
              "/etc/gitlab/ssh_host_ed25519_key", "/var/opt/gitlab/postgresql",
              "/var/opt/gitlab/postgresql/data", "/var/opt/gitlab/postgresql/data/PG_VERSION",
              "/var/opt/gitlab/redis", "/var/opt/gitlab/redis/redis.conf",
              "/var/log/gitlab/postgresql", "/var/log/gitlab/redis")


def ownership(container: str) -> dict[str, str]:
    """path -> 'user(uid):group(gid) mode' of KEPT_MODES and every database file."""
    listing = sh(container, "stat -c '%n %U(%u):%G(%g) %a' " + " ".join(KEPT_MODES)
                 + " && find /var/opt/gitlab/postgresql/data/base -type f | head -50"
                 " | xargs stat -c '%n %U(%u):%G(%g) %a'")
    return dict(line.split(" ", 1) for line in listing.splitlines())


def test_the_image_runs_survives_a_restart_and_upgrades_in_place(images, volumes):
    first = start(images["old"], volumes)
    wait_healthy(first)
    assert sh(first, "gitlab-psql -tA -c 'select 1'").strip() == "1"
    assert sh(first, "gitlab-redis-cli ping").strip() == "PONG"
    # GITLAB_OMNIBUS_CONFIG reached Redis's config, after gitlab.rb (made from the template)
    assert sh(first, "gitlab-redis-cli config get maxclients").split() == ["maxclients", "1234"]
    assert "external_url" in sh(first, "cat /etc/gitlab/gitlab.rb")
    code = sh(first, "/opt/gitlab/embedded/bin/curl -s -o /dev/null -w '%{http_code}' "
                     "-H 'Host: gitlab.example.test' http://127.0.0.1/")
    assert code == "502"  # nginx itself answers: the package has no workhorse behind it
    sh(first, "gitlab-psql -d gitlabhq_production -c \"create table probe (v text); "
              "insert into probe values ('kept')\" && gitlab-redis-cli set probe kept")
    before = ownership(first)
    # the service accounts' fixed ids (omnibus-gitlab's image's) own the data
    assert before["/var/opt/gitlab/postgresql/data"] == "gitlab-psql(996):gitlab-psql(996) 700"
    assert before["/var/opt/gitlab/redis"].startswith("gitlab-redis(997):")
    assert before["/etc/gitlab/gitlab.rb"] == "root(0):root(0) 600"
    status, logs = stop(first)
    assert status == 0, logs[-3000:]  # 137 would be docker's SIGKILL after the timeout
    assert "database system is shut down" in logs and "ready to exit" in logs  # on stdout
    # and the start-up lines, written while reconfigure ran
    assert "database system is ready to accept connections" in logs
    assert "ok: down: postgresql" in logs
    # runit's sv says `timeout:` for a service that did not stop in time, `kill:` when it
    # had to kill it
    assert not [line for line in logs.splitlines() if line.startswith(("timeout:", "kill:"))]

    second = start(images["old"], volumes)
    wait_healthy(second)
    assert sh(second, "gitlab-psql -d gitlabhq_production -tA -c 'select v from probe'"
              ).strip() == "kept"
    assert sh(second, "gitlab-redis-cli get probe").strip() == "kept"
    assert "Upgrading" not in docker("logs", second).stdout
    status, logs = stop(second)
    assert status == 0
    # this start's log lines only: the first run's are not printed again
    assert logs.count("database system is ready to accept connections") == 1

    upgraded = start(images["new"], volumes)
    wait_healthy(upgraded)
    logs = docker("logs", upgraded).stdout
    assert "Upgrading GitLab from 1.0.0 to 1.1.0" in logs, logs[-3000:]
    assert sh(upgraded, "ls /etc/gitlab/config_backup").strip().startswith("gitlab_config_")
    assert sh(upgraded, "gitlab-psql -d gitlabhq_production -tA -c 'select v from probe'"
              ).strip() == "kept"
    assert sh(upgraded, "gitlab-redis-cli get probe").strip() == "kept"
    # the newer image's start (update-permissions, reconfigure) left owners and modes as
    # they were
    assert ownership(upgraded) == before
    assert stop(upgraded)[0] == 0


@pytest.mark.parametrize("config", [
    "external_url 'http://gitlab.example.test'\nsystem('touch /tmp/pwned')",
    "external_url `touch /tmp/pwned`",
    "external_url 'http://gitlab.example.test'; File.write('/tmp/pwned', 'x')",
])
def test_a_hostile_gitlab_omnibus_config_stops_the_container(images, config):
    name = docker("run", "-d", "-e", f"GITLAB_OMNIBUS_CONFIG={config}", images["old"]
                  ).stdout.strip()
    try:
        docker("wait", name, timeout=120)
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
        logs = docker("logs", name).stdout + docker("logs", name).stderr
        assert state["ExitCode"] == 2, logs
        assert "GITLAB_OMNIBUS_CONFIG:" in logs, logs
        # nothing ran: no marker, no database, no service directory
        changes = docker("diff", name).stdout
        assert "pwned" not in changes, changes
        assert "/var/opt/gitlab/postgresql" not in changes, changes
    finally:
        docker("rm", "-f", name, check=False)


def test_labels_carry_the_version_the_digests_and_the_sbom(images, lifecycle_packages):
    labels = json.loads(docker("inspect", "-f", "{{json .Config.Labels}}", images["new"]
                               ).stdout)
    assert labels["org.opencontainers.image.version"] == "1.1.0-ce.0"
    # The images are made with --root of this repository, which does not define the test
    # project: a project without `names:` has labels under its own name.
    prefix = f"omnibus.{LIFECYCLE_PROJECT}"
    assert labels[f"{prefix}.package"] == lifecycle_packages["new"].name
    sha = subprocess.run(["sha256sum", str(lifecycle_packages["new"])], capture_output=True,
                         text=True, check=True).stdout.split()[0]
    assert labels[f"{prefix}.package.sha256"] == sha
    container = docker("create", images["new"]).stdout.strip()
    try:
        manifest = subprocess.run(f"docker cp {container}:/opt/gitlab/version-manifest.json - "
                                  "| tar -xO | sha256sum", shell=True, capture_output=True,
                                  text=True, check=True).stdout.split()[0]
    finally:
        docker("rm", container)
    assert labels[f"{prefix}.version-manifest.sha256"] == manifest
    sbom = json.loads(labels[f"{prefix}.sbom"])
    assert sbom["spdxVersion"].startswith("SPDX-") and any(
        package["name"] == "gitlab-ctl" for package in sbom["packages"])
    config = json.loads(docker("inspect", "-f", "{{json .Config}}", images["new"]).stdout)
    assert set(config["Volumes"]) == set(VOLUMES)
    assert config["Entrypoint"] == ["/opt/gitlab/bin/gitlab-ctl", "container-run"]
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
