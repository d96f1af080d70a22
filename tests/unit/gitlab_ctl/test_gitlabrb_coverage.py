"""Every key of omnibus-gitlab's gitlab.rb template has a status here (applied, or not
applicable with a reason) and none is accepted silently (bench/gitlabrb_coverage.py)."""

from __future__ import annotations

from bench.gitlabrb_coverage import TEMPLATE, coverage, main
from gitlab_ctl.config.statuses import APPLIED, NOT_APPLICABLE, SILENT
from tests.conftest import REPO


def test_every_key_of_the_template_has_a_status_and_none_is_silent():
    found, missing = coverage(TEMPLATE)
    assert missing == set()
    assert len(found) == 1426
    assert [s.name for s in found.values() if s.kind == SILENT] == []
    assert [s.name for s in found.values() if s.kind not in (APPLIED, NOT_APPLICABLE)] == []
    assert all(s.message for s in found.values() if s.kind == NOT_APPLICABLE)
    assert found[("consul", "enable")].kind == NOT_APPLICABLE
    assert found[("nginx", "worker_processes")].kind == APPLIED


def test_the_measurement_runs_as_a_script(capsys):
    assert main([str(TEMPLATE)]) == 0
    assert "silent 0" in capsys.readouterr().out


def test_the_report_of_settings_not_applied_is_current(tmp_path):
    """docs/gitlabrb-settings.md is what `bench/gitlabrb_coverage.py --keys` writes now:
    regenerate it after changing the schema."""
    written = tmp_path / "keys.md"
    assert main(["--keys", str(written)]) == 0
    assert (REPO / "docs" / "gitlabrb-settings.md").read_text() == written.read_text()


def test_no_reason_of_a_shipped_and_running_service_says_not_written_yet():
    """The sections of services reconfigure runs have no generic '(yet)' left: each key is
    applied or says precisely why not."""
    found, _missing = coverage(TEMPLATE)
    running = {"gitlab_rails", "postgresql", "redis", "nginx", "puma", "sidekiq", "gitaly",
               "gitlab_workhorse", "registry", "gitlab_shell", "logging", "logrotate"}
    vague = sorted(s.name for s in found.values() if s.kind == NOT_APPLICABLE
                   and s.section in running and "(yet)" in s.message)
    assert vague == []
