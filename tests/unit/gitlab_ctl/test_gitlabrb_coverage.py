"""Every key of omnibus-gitlab's gitlab.rb template has a status here (applied, or not
applicable with a reason) and none is accepted silently (bench/gitlabrb_coverage.py)."""

from __future__ import annotations

from bench.gitlabrb_coverage import TEMPLATE, coverage, main
from gitlab_ctl.config.statuses import APPLIED, NOT_APPLICABLE, SILENT


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
