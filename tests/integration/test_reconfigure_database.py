"""The database lifecycle under `gitlab-ctl reconfigure` on a clean Debian 12 container with
real PostgreSQL, Redis, nginx and runit (test_reconfigure.py's runtime image and helpers).

Said plainly: GitLab's Rails cannot be built on this machine, so `gitlab-rake` is a stand-in
this test writes to /opt/gitlab/bin/gitlab-rake (with a REVISION file and config/application.rb
standing for the Rails tree). It records its arguments, the names (never the values) of the
GITLAB_* variables it was given and whether the gitlab database answered when it ran, and
exits with the code the test writes to /var/tmp/rake-exit. Everything around it is real:
PostgreSQL's role and database made before it, the upgrade-status marker, the log file,
re-runs, failures and the skip file.
"""

from __future__ import annotations

import re

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

RAILS = f"{INSTALL_DIR}/embedded/service/gitlab-rails"
ROOT_PASSWORD = "s3cret-root-pw"
GITLAB_RB = ("external_url 'http://gitlab.example.test'\n"
             f"gitlab_rails['initial_root_password'] = '{ROOT_PASSWORD}'\n")
STAND_IN = r"""#!/bin/sh
# stand-in for GitLab's gitlab-rake (Rails cannot be built here): records the call
names=""
for name in GITLAB_ROOT_PASSWORD GITLAB_LICENSE_FILE GITLAB_SHARED_RUNNERS_REGISTRATION_TOKEN; do
  eval "value=\${$name}"
  [ -n "$value" ] && names="$names $name"
done
db=down
/opt/gitlab/bin/gitlab-psql -d gitlabhq_production -tAc 'select 1' >/dev/null 2>&1 && db=up
echo "$*${names} db=$db" >> /var/tmp/rake-calls
echo "stand-in rake ran $*"
exit $(cat /var/tmp/rake-exit 2>/dev/null || echo 0)
"""


@pytest.fixture(scope="module")
def host(runtime_image, tmp_path_factory):  # noqa: F811 (the fixture above)
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        sh(name, f"printf %s \"$RB\" > /etc/gitlab/gitlab.rb && "
           f"mkdir -p {RAILS}/config && touch {RAILS}/config/application.rb && "
           f"echo rev0001 > {RAILS}/REVISION && printf %s \"$RAKE\" > {INSTALL_DIR}/bin/"
           f"gitlab-rake && chmod 0755 {INSTALL_DIR}/bin/gitlab-rake",
           env={"RB": GITLAB_RB, "RAKE": STAND_IN})
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def calls(host: str) -> list[str]:
    """The stand-in's calls since the last look (then forgotten)."""
    text = sh(host, "cat /var/tmp/rake-calls 2>/dev/null; rm -f /var/tmp/rake-calls").stdout
    return text.splitlines()


@pytest.fixture(scope="module")
def first_run(host):
    return gitlab_ctl(host, "reconfigure", check=False)


def test_first_run_migrates_once_with_the_database_up_then_clears_the_cache(host, first_run):
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert calls(host) == ["gitlab:db:configure GITLAB_ROOT_PASSWORD db=up",
                           "cache:clear db=up"]
    out = first_run.stdout
    assert out.index("execute[create database gitlabhq_production]") < \
        out.index("rails_migration[gitlab-rails]") < \
        out.index("execute[clear the gitlab-rails cache]")
    assert ROOT_PASSWORD not in out + first_run.stderr
    assert "Default admin account has been configured" in out
    logs = sh(host, "ls /var/log/gitlab/gitlab-rails/").stdout.split()
    log = next(name for name in logs if name.startswith("gitlab-rails-db-migrate-"))
    assert re.fullmatch(r"gitlab-rails-db-migrate-\d{4}(-\d\d){5}\.log", log)
    path = f"/var/log/gitlab/gitlab-rails/{log}"
    assert sh(host, f"stat -c '%a %U' {path}").stdout.split() == ["600", "git"]
    assert sh(host, f"cat {path}").stdout == "stand-in rake ran gitlab:db:configure\n"
    marker = sh(host, "ls /var/opt/gitlab/gitlab-rails/upgrade-status/").stdout.split()
    assert len(marker) == 1 and re.fullmatch(r"db-migrate-[0-9a-f]{32}-rev0001", marker[0])
    # a password given in gitlab.rb is not stored (store_initial_root_password unset)
    assert sh(host, "test -e /etc/gitlab/initial_root_password", check=False).returncode == 1


def test_a_no_op_reconfigure_runs_no_rake_task(host, first_run):
    calls(host)
    second = gitlab_ctl(host, "reconfigure")
    assert re.search(r"Checked \d+ resources, 0 updated", second.stdout), second.stdout
    assert calls(host) == []


def test_a_new_rails_revision_migrates_again(host, first_run):
    calls(host)
    sh(host, f"echo rev0002 > {RAILS}/REVISION")
    run = gitlab_ctl(host, "reconfigure")
    assert calls(host) == ["gitlab:db:configure GITLAB_ROOT_PASSWORD db=up",
                           "cache:clear db=up"]
    assert "Default admin account" not in run.stdout  # not the first run any more
    assert gitlab_ctl(host, "reconfigure").returncode == 0
    assert calls(host) == []


def test_a_failing_migration_fails_the_run_naming_task_and_log_and_is_retried(
        host, first_run):
    calls(host)
    sh(host, f"echo rev0003 > {RAILS}/REVISION && echo 1 > /var/tmp/rake-exit")
    failed = gitlab_ctl(host, "reconfigure", check=False)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert "rails_migration[gitlab-rails]" in text
    assert "gitlab-rake gitlab:db:configure` exited 1" in text
    assert re.search(r"/var/log/gitlab/gitlab-rails/gitlab-rails-db-migrate-[\d-]+\.log", text)
    assert "gitlab Reconfigured!" not in text
    assert calls(host) == ["gitlab:db:configure GITLAB_ROOT_PASSWORD db=up"]
    sh(host, "rm /var/tmp/rake-exit")
    retried = gitlab_ctl(host, "reconfigure")
    assert "gitlab Reconfigured!" in retried.stdout
    assert calls(host)[0] == "gitlab:db:configure GITLAB_ROOT_PASSWORD db=up"


def test_skip_auto_migrations_skips_with_a_warning(host, first_run):
    calls(host)
    sh(host, f"echo rev0004 > {RAILS}/REVISION && touch /etc/gitlab/skip-auto-migrations")
    try:
        run = gitlab_ctl(host, "reconfigure")
        assert calls(host) == []
        assert "database migrations were NOT run (/etc/gitlab/skip-auto-migrations exists" \
            in run.stdout
    finally:
        sh(host, "rm -f /etc/gitlab/skip-auto-migrations")
    gitlab_ctl(host, "reconfigure")
    assert calls(host)[0].startswith("gitlab:db:configure")
