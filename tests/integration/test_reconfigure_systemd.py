"""gitlab-ctl reconfigure on a host whose PID 1 is systemd: runsvdir runs from the
gitlab-runsvdir unit, which supervises every service (test_reconfigure.py covers hosts
without systemd, as containers are)."""

from __future__ import annotations

import re

import pytest

from tests.integration.runtime_host import (
    INSTALL_DIR,
    docker,
    gitlab_ctl,
    install_tree,
    pids,
    runtime_image,
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

__all__ = ["runtime_image"]  # the module-scoped fixture this module's host starts from


@pytest.fixture(scope="module")
def systemd_host(runtime_image, tmp_path_factory):
    """systemd as PID 1 (unprivileged: its own /run, the host's cgroup tree for its units)."""
    name = start_host(runtime_image, install_tree(tmp_path_factory.mktemp("systemd")),
                      options=("--tmpfs", "/run", "--tmpfs", "/run/lock", "-e",
                               "container=docker", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"),
                      command=("/lib/systemd/systemd",))
    try:
        state = sh(name, "for i in $(seq 60); do s=$(systemctl is-system-running); case $s in "
                   "running|degraded) echo $s; exit 0;; esac; sleep 0.5; done; echo $s",
                   check=False).stdout.strip()
        assert state in ("running", "degraded"), f"systemd did not come up: {state}"
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def test_under_systemd_runsvdir_runs_from_the_gitlab_runsvdir_unit(systemd_host):
    run = gitlab_ctl(systemd_host, "reconfigure")
    assert "file[/usr/lib/systemd/system/gitlab-runsvdir.service]" in run.stdout
    assert sh(systemd_host, "systemctl is-enabled gitlab-runsvdir").stdout.strip() == "enabled"
    assert sh(systemd_host, "systemctl is-active gitlab-runsvdir").stdout.strip() == "active"
    main_pid = sh(systemd_host, "systemctl show -p MainPID --value gitlab-runsvdir").stdout
    assert sh(systemd_host, f"cat /proc/{main_pid.strip()}/comm").stdout.strip() == "runsvdir"
    before = pids(systemd_host)
    assert set(before) == {"logrotate", "nginx", "postgresql", "redis"}
    # systemd restarts the supervisor, and the supervisor every service
    sh(systemd_host, "systemctl restart gitlab-runsvdir")
    sh(systemd_host, f"for i in $(seq 100); do {INSTALL_DIR}/bin/gitlab-ctl status >/dev/null "
       "&& exit 0; sleep 0.2; done; exit 1")
    assert set(pids(systemd_host)) == set(before)
    again = gitlab_ctl(systemd_host, "reconfigure")
    assert re.search(r"Checked \d+ resources, 0 updated", again.stdout), again.stdout
