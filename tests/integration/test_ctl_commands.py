"""omnibus-gitlab's maintenance commands on a reconfigured host (runtime_host.py: Debian's
PostgreSQL, Redis, nginx and runit stand in for the package's builds): graceful-kill,
completion in the real bash, generate-secrets, get-redis-master (the bundled Redis, and a
real Sentinel), set-replication-password, deploy-page through nginx, remove-accounts, and
an unshipped command's refusal.

Stand-ins: GitLab Rails is not in this package, so its public/502.html and deploy.html are
two small files written before reconfigure (the files Rails ships there); the Sentinel and
the Redis it watches are Debian's redis-server in sentinel mode, started by the test."""

from __future__ import annotations

import json
import re
import time

import pytest

from gitlab_ctl.services.postgresql_roles import password_matches
from tests.integration.runtime_host import (
    INSTALL_DIR,
    PREFIX,
    docker,
    gitlab_ctl,
    install_tree,
    runtime_image,  # noqa: F401 (a fixture)
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

PUBLIC = f"{PREFIX}/service/gitlab-rails/public"
CURL = "curl -s -w ' %{http_code}' -H 'Host: gitlab.example.test' http://127.0.0.1/"
PATH = {"PATH": f"{INSTALL_DIR}/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


@pytest.fixture(scope="module")
def host(runtime_image, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        sh(name, f"mkdir -p {PUBLIC} && echo 'stand-in 502' > {PUBLIC}/502.html && "
           f"echo 'stand-in deploy page' > {PUBLIC}/deploy.html")
        gitlab_ctl(name, "reconfigure")
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def test_an_unshipped_command_exits_2_naming_what_it_needs(host):
    result = gitlab_ctl(host, "patroni", "members", "--verbose", check=False)
    assert result.returncode == 2
    assert result.stderr == ("gitlab-ctl patroni: needs Patroni, which this package does not "
                             "include (GitLab EE's omnibus package has it)\n")


def test_bash_completes_commands_and_service_names(host):
    sh(host, f"{INSTALL_DIR}/bin/gitlab-ctl completion > /tmp/gitlab-ctl.bash")

    def complete(line: str) -> str:
        words = line.split(" ")
        script = (f"source /tmp/gitlab-ctl.bash; complete -p gitlab-ctl; "
                  f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _gitlab_ctl; "
                  "echo \"${COMPREPLY[*]}\"")
        return sh(host, f"bash -c '{script}'").stdout

    first = complete("gitlab-ctl rec")
    assert first == "complete -F _gitlab_ctl gitlab-ctl\nreconfigure\n"
    assert complete("gitlab-ctl restart red").splitlines()[-1] == "redis"
    assert complete("gitlab-ctl graceful-kill post").splitlines()[-1] == "postgresql"


def test_generate_secrets_writes_the_installed_secrets_to_the_file(host):
    result = gitlab_ctl(host, "generate-secrets", "--file", "/root/secrets.json")
    assert result.stdout == "/root/secrets.json: written\n"
    assert sh(host, "stat -c %a /root/secrets.json").stdout.strip() == "600"
    written = json.loads(sh(host, "cat /root/secrets.json").stdout)
    installed = json.loads(sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout)
    assert written["gitlab_rails"]["secret_key_base"] == (
        installed["gitlab_rails"]["secret_key_base"])


def test_get_redis_master_asks_the_bundled_redis(host):
    result = gitlab_ctl(host, "get-redis-master")
    assert result.stdout.startswith("Redis master found at unix socket "
                                    "/var/opt/gitlab/redis/redis.socket")


def test_get_redis_master_asks_a_real_sentinel(host):
    sh(host, f"{PREFIX}/bin/redis-server --port 6390 --daemonize yes && "
       "printf 'port 26390\\nsentinel monitor gitlab-redis 127.0.0.1 6390 1\\n' "
       "> /tmp/sentinel.conf && "
       f"{PREFIX}/bin/redis-server /tmp/sentinel.conf --sentinel --daemonize yes")
    sh(host, "cp /etc/gitlab/gitlab.rb /tmp/gitlab.rb.saved && printf '%s\\n' "
       "\"gitlab_rails['redis_sentinels'] = [{'host' => '127.0.0.1', 'port' => 26390}]\" "
       ">> /etc/gitlab/gitlab.rb")
    try:
        result = gitlab_ctl(host, "get-redis-master")
        assert result.stdout == "Redis master found at host 127.0.0.1 listening on port 6390\n"
    finally:
        sh(host, "cp /tmp/gitlab.rb.saved /etc/gitlab/gitlab.rb && "
           f"{PREFIX}/bin/redis-cli -p 26390 shutdown nosave; "
           f"{PREFIX}/bin/redis-cli -p 6390 shutdown nosave", check=False)


def test_set_replication_password_changes_the_role_in_postgresql(host):
    query = ("gitlab-psql -d template1 -tAc \"select rolpassword from pg_authid "
             "where rolname = 'gitlab_replicator'\"")
    result = sh(host, f"echo 'n3w-rep1ication' | {INSTALL_DIR}/bin/gitlab-ctl "
                "set-replication-password")
    assert result.stdout == ("Password of the PostgreSQL replication role gitlab_replicator "
                             "changed\n")
    stored = sh(host, query, env=PATH).stdout.strip()
    assert password_matches(stored, "n3w-rep1ication", "gitlab_replicator")
    assert "n3w-rep1ication" not in stored


def test_deploy_page_is_served_by_nginx_while_up(host):
    assert gitlab_ctl(host, "deploy-page", "status").stdout == "Deploy page is down\n"
    assert sh(host, CURL).stdout == "stand-in 502\n 502"  # no workhorse: Rails' 502 page
    up = gitlab_ctl(host, "deploy-page", "up")
    assert up.stdout == f"cp {PUBLIC}/deploy.html {PUBLIC}/index.html\n"
    assert sh(host, CURL).stdout == "stand-in deploy page\n 503"
    assert sh(host, CURL + "some/project").stdout == "stand-in deploy page\n 503"
    assert gitlab_ctl(host, "deploy-page", "status").stdout == "Deploy page is up\n"
    assert gitlab_ctl(host, "deploy-page", "down").stdout == f"rm -f {PUBLIC}/index.html\n"
    assert sh(host, CURL).stdout == "stand-in 502\n 502"
    bad = gitlab_ctl(host, "deploy-page", "sideways", check=False)
    assert bad.returncode == 2 and "invalid choice: 'sideways'" in bad.stderr


STUBBORN_RUN = """#!/bin/sh
exec 2>&1
trap '' TERM
sleep 100001 &
exec sleep 100002
"""


def wait_for(host: str, script: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while sh(host, script, check=False).returncode != 0:
        assert time.monotonic() < deadline, script
        time.sleep(0.5)


def test_graceful_kill_kills_what_ignores_term(host):
    sh(host, f"mkdir -p {INSTALL_DIR}/sv/stubborn && printf %s \"$RUN\" > "
       f"{INSTALL_DIR}/sv/stubborn/run && chmod 755 {INSTALL_DIR}/sv/stubborn/run && "
       f"ln -s {INSTALL_DIR}/sv/stubborn {INSTALL_DIR}/service/stubborn",
       env={"RUN": STUBBORN_RUN})
    # anchored: the shell running pgrep has the pattern in its own command line
    wait_for(host, "pgrep -f '^sleep 100001' && pgrep -f '^sleep 100002'")
    result = sh(host, f"{INSTALL_DIR}/bin/gitlab-ctl graceful-kill stubborn",
                env={"SVWAIT": "2"})
    assert re.search(r"^timeout: run: stubborn: \(pid \d+\)", result.stdout, re.MULTILINE)
    assert re.search(r"^found stuck pids still running in process group: \[[\d, ]+\], "
                     r"sending SIGKILL$", result.stdout, re.MULTILINE), result.stdout
    wait_for(host, "! pgrep -f '^sleep 10000[12]'", seconds=5)
    assert gitlab_ctl(host, "status", "stubborn", check=False).stdout.startswith(
        "down: stubborn:")
    sh(host, f"rm {INSTALL_DIR}/service/stubborn")


def test_remove_accounts_after_the_services_are_stopped(host):
    accounts = "git gitlab-www gitlab-psql gitlab-redis"
    refused = gitlab_ctl(host, "remove-accounts", check=False)
    assert refused.returncode == 1
    assert "processes still run as" in refused.stderr and "nothing was removed" in refused.stderr
    assert len(sh(host, f"getent passwd {accounts}").stdout.splitlines()) == 4
    gitlab_ctl(host, "stop")
    gitlab_ctl(host, "uninstall")
    removed = gitlab_ctl(host, "remove-accounts")
    for name in accounts.split():
        assert f"user {name}: removed" in removed.stdout
    assert sh(host, f"getent passwd {accounts}", check=False).stdout == ""
    assert sh(host, f"getent group {accounts}", check=False).stdout == ""
