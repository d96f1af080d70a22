"""What a failed reconfigure owed the services (restarts, HUPs of files it had written) is
kept for the next run: reading and writing that record."""

from __future__ import annotations

from gitlab_ctl.commands.reconfigure import load_pending, pending_path, save_pending
from gitlab_ctl.engine.resources import Run
from gitlab_ctl.paths import Layout


def test_what_a_failed_run_owed_is_read_back_in_order(tmp_path):
    layout = Layout(data_dir=tmp_path / "var")
    run = Run()
    run.notify("restart", "redis")
    run.notify("hup", "postgresql")
    save_pending(layout, run)
    assert pending_path(layout).stat().st_mode & 0o777 == 0o600
    assert load_pending(layout) == [("restart", "redis"), ("hup", "postgresql")]


def test_nothing_owed_writes_nothing_and_a_damaged_record_owes_nothing(tmp_path):
    layout = Layout(data_dir=tmp_path / "var")
    save_pending(layout, Run())
    assert not pending_path(layout).exists()
    assert load_pending(layout) == []
    for text in ("not json", '{"restart": "redis"}', '[["rm -rf", "redis"]]',
                 '[["restart", "../../bin"]]', '[["restart"]]'):
        pending_path(layout).parent.mkdir(parents=True, exist_ok=True)
        pending_path(layout).write_text(text)
        assert load_pending(layout) == [], text
