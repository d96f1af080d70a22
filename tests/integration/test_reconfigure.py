"""gitlab-ctl reconfigure on a clean Debian 12 container, with real PostgreSQL, Redis, nginx
and runit (runtime_host.py: Debian's programs stand in for the package's builds). The
container has no systemd, so reconfigure starts runsvdir itself, as it does in containers;
`docker restart` of it is a host whose supervisor died with everything else.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.integration.runtime_host import (
    INSTALL_DIR,
    PREFIX,
    docker,
    gitlab_ctl,
    install_tree,
    pids,
    runtime_image,  # noqa: F401 (a fixture)
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def host(runtime_image, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """No init system, as in most containers: reconfigure starts runsvdir itself."""
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def first_run(host):
    return gitlab_ctl(host, "reconfigure")


def test_first_reconfigure_brings_up_postgresql_redis_and_nginx(host, first_run):
    assert "gitlab Reconfigured!" in first_run.stdout
    # the database superuser through the wrapper, and Rails' role as Rails connects: as the
    # git system user, over the socket, mapped to the gitlab role
    path = {"PATH": f"{INSTALL_DIR}/bin:/usr/bin:/bin"}
    assert sh(host, "gitlab-psql -tA -c 'select 1'", env=path).stdout.strip() == "1"
    who = sh(host, f"{PREFIX}/bin/psql -h /var/opt/gitlab/postgresql -U gitlab "
             "-d gitlabhq_production -tA -c 'select current_user'", user="git")
    assert who.stdout.strip() == "gitlab"
    assert sh(host, f"{INSTALL_DIR}/bin/gitlab-redis-cli ping").stdout.strip() == "PONG"
    assert sh(host, f"{PREFIX}/bin/redis-cli -s /var/opt/gitlab/redis/redis.socket ping"
              ).stdout.strip() == "PONG"
    # nginx answers on port 80 for the external URL's host; workhorse is not in this package,
    # so the proxied request is a 502 from nginx itself
    code = sh(host, "curl -s -o /dev/null -w '%{http_code}' -H 'Host: gitlab.example.test' "
              "http://127.0.0.1/").stdout
    assert code == "502"
    assert "Active connections" in sh(host, "curl -s http://127.0.0.1:8060/nginx_status").stdout
    # Rails is not in this package: said once, plainly, by the run that wrote its files
    assert first_run.stdout.count("gitlab-rails: its configuration is written, but this "
                                  "package does not include") == 1


def test_status_shows_every_service_running_in_omnibus_format(host, first_run):
    status = gitlab_ctl(host, "status")
    for service in ("logrotate", "nginx", "postgresql", "redis"):
        assert re.search(rf"^run: {service}: \(pid \d+\) \d+s; run: log: \(pid \d+\) \d+s$",
                         status.stdout, re.MULTILINE), status.stdout
    assert status.returncode == 0


def test_second_reconfigure_changes_nothing_and_restarts_nothing(host, first_run):
    before = pids(host)
    secrets = sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout
    second = gitlab_ctl(host, "reconfigure")
    assert re.search(r"Checked \d+ resources, 0 updated", second.stdout), second.stdout
    assert "* " not in second.stdout
    assert "Notes:" not in second.stdout  # what the first run noted is not news any more
    assert pids(host) == before
    assert sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout == secrets
    assert sh(host, "stat -c %a /etc/gitlab/gitlab-secrets.json").stdout.strip() == "600"


def test_a_redis_setting_restarts_redis_only(host, first_run):
    before = pids(host)
    sh(host, "echo \"redis['maxclients'] = 4321\" >> /etc/gitlab/gitlab.rb")
    run = gitlab_ctl(host, "reconfigure")
    assert "runit_service[redis] action restart" in run.stdout
    after = pids(host)
    assert after["redis"] != before["redis"]
    assert {k: v for k, v in after.items() if k != "redis"} == \
        {k: v for k, v in before.items() if k != "redis"}
    answer = sh(host, f"{INSTALL_DIR}/bin/gitlab-redis-cli config get maxclients").stdout
    assert answer.split() == ["maxclients", "4321"]


@pytest.mark.parametrize("line", [
    "system('touch /tmp/injected')",
    "`touch /tmp/injected`",
    "redis['maxclients'] = `touch /tmp/injected`",
    "gitlab_rails['time_zone'] = File.write('/tmp/injected', 'x')",
    "external_url \"http://#{system('touch /tmp/injected')}\"",
    "eval(\"system('touch /tmp/injected')\")",
    "%x(touch /tmp/injected)",
    "$stdout.puts 1",
])
def test_code_in_gitlab_rb_is_refused_with_its_line_and_nothing_runs(host, first_run, line):
    sh(host, "cp /etc/gitlab/gitlab.rb /tmp/gitlab.rb.good")
    before = pids(host)
    conf = sh(host, "md5sum /var/opt/gitlab/redis/redis.conf").stdout
    sh(host, "printf '%s\\n' \"$LINE\" >> /etc/gitlab/gitlab.rb", env={"LINE": line})
    try:
        run = gitlab_ctl(host, "reconfigure", check=False)
        lines = int(sh(host, "wc -l < /etc/gitlab/gitlab.rb").stdout)
        assert run.returncode == 2, run.stdout + run.stderr
        assert f"/etc/gitlab/gitlab.rb:{lines}:" in run.stderr
        assert sh(host, "test -e /tmp/injected", check=False).returncode == 1
        assert sh(host, "md5sum /var/opt/gitlab/redis/redis.conf").stdout == conf
        assert pids(host) == before
    finally:
        sh(host, "cp /tmp/gitlab.rb.good /etc/gitlab/gitlab.rb")


def test_dry_run_prints_the_diff_and_changes_nothing(host, first_run):
    sh(host, "echo \"nginx['keepalive_timeout'] = 30\" >> /etc/gitlab/gitlab.rb")
    conf = sh(host, "cat /var/opt/gitlab/nginx/conf/nginx.conf").stdout
    run = gitlab_ctl(host, "reconfigure", "--dry-run")
    assert "+  keepalive_timeout 30;" in run.stdout
    assert "-  keepalive_timeout 65;" in run.stdout
    assert "runit_service[nginx] action hup" in run.stdout
    assert sh(host, "cat /var/opt/gitlab/nginx/conf/nginx.conf").stdout == conf
    workers = nginx_workers(host)
    applied = gitlab_ctl(host, "reconfigure")
    assert "keepalive_timeout 30;" in sh(host, "cat /var/opt/gitlab/nginx/conf/nginx.conf").stdout
    assert "runit_service[nginx] action hup" in applied.stdout
    # reconfigure returns once nginx serves the new configuration: none of the old
    # workers is left to answer with the old one
    reloaded = nginx_workers(host)
    assert reloaded and not reloaded & workers


def nginx_workers(container: str) -> set[str]:
    master = pids(container)["nginx"]
    return set(sh(container, f"cat /proc/{master}/task/*/children").stdout.split())


def test_stop_and_start_one_service(host, first_run):
    stopped = gitlab_ctl(host, "stop", "redis")
    assert stopped.stdout.startswith("ok: down: redis:")
    status = gitlab_ctl(host, "status", check=False)
    assert re.search(r"^down: redis: \d+s, normally up; run: log:", status.stdout, re.MULTILINE)
    assert status.returncode == 1
    assert gitlab_ctl(host, "start", "redis").stdout.startswith("ok: run: redis:")
    assert gitlab_ctl(host, "status", "redis").returncode == 0
    unknown = gitlab_ctl(host, "restart", "nosuch", check=False)
    assert unknown.returncode == 2 and "nosuch is not a service" in unknown.stderr


def test_a_postgresql_setting_reloads_it_and_names_what_needs_a_restart(host, first_run):
    before = pids(host)
    sh(host, "echo \"postgresql['work_mem'] = '32MB'\" >> /etc/gitlab/gitlab.rb && "
       "echo \"postgresql['max_connections'] = 300\" >> /etc/gitlab/gitlab.rb")
    run = gitlab_ctl(host, "reconfigure")
    assert "runit_service[postgresql] action hup" in run.stdout
    assert pids(host) == before  # reloaded, not restarted: connections survive
    assert "max_connections change only when PostgreSQL restarts" in run.stdout
    path = {"PATH": f"{INSTALL_DIR}/bin:/usr/bin:/bin"}
    assert sh(host, "gitlab-psql -tA -c 'show work_mem'", env=path).stdout.strip() == "32MB"


def test_an_https_url_with_an_unusable_certificate_fails_and_nginx_keeps_working(
        host, first_run):
    """Certificate files that exist (so Let's Encrypt stays off, as omnibus-gitlab decides)
    but are not certificates: nginx's own check refuses them."""
    vhost = "/var/opt/gitlab/nginx/conf/service_conf/gitlab-rails.conf"
    before, conf = pids(host), sh(host, f"md5sum {vhost}").stdout
    sh(host, "mkdir -p /etc/gitlab/ssl && for f in crt key; do echo 'not a PEM file' > "
             "/etc/gitlab/ssl/gitlab.example.test.$f; done")
    # http2 off: this stand-in runs Debian 12's nginx 1.22, older than `http2 on` (1.25.1);
    # the package's own nginx (1.26.3 in gitlab-local, 1.31 in gitlab-ce) takes it
    sh(host, "cp /etc/gitlab/gitlab.rb /tmp/gitlab.rb.good && sed -i "
             "'s|^external_url .*|external_url \"https://gitlab.example.test\"|' "
             "/etc/gitlab/gitlab.rb && echo \"nginx['http2_enabled'] = false\" >> "
             "/etc/gitlab/gitlab.rb")
    try:
        run = gitlab_ctl(host, "reconfigure", check=False)
        assert run.returncode == 1, run.stdout + run.stderr
        assert "gitlab Reconfigured!" not in run.stdout
        assert f"check[nginx]: nginx rejects the new configuration ({vhost})" in run.stderr
        assert 'cannot load certificate "/etc/gitlab/ssl/gitlab.example.test.crt"' in run.stderr
        assert "hint: an https external_url needs a certificate and its key" in run.stderr
        assert sh(host, f"md5sum {vhost}").stdout == conf
        assert pids(host)["nginx"] == before["nginx"]  # not even sent a HUP
        # and a restart starts with the previous, working configuration
        gitlab_ctl(host, "restart", "nginx")
        assert gitlab_ctl(host, "status", "nginx").returncode == 0
        code = sh(host, "curl -s -o /dev/null -w '%{http_code}' -H 'Host: gitlab.example.test' "
                  "http://127.0.0.1/").stdout
        assert code == "502"
    finally:
        sh(host, "cp /tmp/gitlab.rb.good /etc/gitlab/gitlab.rb && rm -r /etc/gitlab/ssl")
        gitlab_ctl(host, "reconfigure")


def test_a_failed_run_leaves_the_restarts_it_owed_to_the_next_run(host, first_run):
    # redis.conf is written before nginx's check fails: the restart it asked for comes with
    # the next run that succeeds, although that run finds redis.conf up to date
    before = pids(host)
    sh(host, "mkdir -p /etc/gitlab/ssl && for f in crt key; do echo 'not a PEM file' > "
             "/etc/gitlab/ssl/gitlab.example.test.$f; done")
    sh(host, "cp /etc/gitlab/gitlab.rb /tmp/gitlab.rb.good && "
             "echo \"redis['maxclients'] = 4000\" >> /etc/gitlab/gitlab.rb && sed -i "
             "'s|^external_url .*|external_url \"https://gitlab.example.test\"|' "
             "/etc/gitlab/gitlab.rb")
    try:
        failed = gitlab_ctl(host, "reconfigure", check=False)
        assert failed.returncode == 1 and "check[nginx]" in failed.stderr
        assert pids(host)["redis"] == before["redis"]
        sh(host, "sed -i 's|^external_url .*|external_url \"http://gitlab.example.test\"|' "
                 "/etc/gitlab/gitlab.rb")
        again = gitlab_ctl(host, "reconfigure")
        assert "template[/var/opt/gitlab/redis/redis.conf]" not in again.stdout
        assert "runit_service[redis] action restart" in again.stdout
        answer = sh(host, f"{INSTALL_DIR}/bin/gitlab-redis-cli config get maxclients").stdout
        assert answer.split() == ["maxclients", "4000"]
        third = gitlab_ctl(host, "reconfigure")
        assert "action restart" not in third.stdout  # owed once, delivered once
    finally:
        sh(host, "cp /tmp/gitlab.rb.good /etc/gitlab/gitlab.rb && rm -rf /etc/gitlab/ssl")
        gitlab_ctl(host, "reconfigure")


def test_a_value_postgres_refuses_fails_and_the_server_keeps_running(host, first_run):
    runtime = "/var/opt/gitlab/postgresql/data/runtime.conf"
    before, conf = pids(host), sh(host, f"md5sum {runtime}").stdout
    sh(host, "echo \"postgresql['work_mem'] = '32XB'\" >> /etc/gitlab/gitlab.rb")
    try:
        run = gitlab_ctl(host, "reconfigure", check=False)
        assert run.returncode == 1, run.stdout + run.stderr
        assert f"check[postgresql]: postgres rejects the new configuration ({runtime})" \
            in run.stderr
        assert 'invalid value for parameter "work_mem": "32XB"' in run.stderr
        assert sh(host, f"md5sum {runtime}").stdout == conf
        assert pids(host)["postgresql"] == before["postgresql"]
        gitlab_ctl(host, "restart", "postgresql")  # starts with the previous configuration
        sh(host, f"for i in $(seq 100); do {INSTALL_DIR}/bin/gitlab-psql -c 'select 1' "
                 ">/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1")
    finally:
        sh(host, "sed -i '$d' /etc/gitlab/gitlab.rb")
    assert "gitlab Reconfigured!" in gitlab_ctl(host, "reconfigure").stdout


def test_after_the_container_was_killed_status_fails_until_reconfigure_starts_runit(
        host, first_run):
    # `docker restart -t 0`: everything gets KILL, the disk keeps runsv's FIFOs, its status
    # records ("run") and PostgreSQL's socket; PID 1 is `sleep`, so nothing starts runsvdir
    docker("restart", "-t", "0", host)
    status = gitlab_ctl(host, "status", check=False)
    services = ("logrotate", "nginx", "postgresql", "redis")
    assert status.stdout.splitlines() == [f"fail: {s}: runsv not running" for s in services]
    assert status.returncode == len(services)
    assert "runsvdir is not running" in status.stderr
    start = gitlab_ctl(host, "start", "redis", check=False)
    assert (start.returncode, start.stdout) == (1, "fail: redis: runsv not running\n")
    assert "runsvdir is not running" in start.stderr
    assert "run `gitlab-ctl reconfigure`, which starts it" in start.stderr
    # reconfigure starts runsvdir, and waits for PostgreSQL's crash recovery rather than
    # skipping the database objects
    run = gitlab_ctl(host, "reconfigure")
    assert "skipped" not in run.stdout and "Warnings:" not in run.stdout, run.stdout
    assert "* wait[postgresql]" in run.stdout
    path = {"PATH": f"{INSTALL_DIR}/bin:/usr/bin:/bin"}
    assert sh(host, "gitlab-psql -tA -c 'select 1'", env=path).stdout.strip() == "1"
    assert set(pids(host)) == set(services)


def test_reconfigure_with_postgresql_stopped_fails_and_says_to_start_it(host, first_run):
    gitlab_ctl(host, "stop", "postgresql")
    try:
        run = gitlab_ctl(host, "reconfigure", check=False)
    finally:
        gitlab_ctl(host, "start", "postgresql")
    assert run.returncode == 1
    assert "gitlab Reconfigured!" not in run.stdout
    assert "wait[postgresql]: PostgreSQL is not running" in run.stderr
    assert "hint: start it with `gitlab-ctl start postgresql`" in run.stderr
    assert "gitlab Reconfigured!" in gitlab_ctl(host, "reconfigure").stdout


def appended(host, line: str, *args: str):
    """reconfigure with `line` added to gitlab.rb (taken out again whatever happens); the
    run and the line's number."""
    sh(host, f"echo {shlex.quote(line)} >> /etc/gitlab/gitlab.rb")
    number = int(sh(host, "wc -l < /etc/gitlab/gitlab.rb").stdout)
    try:
        return gitlab_ctl(host, "reconfigure", *args, check=False), number
    finally:
        sh(host, "sed -i '$d' /etc/gitlab/gitlab.rb")


def test_an_unknown_setting_is_refused_and_a_not_applicable_one_warned_with_its_line(
        host, first_run):
    refused, line = appended(host, "redis['maxclient'] = 10")
    assert refused.returncode == 2
    output = refused.stdout + refused.stderr
    assert f"/etc/gitlab/gitlab.rb:{line}: redis['maxclient'] is not a setting of redis" in output
    assert "did you mean redis['maxclients']?" in output
    assert "Reconfigured!" not in output
    warned, line = appended(host, "redis['master_name'] = 'm'")
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert (f"/etc/gitlab/gitlab.rb:{line}: redis['master_name'] is not applicable here: "
            in warned.stdout + warned.stderr)


def test_a_failing_resource_stops_the_run_naming_it_and_a_rerun_converges(host, first_run):
    conf = "/var/opt/gitlab/nginx/conf/service_conf"
    sh(host, f"mv {conf} /tmp/service_conf && echo 'in the way' > {conf}")
    try:
        failed = gitlab_ctl(host, "reconfigure", check=False)
    finally:
        sh(host, f"rm {conf} && mv /tmp/service_conf {conf}")
    assert failed.returncode == 1
    assert f"directory[{conf}]: exists and is not a directory" in failed.stderr
    log = re.search(r"/var/log/gitlab/reconfigure/[\d-]+\.log", failed.stderr).group(0)
    assert "exists and is not a directory" in sh(host, f"cat {log}").stdout
    again = gitlab_ctl(host, "reconfigure")
    assert re.search(r"Checked \d+ resources, 0 updated", again.stdout), again.stdout
    code = sh(host, "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/").stdout
    assert code == "502"


def test_backup_etc_writes_a_private_tar_with_the_secrets(host, first_run):
    run = gitlab_ctl(host, "backup-etc")
    found = re.search(r"^Configuration backup archive complete: (\S+)$", run.stdout, re.MULTILINE)
    assert found, run.stdout
    archive = found.group(1)
    assert re.fullmatch(r"/etc/gitlab/config_backup/gitlab_config_\d+_\d{4}_\d{2}_\d{2}\.tar",
                        archive)
    assert sh(host, f"stat -c '%a %U' {archive}").stdout.strip() == "600 root"
    assert sh(host, "stat -c '%a %U' /etc/gitlab/config_backup").stdout.strip() == "700 root"
    names = sh(host, f"tar -tf {archive}").stdout.split()
    assert {"etc/gitlab/gitlab.rb", "etc/gitlab/gitlab-secrets.json"} <= set(names)
    assert not any("config_backup" in name for name in names)
    secrets = sh(host, f"tar -xOf {archive} etc/gitlab/gitlab-secrets.json").stdout
    assert secrets == sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout
    assert sh(host, "ls -A /etc/gitlab/config_backup").stdout.split() == [archive.split("/")[-1]]


def test_restart_except_leaves_the_named_services_alone(host, first_run):
    before = pids(host)
    gitlab_ctl(host, "restart-except", "postgresql", "redis")
    after = pids(host)
    assert set(after) == set(before)
    assert (after["postgresql"], after["redis"]) == (before["postgresql"], before["redis"])
    assert after["nginx"] != before["nginx"] and after["logrotate"] != before["logrotate"]


def test_upgrade_restarts_what_ran_and_keeps_the_database(host, first_run):
    env = {"PATH": f"{INSTALL_DIR}/bin:/usr/bin:/bin"}
    sh(host, "gitlab-psql -d gitlabhq_production -c \"create table upgrade_probe (v text); "
             "insert into upgrade_probe values ('kept')\"", env=env)
    before = pids(host)
    run = gitlab_ctl(host, "upgrade")
    assert "Shutting down all GitLab services except those needed for migrations" in run.stdout
    assert "gitlab Reconfigured!" in run.stdout  # reconfigure's own output
    assert "Upgrade complete!" in run.stdout
    after = pids(host)
    assert set(after) == set(before), run.stdout
    # the databases stayed up for the migrations; the rest was stopped and started again
    assert (after["postgresql"], after["redis"]) == (before["postgresql"], before["redis"])
    assert after["nginx"] != before["nginx"] and after["logrotate"] != before["logrotate"]
    assert gitlab_ctl(host, "status").returncode == 0
    probe = sh(host, "gitlab-psql -d gitlabhq_production -tA -c 'select v from upgrade_probe'",
               env=env)
    assert probe.stdout.strip() == "kept"


def test_upgrade_is_skipped_with_skip_auto_reconfigure(host, first_run):
    before = pids(host)
    sh(host, "touch /etc/gitlab/skip-auto-reconfigure")
    try:
        run = gitlab_ctl(host, "upgrade")
    finally:
        sh(host, "rm -f /etc/gitlab/skip-auto-reconfigure")
    assert run.stdout.strip() == "Found /etc/gitlab/skip-auto-reconfigure, exiting..."
    assert pids(host) == before


def test_service_list_marks_enabled_services(host, first_run):
    sh(host, f"mkdir {INSTALL_DIR}/sv/example-disabled")
    try:
        listed = gitlab_ctl(host, "service-list").stdout.split()
    finally:
        sh(host, f"rmdir {INSTALL_DIR}/sv/example-disabled")
    for service in ("logrotate", "nginx", "postgresql", "redis"):
        assert f"{service}*" in listed, listed
    assert "example-disabled" in listed


def test_cleanse_deletes_all_but_a_copy_of_the_configuration_and_reconfigure_recovers(
        host, first_run):
    secrets = sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout
    run = gitlab_ctl(host, "cleanse", "yes")
    found = re.search(r"^Your config files have been backed up to (/root/gitlab-cleanse-\S+)\.$",
                      run.stdout, re.MULTILINE)
    assert found, run.stdout
    copy = found.group(1)
    for path in ("/etc/gitlab", "/var/opt/gitlab", "/var/log/gitlab"):
        assert sh(host, f"test -e {path}", check=False).returncode == 1, path
    assert sh(host, f"ls -A {INSTALL_DIR}/service").stdout == ""
    # runsv and svlogd ended (a runsv that runsvdir has not reaped yet is a zombie)
    live = "ps -eo stat=,comm= | awk '$1 !~ /^Z/ && ($2 == \"runsv\" || $2 == \"svlogd\")'"
    assert sh(host, live).stdout == ""
    assert sh(host, "pgrep -x postgres", check=False).returncode == 1
    assert sh(host, f"cat {copy}/gitlab-secrets.json").stdout == secrets
    assert sh(host, f"stat -c %a {copy}").stdout.strip() == "700"
    # the copy is all it takes to start again (with empty data)
    sh(host, f"cp -a {copy} /etc/gitlab && rm -rf /etc/gitlab/config_backup")
    assert "gitlab Reconfigured!" in gitlab_ctl(host, "reconfigure").stdout
    assert set(pids(host)) == {"logrotate", "nginx", "postgresql", "redis"}
    assert sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout == secrets
