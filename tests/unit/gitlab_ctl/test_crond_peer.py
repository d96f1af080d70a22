"""crond, from omnibus-gitlab's spec/chef/cookbooks/crond/recipes/crond_enable_spec.rb (and
its CrondHelper): the cron.d directory, the run script's flags, the log directory. Our words,
their facts."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Directory, File
from gitlab_ctl.services import crond
from tests.unit.gitlab_ctl.test_config_templates import make_context

RUN = Path("/opt/gitlab/sv/crond/run")


def resources(settings: dict | None = None) -> list:
    context = make_context({"crond": {"enable": True, **(settings or {})}})
    return crond.configure(context) + crond.supervise(context)


def run_script(settings: dict | None = None) -> str:
    return next(r.content for r in resources(settings) if isinstance(r, File) and r.path == RUN)


def test_it_is_off_by_default():
    assert make_context().section("crond")["enable"] is False


def test_a_cron_d_directory_owned_by_root():  # 'should create a cron.d directory'
    cron_d = next(r for r in resources() if isinstance(r, Directory)
                  and r.path == Path("/var/opt/gitlab/crond"))
    assert cron_d.owner == "root"


def test_the_run_script_includes_cron_d():  # 'should pass correct options to runit_service'
    assert "--include=/var/opt/gitlab/crond" in run_script()
    assert "/opt/gitlab/embedded/bin/go-crond" in run_script()


def test_custom_flags():  # context 'custom flags'
    text = run_script({"flags": {"verbose": True, "auto": False, "log-json": True,
                                 "default-user": "user"}})
    assert "--include=/var/opt/gitlab/crond" in text
    assert "--default-user=user" in text
    assert "--log-json" in text and "--verbose" in text
    assert "--auto" not in text


def test_an_include_flag_is_ignored_and_values_are_shell_escaped():  # CrondHelper#flags
    text = run_script({"flags": {"include": "/elsewhere", "default-user": "a b"},
                       "cron_d": "/srv/cron d"})
    assert "/elsewhere" not in text
    assert "--default-user=a\\ b --include=/srv/cron\\ d" in text


def test_the_log_directory_is_owned_by_root_and_takes_log_group():
    # context 'log directory and runit group': default and custom values
    log = next(r for r in resources() if isinstance(r, Directory)
               and r.path == Path("/var/log/gitlab/crond"))
    assert log.owner == "root"
    custom = [r for r in resources({"log_group": "fugee"}) if isinstance(r, Directory)
              and r.path == Path("/var/log/gitlab/crond")]
    assert [(d.owner, d.group) for d in custom] == [("root", "fugee")]
