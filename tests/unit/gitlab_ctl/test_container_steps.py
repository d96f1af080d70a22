"""The image's start steps taken from omnibus-gitlab's init-container and update-permissions,
on a temporary layout (the image test runs them in the container)."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from gitlab_ctl.commands import container_steps as steps
from gitlab_ctl.paths import Layout


@pytest.fixture
def layout(tmp_path):
    layout = Layout(tmp_path / "opt", tmp_path / "etc", tmp_path / "data", tmp_path / "log")
    for directory in (layout.sv_dir, layout.etc_dir, layout.data_dir, layout.log_dir):
        directory.mkdir(parents=True)
    return layout


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("1\n")
    return path


def test_stale_pid_files_and_sockets_go_as_omnibus_finds_them(layout, tmp_path):
    run = tmp_path / "run"
    gone = [touch(layout.sv_dir / "redis" / "supervise" / "pid"),
            touch(layout.data_dir / "postgresql" / "data" / "postmaster.pid"),
            touch(run / "nginx.pid")]
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(layout.data_dir / "socket.0"))
    gone.append(layout.data_dir / "socket.0")
    kept = [touch(layout.data_dir / "a" / "b" / "c" / "d" / "deep.pid"),  # below -maxdepth 4
            touch(layout.data_dir / "socket.10"), touch(layout.data_dir / "pids.txt")]
    (layout.data_dir / "dir.pid").mkdir()  # a directory is neither a file nor a socket
    said: list[str] = []
    steps.clean_stale_pids(layout, said.append, run_dir=run)
    listener.close()
    assert [path for path in gone if os.path.lexists(path)] == []
    assert all(path.exists() for path in kept) and (layout.data_dir / "dir.pid").is_dir()
    assert said[0] == "Cleaning stale PIDs & sockets" and len(said) == 1 + len(gone)


def test_sshd_gets_host_keys_once_and_the_sha1_lines_only_when_asked(layout, tmp_path):
    assets, etc_ssh, run = tmp_path / "assets", tmp_path / "ssh", tmp_path / "run"
    assets.mkdir()
    etc_ssh.mkdir()
    (assets / "sshd_config").write_text("Port 22\n")
    said: list[str] = []
    steps.prepare_sshd(layout, {"GITLAB_ALLOW_SHA1_RSA": "true"}, said.append, assets,
                       etc_ssh, run)
    keys = {kind: (layout.etc_dir / f"ssh_host_{kind}_key").read_bytes()
            for kind in steps.HOST_KEY_TYPES}
    assert all(stat.S_IMODE((layout.etc_dir / f"ssh_host_{kind}_key").stat().st_mode) == 0o600
               for kind in keys)
    assert os.readlink(etc_ssh / "ssh_host_ed25519_key.pub") == \
        str(layout.etc_dir / "ssh_host_ed25519_key.pub")
    assert "HostKeyAlgorithms +ssh-rsa" in steps.sshd_config_path(layout).read_text()
    assert os.readlink(layout.service_dir / "sshd") == str(layout.sv_dir / "sshd")
    assert "Generating ssh_host_rsa_key..." in said
    said.clear()
    steps.prepare_sshd(layout, {"GITLAB_ALLOW_SHA1_RSA": "false"}, said.append, assets,
                       etc_ssh, run)
    assert steps.sshd_config_path(layout).read_text() == "Port 22\n"  # a flag removed is undone
    assert not [line for line in said if line.startswith("Generating")]
    assert keys == {kind: (layout.etc_dir / f"ssh_host_{kind}_key").read_bytes()
                    for kind in keys}
    steps.prepare_sshd(layout, {"GITLAB_DISABLE_OPENSSH": "true"}, said.append, assets,
                       etc_ssh, run)
    assert not os.path.lexists(layout.service_dir / "sshd")
    assert said[-1] == "OpenSSH is disabled (GITLAB_DISABLE_OPENSSH=true)"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_update_permissions_gives_the_data_back_to_its_accounts(layout, monkeypatch):
    # Every account of the table is uid/gid 4321 here: what matters is which paths change
    # and that a second run changes nothing.
    monkeypatch.setattr(steps, "_ids", lambda user, group: (4321, 4321 if group else -1))
    for path in ("postgresql/data/base/1", "redis/dump.rdb", "git-data/repositories/a.git"):
        touch(layout.data_dir / path)
    touch(layout.log_dir / "gitlab-rails" / "production.log")
    for path in (*layout.data_dir.rglob("*"), *layout.log_dir.rglob("*")):
        os.lchown(path, 12345, 12345)
    os.chmod(layout.data_dir / "git-data" / "repositories", 0o755)
    config = touch(layout.data_dir / "gitlab-rails" / "etc" / "gitlab.yml")
    os.chown(config, 0, 12345)  # reconfigure's root-owned file: not the script's business
    said: list[str] = []
    assert steps.update_permissions(layout, said.append) > 0
    assert (layout.data_dir / "postgresql" / "data" / "base" / "1").stat().st_uid == 4321
    assert (layout.data_dir / "redis" / "dump.rdb").stat().st_gid == 4321
    assert (layout.log_dir / "gitlab-rails" / "production.log").stat().st_uid == 4321
    assert stat.S_IMODE((layout.data_dir / "git-data" / "repositories").stat().st_mode) == \
        0o2770
    assert config.stat().st_gid == 12345
    shared = touch(layout.data_dir / "gitlab-rails" / "shared" / "x")
    os.chown(shared, 4321, 777)  # the right owner, a group reconfigure chose: kept
    assert steps.update_permissions(layout, said.append) == 0
    assert shared.stat().st_gid == 777
    assert steps.update_permissions(layout, said.append) == 0
    assert said[-1] == "update-permissions: ownership already in place"


def test_the_reconfigure_scripts_run_in_the_shell_and_report_failure(tmp_path):
    said: list[str] = []
    marker = tmp_path / "order"
    environ = {"PATH": os.environ["PATH"],
               "GITLAB_PRE_RECONFIGURE_SCRIPT": f"echo pre >> {marker}",
               "GITLAB_POST_RECONFIGURE_SCRIPT": f"echo post >> {marker}; exit 3"}
    assert steps.run_script(environ, "GITLAB_PRE_RECONFIGURE_SCRIPT", said.append) == 0
    assert steps.run_script(environ, "GITLAB_POST_RECONFIGURE_SCRIPT", said.append) == 3
    assert marker.read_text() == "pre\npost\n"
    assert said == ["Running Pre Reconfigure Script...", "Running Post Reconfigure Script...",
                    "GITLAB_POST_RECONFIGURE_SCRIPT failed with exit code 3; the container "
                    "stops"]
    assert steps.run_script({}, "GITLAB_PRE_RECONFIGURE_SCRIPT", said.append) == 0


def test_the_last_rule_for_a_path_decides_and_a_repeat_changes_nothing(layout, monkeypatch):
    """data/redis: recursive gitlab-redis:gitlab-redis, then the dir itself gitlab-redis:git;
    a second run must not flip it back and forth."""
    ids = {"gitlab-redis": 0, "git": 1}
    monkeypatch.setattr(steps, "_ids", lambda user, group: (
        ids.get(user, 0), ids.get(group, 0) if group else -1) if user in (
            "gitlab-redis",) else None)
    touch(layout.data_dir / "redis" / "dump.rdb")
    wanted = steps.wanted_owners(layout)
    assert wanted[layout.data_dir / "redis"] == (0, 1)
    assert wanted[layout.data_dir / "redis" / "dump.rdb"] == (0, 0)
