"""The container's stdout: the services' logs from this start on, new logs and rotated ones
included, the previous run's lines left out."""

from __future__ import annotations

import io

from gitlab_ctl.commands.logfollow import LogFollower
from gitlab_ctl.paths import Layout


def test_logs_are_followed_from_the_mark_through_new_files_and_rotation(tmp_path):
    layout = Layout(tmp_path / "opt", tmp_path / "etc", tmp_path / "data", tmp_path / "log")
    redis = layout.log_dir / "redis" / "current"
    redis.parent.mkdir(parents=True)
    redis.write_text("previous run\n")
    printed = io.BytesIO()
    logs = LogFollower(layout, out=printed)
    logs.mark()
    logs.poll()
    assert printed.getvalue() == b""  # nothing new yet, and the old line stays out
    with redis.open("a") as log:
        log.write("Ready to accept connections\n")
    postgresql = layout.log_dir / "postgresql" / "current"
    postgresql.parent.mkdir()
    postgresql.write_text("database system is ready\n")  # a service started after the mark
    logs.poll()
    text = printed.getvalue().decode()
    assert f"==> {redis} <==\nReady to accept connections\n" in text
    assert f"==> {postgresql} <==\ndatabase system is ready\n" in text
    assert "previous run" not in text
    redis.rename(redis.with_name("@400000006.s"))  # svlogd rotates: a new current
    redis.write_text("after rotation\n")
    logs.poll()
    logs.poll()
    assert printed.getvalue().decode().count("after rotation") == 1
    (layout.log_dir / "redis" / "config").write_text("s1000\n")  # runit's, not a log
    logs.poll()
    assert "s1000" not in printed.getvalue().decode()
