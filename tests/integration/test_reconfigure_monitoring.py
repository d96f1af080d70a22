"""The monitoring services omnibus-gitlab runs by default, started by `gitlab-ctl reconfigure`
with its default settings on a clean Debian 12 container, and checked for real: each exporter
answers /metrics, Prometheus scrapes them ("up" in /api/v1/targets), Alertmanager is healthy,
and a second reconfigure restarts nothing. A configuration promtool or amtool refuses fails
reconfigure, quoting the tool, and leaves the running program on its previous one.

Said plainly: as in test_reconfigure.py, Debian's programs stand in for the package's builds:
prometheus, prometheus-alertmanager and the node, redis and postgres exporters, linked into
/opt/gitlab/embedded/bin under the names the run scripts use, and Debian's promtool and
amtool (from the same two packages) for the checks reconfigure runs before a new
prometheus.yml, rules file or alertmanager.yml goes live. Debian 12's builds are older
than the package's, so where one does not know a flag omnibus-gitlab passes, the test's
gitlab.rb says so through settings (DEBIAN_LACKS); the run scripts are not changed.
gitlab-exporter (a Ruby gem) and gitlab-kas are not Debian packages: reconfigure writes their
configuration and notes that the package lacks the program.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time

import pytest

from builder.compile.builder_images import image_exists
from tests.integration.runtime_host import (
    INSTALL_DIR,
    PREFIX,
    build_runtime_image,
    docker,
    gitlab_ctl,
    install_tree,
    pids,
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

MONITORING_PACKAGES = ("prometheus prometheus-alertmanager prometheus-node-exporter "
                       "prometheus-redis-exporter prometheus-postgres-exporter")
#: the package's program names -> Debian's
MONITORING_BINARIES = {
    "prometheus": "/usr/bin/prometheus",
    "alertmanager": "/usr/bin/prometheus-alertmanager",
    "node_exporter": "/usr/bin/prometheus-node-exporter",
    "redis_exporter": "/usr/bin/prometheus-redis-exporter",
    "postgres_exporter": "/usr/bin/prometheus-postgres-exporter",
    "promtool": "/usr/bin/promtool",
    "amtool": "/usr/bin/amtool",
}
#: what omnibus-gitlab renders (and so does reconfigure) that Debian 12's builds do not know,
#: switched off in gitlab.rb: postgres_exporter 0.11 has neither collector flag (both came in
#: 0.12), and Debian builds Prometheus 2.42 without Kubernetes service discovery, so the
#: default kubernetes-* jobs make it refuse prometheus.yml.
DEBIAN_LACKS = ("postgres_exporter['flags'] = "
                "{ 'collector.stat_user_tables' => nil, 'collector.postmaster' => nil }\n"
                "prometheus['monitor_kubernetes'] = false\n")
GITLAB_RB = ("external_url 'http://gitlab.example.test'\n"
             # scrape often, so the targets are up within seconds
             "prometheus['scrape_interval'] = 2\nprometheus['scrape_timeout'] = 2\n"
             + DEBIAN_LACKS)
SERVICES = ("prometheus", "alertmanager", "node-exporter", "redis-exporter",
            "postgres-exporter")
#: exporter -> its address and a line its /metrics must have
METRICS = {"node-exporter": ("localhost:9100", r"^node_uname_info\{"),
           "redis-exporter": ("localhost:9121", r"^redis_up 1$"),
           "postgres-exporter": ("localhost:9187", r"^pg_up 1$")}
#: Prometheus' jobs of the services that run here
UP_JOBS = ("prometheus", "node", "redis", "postgres")
DEADLINE = 90


def build_monitoring_image() -> str:
    """The runtime image with Debian's Prometheus programs (not started), cached by hash."""
    base = build_runtime_image()
    tag = "gitlab-ctl-test/debian-12-monitoring:" + hashlib.sha256(
        f"{base} {MONITORING_PACKAGES}".encode()).hexdigest()[:16]
    if not image_exists(tag):
        recipe = (f"FROM {base}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                  f"apt-get install -y -qq --no-install-recommends {MONITORING_PACKAGES} "
                  "&& rm -rf /var/lib/apt/lists/*\n")
        subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=recipe,
                       text=True, check=True, capture_output=True, timeout=1800)
    return tag


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    name = start_host(build_monitoring_image(),
                      install_tree(tmp_path_factory.mktemp("install")))
    try:
        links = " && ".join(f"ln -s {debian} {PREFIX}/bin/{program}"
                            for program, debian in MONITORING_BINARIES.items())
        sh(name, f"{links} && printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
           env={"RB": GITLAB_RB})
        yield name
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def first_run(host):
    return gitlab_ctl(host, "reconfigure")


