"""reconfigure's note about an enabled service whose program this package does not include:
a plain sentence, given by the run that writes its files, not by every run after."""

from __future__ import annotations

from gitlab_ctl.commands.reconfigure import plan
from gitlab_ctl.engine.resources import Run
from gitlab_ctl.paths import Layout
from tests.unit.gitlab_ctl.test_config_templates import make_context

GITLAB_YML = "template[/var/opt/gitlab/gitlab-rails/etc/gitlab.yml]"


def planned_notes(tmp_path, changed: list[str]) -> list[str]:
    """The notes of a run on a package with none of the services' programs, in which the
    resources `changed` were the ones that changed."""
    run = Run(dry_run=True)
    plan(make_context(None, Layout(install_dir=tmp_path / "opt")), run)
    run.changed = changed
    run.drop_stale_notes()
    return run.notes


def test_the_note_is_a_plain_sentence_given_when_the_files_change(tmp_path):
    notes = planned_notes(tmp_path, [GITLAB_YML])
    opt = tmp_path / "opt"
    assert notes == [f"gitlab-rails: its configuration is written, but this package does not "
                     f"include {opt}/embedded/service/gitlab-rails/config/application.rb, so "
                     "nothing reads it."]


def test_a_run_that_changes_nothing_of_the_service_says_nothing(tmp_path):
    assert planned_notes(tmp_path, []) == []
    assert [note.split(":")[0] for note in planned_notes(
        tmp_path, ["template[/var/opt/gitlab/redis/redis.conf]"])] == ["redis"]


def test_a_service_that_cannot_start_is_named_with_what_is_missing(tmp_path):
    run = Run(dry_run=True)
    plan(make_context(None, Layout(install_dir=tmp_path / "opt")), run)
    assert f"puma: not started, because this package does not include {tmp_path}/opt/" \
        "embedded/bin/bundle." in run.notes
