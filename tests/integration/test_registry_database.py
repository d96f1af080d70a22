"""The container registry's metadata database under `gitlab-ctl reconfigure` on a clean
Debian 12 container with real PostgreSQL, nginx and runit (test_reconfigure.py's runtime
image and helpers).

Said plainly: GitLab's container registry cannot be built on this machine (its Go modules
are unreachable), so /opt/gitlab/embedded/bin/registry is a stand-in this test writes: `serve`
sleeps (runit keeps it up), `database migrate up ...` records its arguments and the account
it ran as, connects to the registry database over the socket as that account (as the real
one does with config.yml's host, the socket directory) and exits with the code the test
writes to /var/tmp/registry-exit. Everything else is real: the registry role and database
on PostgreSQL, the backup and restore roles and their grants, the migration marker and log,
re-runs and failures.
"""

from __future__ import annotations

import pytest

from tests.integration.runtime_host import (
    INSTALL_DIR,
    docker,
    gitlab_ctl,
    install_tree,
    runtime_image,  # noqa: F401 (a fixture)
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

REGISTRY = f"{INSTALL_DIR}/embedded/bin/registry"
GITLAB_RB = ("external_url 'http://gitlab.example.test'\n"
             "registry_external_url 'http://registry.example.test:5050'\n"
             "gitlab_rails['backup_role'] = true\n"
             "gitlab_rails['backup_registry_password'] = 'backup-pw'\n"
             "gitlab_rails['restore_registry_password'] = 'restore-pw'\n")
STAND_IN = r"""#!/bin/sh
# stand-in for GitLab's container registry (it cannot be built here)
if [ "$1" = serve ]; then exec sleep infinity; fi
db=down
/opt/gitlab/embedded/bin/psql -h /var/opt/gitlab/postgresql -d registry -tAc 'select 1' \
  >/dev/null 2>&1 && db=up
echo "$* as=$(id -un) db=$db" >> /var/tmp/registry-calls
echo "stand-in registry ran $*"
exit $(cat /var/tmp/registry-exit 2>/dev/null || echo 0)
"""


@pytest.fixture(scope="module")
def host(runtime_image, tmp_path_factory):  # noqa: F811 (the fixture above)
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        sh(name, f"printf %s \"$RB\" > /etc/gitlab/gitlab.rb && printf %s \"$STAND_IN\" > "
           f"{REGISTRY} && chmod 0755 {REGISTRY} && touch /var/tmp/registry-calls && "
           "chmod 0666 /var/tmp/registry-calls", env={"RB": GITLAB_RB, "STAND_IN": STAND_IN})
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def calls(host: str) -> list[str]:
    """The stand-in's migrate calls since the last look (then forgotten)."""
    return sh(host, "cat /var/tmp/registry-calls; : > /var/tmp/registry-calls").stdout.splitlines()


def sql(host: str, query: str, database: str = "template1") -> str:
    return sh(host, f"{INSTALL_DIR}/bin/gitlab-psql -d {database} -tAXc \"$Q\"",
              env={"Q": query}).stdout.strip()


@pytest.fixture(scope="module")
def first_run(host):
    return gitlab_ctl(host, "reconfigure", check=False)


def test_first_run_creates_the_database_then_migrates_once(host, first_run):
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert calls(host) == ["database migrate up /var/opt/gitlab/registry/config.yml "
                           "as=registry db=up"]
    out = first_run.stdout
    assert out.index("execute[create database registry]") < out.index(
        "execute[migrate registry database: registry]")


def test_the_registry_database_is_owned_by_the_registry_role(host, first_run):
    assert sql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database "
               "WHERE datname = 'registry'") == "registry"
    assert sql(host, "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = "
               "'partitions'", "registry") == "registry"


def test_backup_and_restore_roles_have_omnibus_options(host, first_run):
    assert sql(host, "SELECT rolinherit, rolcreatedb, rolsuper, rolreplication FROM pg_roles "
               "WHERE rolname = 'registry_backup'") == "f|f|f|f"
    assert sql(host, "SELECT rolsuper FROM pg_roles WHERE rolname = 'registry_restore'") == "t"
    assert sql(host, "SELECT rolpassword FROM pg_authid WHERE rolname = 'registry_backup'"
               ).startswith("md5")


def test_the_backup_role_reads_what_the_registry_creates_later(host, first_run):
    # a table the registry's migrations would create, as the registry role over the socket
    sh(host, f"{INSTALL_DIR}/embedded/bin/chpst -u registry {INSTALL_DIR}/embedded/bin/psql "
       "-h /var/opt/gitlab/postgresql -d registry -c 'CREATE TABLE IF NOT EXISTS "
       "partitions.manifests (id serial); INSERT INTO partitions.manifests DEFAULT VALUES'")
    assert sql(host, "SET ROLE registry_backup; SELECT count(*) FROM partitions.manifests",
               "registry").splitlines()[-1] == "1"


def test_backup_env_files_are_root_only(host, first_run):
    listing = sh(host, f"stat -c '%a %U %n' {INSTALL_DIR}/etc/gitlab-backup/env/*").stdout
    assert listing.split("\n")[:3] == [
        f"400 root {INSTALL_DIR}/etc/gitlab-backup/env/env-backup_user",
        f"400 root {INSTALL_DIR}/etc/gitlab-backup/env/env-connection",
        f"400 root {INSTALL_DIR}/etc/gitlab-backup/env/env-restore_user"]
    assert "REGISTRY_DATABASE_HOST=/var/opt/gitlab/postgresql" in sh(
        host, f"cat {INSTALL_DIR}/etc/gitlab-backup/env/env-connection").stdout


def test_a_no_op_reconfigure_migrates_nothing(host, first_run):
    calls(host)
    second = gitlab_ctl(host, "reconfigure")
    assert calls(host) == []
    for converged in ("migrate registry database", "registry database backup privileges",
                      "registry_backup postgresql user", "registry_restore postgresql user",
                      "create database registry", "partitions schema", "gitlab-backup/env"):
        assert converged not in second.stdout, second.stdout


def test_a_failing_migration_fails_the_run_naming_its_log_and_is_retried(host, first_run):
    # a new registry binary brings new migrations: touching it stands for an upgrade
    sh(host, f"echo 1 > /var/tmp/registry-exit && touch {REGISTRY}")
    failed = gitlab_ctl(host, "reconfigure", check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "registry database migrate up` exited 1" in output
    log = output.split("its output is in ", 1)[1].split()[0].rstrip(";.")
    assert "stand-in registry ran database migrate up" in sh(host, f"cat {log}").stdout
    assert len(calls(host)) == 1
    sh(host, "echo 0 > /var/tmp/registry-exit")
    assert gitlab_ctl(host, "reconfigure", check=False).returncode == 0
    assert len(calls(host)) == 1  # the failed one left no marker
