"""The image's contract as omnibus-gitlab's image defines it (its docker/ directory): sshd with
host keys kept in /etc/gitlab, the GITLAB_* variables, stale PID cleanup, update-permissions,
fixed service account ids, its Docker defaults, and gitlab.rb winning over
GITLAB_OMNIBUS_CONFIG.

One image (the lifecycle test's 1.1.0 package, see test_image.py: Debian 12's PostgreSQL,
Redis, nginx and runit stand in for the bundled builds; sshd is Debian's openssh-server, as
omnibus-gitlab's image installs Ubuntu's), one set of volumes, four containers on them in
turn. gitlab-shell is not built here: a stand-in script at its path prints a known line, so
`ssh -T` reaching it proves sshd ran the git account's forced command.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.image_helpers import (
    VOLUMES,
    docker,
    on_volumes,
    sh,
    start,
    stop,
    wait_exit,
    wait_healthy,
    wait_running,
    wait_said,
)

pytestmark = pytest.mark.integration
SHELL = "/opt/gitlab/embedded/service/gitlab-shell/bin/gitlab-shell"
STAND_IN = "#!/bin/sh\necho \"stand-in gitlab-shell: $1 ran ${SSH_ORIGINAL_COMMAND:-no command}\"\n"
#: In the /etc/gitlab volume before the first start: gitlab.rb's maxclients must win over
#: GITLAB_OMNIBUS_CONFIG's; its shared_buffers is not set, so the variable's wins over the
#: image's default (256MB).
GITLAB_RB = "redis['maxclients'] = 4321\n"
CONFIG = ("external_url 'http://gitlab.example.test'; redis['maxclients'] = 1234\n"
          "postgresql['shared_buffers'] = '192MB'")
HOOKS = "/var/log/gitlab/hooks.log"


@pytest.fixture(scope="module")
def image(images):
    return images["new"]


@pytest.fixture(scope="module")
def volumes():
    names = {path: f"omnibus-contract-{uuid.uuid4().hex[:8]}" for path in VOLUMES}
    yield names
    for name in names.values():
        docker("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def seen() -> dict[str, str]:
    """What one test saw that a later one compares with (they run in file order)."""
    return {}


@pytest.fixture(scope="module")
def client_key(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("ssh")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(directory / "id_ed25519")], check=True)
    return directory


def ssh_client(image: str, keys: Path, address: str, command: str) -> subprocess.CompletedProcess:
    """ssh from another container of the image (Debian's openssh-client)."""
    return docker("run", "--rm", "-v", f"{keys}:/keys:ro", "--entrypoint", "sh", image, "-c",
                  command.format(address=address), check=False, timeout=120)


def address(container: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  container).stdout.strip()


def authorize(container: str, keys: Path) -> None:
    """The key in git's authorized_keys as gitlab-shell writes it, and the stand-in."""
    public = (keys / "id_ed25519.pub").read_text().strip()
    line = (f'command="{SHELL} key-1",no-port-forwarding,no-X11-forwarding,'
            f"no-agent-forwarding,no-pty {public}")
    docker("exec", "-i", container, "sh", "-c",
           f"mkdir -p $(dirname {SHELL}) && cat > {SHELL} && chmod 755 {SHELL}", input=STAND_IN)
    docker("exec", "-i", container, "sh", "-c",
           "install -d -o git -g git -m 700 /var/opt/gitlab/.ssh && cat > "
           "/var/opt/gitlab/.ssh/authorized_keys && chown git:git "
           "/var/opt/gitlab/.ssh/authorized_keys && chmod 600 "
           "/var/opt/gitlab/.ssh/authorized_keys", input=line + "\n")


KEYSCAN = "ssh-keyscan -t ed25519 {address} 2>/dev/null | cut -d' ' -f2-"


def test_first_start_sshd_scripts_precedence_defaults_and_accounts(image, volumes,
                                                                   client_key, seen):
    on_volumes(image, volumes, f"printf \"{GITLAB_RB}\" > /etc/gitlab/gitlab.rb")
    first = start(image, volumes, CONFIG, env={
        "GITLAB_PRE_RECONFIGURE_SCRIPT": f"echo pre $(test -e /var/opt/gitlab/bootstrapped "
                                         f"&& echo after || echo before) >> {HOOKS}",
        "GITLAB_POST_RECONFIGURE_SCRIPT": f"echo post $(gitlab-redis-cli ping) >> {HOOKS}"})
    try:
        logs = wait_running(first)
        # the scripts ran around reconfigure: before it bootstrapped, after Redis answered
        assert sh(first, f"cat {HOOKS}") == "pre before\npost PONG\n"
        # gitlab.rb wins over GITLAB_OMNIBUS_CONFIG, which wins over the image's defaults
        assert sh(first, "gitlab-redis-cli config get maxclients").split()[1] == "4321"
        assert sh(first, "gitlab-psql -tA -c 'show shared_buffers'").strip() == "192MB"
        assert sh(first, "cat /opt/gitlab/embedded/service/gitlab-rails/INSTALLATION_TYPE"
                  ).strip() == "gitlab-docker"
        # omnibus-gitlab's image's ids, made by the image (manage_accounts off)
        assert sh(first, "for account in git gitlab-www gitlab-redis gitlab-psql registry "
                  "gitlab-prometheus gitlab-consul gitlab-backup; do id -u $account; done"
                  ).split() == ["998", "999", "997", "996", "993", "992", "991", "990"]
        assert sh(first, "stat -c %u:%g /var/opt/gitlab/postgresql/data").strip() == "996:996"
        assert "Generating ssh_host_ed25519_key..." in logs
        # the stand-in package names no PostgreSQL version to upgrade to
        assert "No PostgreSQL upgrade: this package's version manifest names no PostgreSQL " \
            "version" in logs
        status = sh(first, "gitlab-ctl status")
        assert "run: sshd:" in status and "node-exporter" not in status
        authorize(first, client_key)
        reached = ssh_client(image, client_key, address(first),
                             "ssh -T -o StrictHostKeyChecking=no -o BatchMode=yes -i "
                             "/keys/id_ed25519 git@{address} git-upload-pack 'g/p.git'")
        assert reached.stdout.strip() == \
            "stand-in gitlab-shell: key-1 ran git-upload-pack g/p.git", reached.stderr
        # only git may log in, and only with its key
        refused = ssh_client(image, client_key, address(first),
                             "ssh -T -o StrictHostKeyChecking=no -o BatchMode=yes -i "
                             "/keys/id_ed25519 root@{address} true")
        assert refused.returncode == 255 and "Permission denied" in refused.stderr
        seen["host_key"] = ssh_client(image, client_key, address(first),
                                      KEYSCAN).stdout.strip()
        assert seen["host_key"].startswith("ssh-ed25519 ")
    finally:
        code, logs = stop(first)
    assert code == 0, logs[-3000:]
    assert "ok: down: sshd" in logs


def test_a_killed_container_and_wrong_owners_and_the_skip_flags(image, volumes):
    """A stale postmaster.pid naming a live PID (1) would stop PostgreSQL, and Redis cannot
    write a data dir owned by someone else: the start clears the one and repairs the other
    before any reconfigure. GITLAB_SKIP_RECONFIGURE starts runsvdir only: the service
    links are not on a volume, so in a new container the services wait for a reconfigure,
    as in omnibus-gitlab's image."""
    on_volumes(image, volumes, "printf '1\\n/var/opt/gitlab/postgresql/data\\n' > "
               "/var/opt/gitlab/postgresql/data/postmaster.pid && chown -R 12345:12345 "
               "/var/opt/gitlab/redis")
    second = start(image, volumes, CONFIG, env={
        "GITLAB_SKIP_RECONFIGURE": "true", "GITLAB_SKIP_TAIL_LOGS": "true",
        "GITLAB_SKIP_PG_UPGRADE": "true", "GITLAB_DISABLE_OPENSSH": "true"})
    try:
        logs = wait_said(second, "gitlab-ctl reconfigure` in the container sets up")
        assert "removed /var/opt/gitlab/postgresql/data/postmaster.pid" in logs, logs
        assert "update-permissions: " in logs and "already in place" not in logs, logs
        assert sh(second, "stat -c %U:%G /var/opt/gitlab/redis").strip() == "gitlab-redis:git"
        assert "Skipped reconfigure because GITLAB_SKIP_RECONFIGURE is set." in logs
        assert "runsvdir supervises nothing;" in logs
        assert "Configuring GitLab..." not in logs
        assert "Skipping the PostgreSQL upgrade check (GITLAB_SKIP_PG_UPGRADE=true)" in logs
        assert "OpenSSH is disabled (GITLAB_DISABLE_OPENSSH=true)" in logs
        assert sh(second, "gitlab-ctl status; echo $?").strip() == "0"  # nothing linked
        docker("exec", second, "gitlab-ctl", "reconfigure", timeout=300)
        wait_healthy(second)
        # Redis writes its data dir again; the postmaster.pid is PostgreSQL's own
        assert sh(second, "gitlab-redis-cli save").strip() == "OK"
        assert sh(second, "gitlab-psql -tA -c 'select 1'").strip() == "1"
        assert "sshd" not in sh(second, "gitlab-ctl status")
        # nothing listens on port 22 (0016), in /proc/net/tcp's LISTEN state (0A)
        assert sh(second, "grep -c ':0016 00000000:0000 0A' /proc/net/tcp || true"
                  ).strip() == "0"
        # the image's update-permissions command; reconfigure and it agree on owners
        assert "ownership already in place" in sh(second, "update-permissions")
        # GITLAB_SKIP_TAIL_LOGS: the services' lines are not on stdout
        assert "database system is ready to accept connections" not in \
            docker("logs", second).stdout
    finally:
        code, logs = stop(second)
    assert code == 0, logs[-3000:]


def test_host_keys_survive_and_failing_scripts_stop_the_container(image, volumes, seen):
    # the post script runs once sshd is up: it reads the key sshd serves, then fails
    third = start(image, volumes, CONFIG, env={
        "GITLAB_POST_RECONFIGURE_SCRIPT": "ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null "
                                          "| cut -d' ' -f2- > /var/log/gitlab/keyscan; exit 3"})
    code, logs = wait_exit(third)
    assert code == 1, logs[-3000:]
    assert "GITLAB_POST_RECONFIGURE_SCRIPT failed with exit code 3" in logs
    assert "ok: down: postgresql" in logs  # stopped cleanly, not killed
    assert "Generating" not in logs  # the keys came from the /etc/gitlab volume
    served = on_volumes(image, volumes, "cat /var/log/gitlab/keyscan").strip()
    assert served == seen["host_key"]

    fourth = start(image, volumes, CONFIG, env={"GITLAB_PRE_RECONFIGURE_SCRIPT": "exit 4"})
    code, logs = wait_exit(fourth)
    assert code == 1, logs[-3000:]
    assert "GITLAB_PRE_RECONFIGURE_SCRIPT failed with exit code 4" in logs
    assert "Configuring GitLab..." not in logs  # nothing was started