def curl(host: str, url: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(host, f"curl -sf --max-time 5 {url}", check=check)


def poll(host: str, what: str, probe) -> None:
    """Retry probe() until it is true or DEADLINE passes; fail naming what and the logs."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if probe():
            return
        time.sleep(1)
    logs = sh(host, "tail -n 20 /var/log/gitlab/*/current", check=False).stdout
    pytest.fail(f"{what} within {DEADLINE} s; logs:\n{logs}")


def test_reconfigure_starts_the_monitoring_services(host, first_run):
    assert "gitlab Reconfigured!" in first_run.stdout
    status = gitlab_ctl(host, "status").stdout
    for service in SERVICES:
        assert re.search(rf"^run: {service}: \(pid \d+\) \d+s; run: log: \(pid \d+\) \d+s$",
                         status, re.MULTILINE), status
    # not Debian packages: configured, and said to be missing
    for service in ("gitlab-exporter", "gitlab-kas"):
        assert f"{service}: not started, because this package does not include" \
               in first_run.stdout, first_run.stdout


@pytest.mark.parametrize("service", sorted(METRICS))
def test_each_exporter_answers_with_its_metric(host, first_run, service):
    address, line = METRICS[service]

    def answers() -> bool:
        found = curl(host, f"http://{address}/metrics", check=False)
        return found.returncode == 0 and re.search(line, found.stdout, re.MULTILINE) is not None
    poll(host, f"{service} answering {line} on {address}", answers)


def test_prometheus_scrapes_the_services_and_they_are_up(host, first_run):
    def health() -> dict[str, str]:
        found = curl(host, "http://localhost:9090/api/v1/targets", check=False)
        if found.returncode != 0:
            return {}
        targets = json.loads(found.stdout)["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}
    poll(host, f"targets {UP_JOBS} up in Prometheus",
         lambda: all(health().get(job) == "up" for job in UP_JOBS))


def test_alertmanager_is_healthy_and_prometheus_sends_to_it(host, first_run):
    poll(host, "alertmanager healthy",
         lambda: curl(host, "http://localhost:9093/-/healthy", check=False).returncode == 0)

    def registered() -> bool:
        found = curl(host, "http://localhost:9090/api/v1/alertmanagers", check=False)
        active = json.loads(found.stdout)["data"]["activeAlertmanagers"] if (
            found.returncode == 0) else []
        return any("localhost:9093" in a["url"] for a in active)
    poll(host, "Prometheus sending alerts to localhost:9093", registered)


def test_second_reconfigure_changes_nothing_and_restarts_nothing(host, first_run):
    before = pids(host)
    assert set(SERVICES) <= set(before), before
    second = gitlab_ctl(host, "reconfigure")
    assert re.search(r"Checked \d+ resources, 0 updated", second.stdout), second.stdout
    assert pids(host) == before


def test_prometheus_monitoring_false_stops_them(host, first_run):
    sh(host, "echo \"prometheus_monitoring['enable'] = false\" >> /etc/gitlab/gitlab.rb")
    try:
        gitlab_ctl(host, "reconfigure")
        running = pids(host)
        assert not set(SERVICES) & set(running), running
        assert {"postgresql", "redis", "nginx"} <= set(running)
    finally:
        sh(host, "sed -i '/prometheus_monitoring/d' /etc/gitlab/gitlab.rb")
    gitlab_ctl(host, "reconfigure")
    assert set(SERVICES) <= set(pids(host))


def test_service_list_marks_them_enabled(host, first_run):
    listed = gitlab_ctl(host, "service-list").stdout.split()
    for service in SERVICES:
        assert f"{service}*" in listed, listed
    assert sh(host, f"test -d {INSTALL_DIR}/sv/prometheus").returncode == 0


#: a scrape job Prometheus refuses, as gitlab.rb would give it
BAD_SCRAPE_JOB = ("prometheus['scrape_configs'] = [{ 'job_name' => 'broken', "
                  "'scrape_interval' => 'often', "
                  "'static_configs' => [{ 'targets' => ['localhost:9999'] }] }]")
#: a route to a receiver alertmanager.yml does not define
BAD_RECEIVER = "alertmanager['default_receiver'] = 'nobody-by-that-name'"


def refused_run(host: str, line: str) -> tuple[str, subprocess.CompletedProcess]:
    """Reconfigure with `line` added to gitlab.rb (removed again afterwards): its output."""
    sh(host, "cp /etc/gitlab/gitlab.rb /tmp/gitlab.rb.good && echo \"$LINE\" >> "
             "/etc/gitlab/gitlab.rb", env={"LINE": line})
    try:
        run = gitlab_ctl(host, "reconfigure", check=False)
    finally:
        sh(host, "cp /tmp/gitlab.rb.good /etc/gitlab/gitlab.rb")
    return run.stdout + run.stderr, run


def live_config(host: str, url: str, path: str) -> tuple[str, str]:
    """The running program's configuration as it reports it, and the file's content."""
    def answers() -> bool:
        return curl(host, url, check=False).returncode == 0
    poll(host, f"{url} answering", answers)
    return curl(host, url).stdout, sh(host, f"cat {path}").stdout


def test_the_first_configuration_was_checked_by_promtool_and_amtool(host, first_run):
    for step in ("check[prometheus]", "check[prometheus-rules]", "check[alertmanager]"):
        assert f"* {step}" in first_run.stdout, first_run.stdout


def test_a_scrape_config_promtool_refuses_fails_and_prometheus_keeps_its_config(
        host, first_run):
    status_url = "http://localhost:9090/api/v1/status/config"
    config_path = "/var/opt/gitlab/prometheus/prometheus.yml"
    before_pid = pids(host)["prometheus"]
    before = live_config(host, status_url, config_path)
    output, run = refused_run(host, BAD_SCRAPE_JOB)
    assert run.returncode != 0, output
    assert "gitlab Reconfigured!" not in output
    assert f"promtool rejects the new configuration ({config_path})" in output, output
    assert "Nothing was written: prometheus keeps its previous configuration" in output
    assert 'not a valid duration string: "often"' in output, output  # promtool's words
    assert ".check-" not in output  # the scratch copy is never named, and it is gone
    assert sh(host, "ls -a /var/opt/gitlab | grep -c check-", check=False).stdout.strip() == "0"
    assert pids(host)["prometheus"] == before_pid
    assert live_config(host, status_url, config_path) == before
    # the next good run converges: nothing left half done
    good = gitlab_ctl(host, "reconfigure")
    assert "gitlab Reconfigured!" in good.stdout
    assert pids(host)["prometheus"] == before_pid
    assert live_config(host, status_url, config_path) == before


def test_a_route_amtool_refuses_fails_and_alertmanager_keeps_its_config(host, first_run):
    config_path = "/var/opt/gitlab/alertmanager/alertmanager.yml"
    before_pid = pids(host)["alertmanager"]
    before = live_config(host, "http://localhost:9093/api/v2/status", config_path)
    output, run = refused_run(host, BAD_RECEIVER)
    assert run.returncode != 0, output
    assert "gitlab Reconfigured!" not in output
    assert f"amtool rejects the new configuration ({config_path})" in output, output
    assert 'undefined receiver "nobody-by-that-name" used in route' in output, output
    assert pids(host)["alertmanager"] == before_pid
    after = live_config(host, "http://localhost:9093/api/v2/status", config_path)
    assert after[1] == before[1]
    assert json.loads(after[0])["config"] == json.loads(before[0])["config"]
    assert "gitlab Reconfigured!" in gitlab_ctl(host, "reconfigure").stdout
    assert pids(host)["alertmanager"] == before_pid
