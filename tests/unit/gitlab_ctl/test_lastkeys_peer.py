"""Peer tests of package['generate_default_secrets'], ['generate_secrets_json_file'],
['detect_init'], redis['runit_sv_timeout'] and high_availability['mountpoint'].

Case ids name the omnibus-gitlab spec each expectation comes from:
- settings_dsl: spec/chef/cookbooks/package/libraries/settings_dsl_spec.rb
- runit: spec/chef/cookbooks/package/recipes/runit_spec.rb
The mount check and sv_timeout have no omnibus-gitlab spec; their cases follow its templates
(package/templates/default/mount_point_check.erb, the sv-*-run.erb that render it) and
redis/resources/service.rb (`sv_timeout new_resource.runit_sv_timeout`).
"""

from __future__ import annotations

from typing import Any

import pytest

from gitlab_ctl.commands.reconfigure import base_resources
from gitlab_ctl.config import secrets
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.engine import runit
from gitlab_ctl.engine.resources import Absent, File
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import SERVICES
from tests.unit.gitlab_ctl.test_config_templates import fixed_secrets, make_context

SETTINGS = {"gitlab_rails": {"secret_key_base": "from-gitlab-rb"}}


def resolved(package: dict[str, Any]) -> dict[str, Any]:
    return secrets.resolve_secrets({**SETTINGS, "package": package}, {})


@pytest.mark.parametrize(("case", "package", "generated"), [
    ("settings_dsl-by-default-generates-default-secrets", {}, True),
    ("settings_dsl-explicitly-disabled-does-not-generate", {"generate_default_secrets": False},
     False),
    ("settings_dsl-true-generates", {"generate_default_secrets": True}, True),
])
def test_generate_default_secrets(case, package, generated):
    result = resolved(package)
    assert result["gitlab_rails"]["secret_key_base"] == "from-gitlab-rb"  # gitlab.rb wins
    assert (result["gitlab_rails"].get("db_key_base") is not None) is generated
    assert (result["gitlab_shell"].get("secret_token") is not None) is generated


def secrets_files(context) -> list[File]:
    return [r for r in base_resources(context)
            if isinstance(r, File) and r.path == context.layout.secrets_file]


@pytest.mark.parametrize(("case", "package", "written"), [
    ("settings_dsl-by-default-generates-gitlab-secrets.json", {}, True),
    ("settings_dsl-explicitly-disabled-does-not-generate-gitlab-secrets.json",
     {"generate_secrets_json_file": False}, False),
])
def test_generate_secrets_json_file(case, package, written):
    assert bool(secrets_files(make_context({"package": package}))) is written


@pytest.mark.parametrize(("case", "package", "warned"), [
    ("settings_dsl-explicitly-disabled-warns-secrets-not-persisting",
     {"generate_secrets_json_file": False}, True),
    ("settings_dsl-by-default-no-warning", {}, False),
    # settings_dsl.rb: `return unless generate_default_secrets` before the warning
    ("settings_dsl-nothing-generated-nothing-to-warn",
     {"generate_secrets_json_file": False, "generate_default_secrets": False}, False),
])
def test_unsaved_secrets_warning(case, package, warned):
    warning = secrets.unsaved_secrets_warning(package, secrets.DEFAULT_PATH)
    assert bool(warning) is warned
    if warned:
        assert warning[0].startswith("You've enabled generating default secrets but have "
                                     "disabled writing them to /etc/gitlab/gitlab-secrets.json")


def test_missing_secrets_without_generation_are_refused_before_anything_changes():
    stored = fixed_secrets()
    del stored["gitlab_rails"]["db_key_base"]
    context = make_context({"package": {"generate_default_secrets": False}})
    context = type(context)(context.layout, context.attributes, stored, context.facts)
    with pytest.raises(secrets.SecretsError) as error:
        base_resources(context)
    assert "gitlab_rails['db_key_base']" in error.value.message
    assert "generate_default_secrets" in error.value.hint


def test_a_disabled_service_needs_no_secrets():
    attributes = resolve_attributes({"external_url": "http://x.test",
                                     "registry": {"enable": False}})
    stored = fixed_secrets()
    del stored["registry"]
    assert "registry['http_secret']" not in secrets.missing_secrets(attributes, stored)


@pytest.mark.parametrize(("case", "package", "unit"), [
    ("runit-detects-systemd-correctly", {}, True),
    ("runit-explicitly-disabled-does-not-run-any-recipe", {"detect_init": False}, False),
])
def test_detect_init(monkeypatch, case, package, unit):
    monkeypatch.setattr(runit, "uses_systemd", lambda: True)
    resources = runit.supervisor_resources(Layout(), package)
    assert any(isinstance(r, File) and r.path == runit.SYSTEMD_UNIT
               for r in resources) is unit


def test_runit_in_a_container_writes_no_unit(monkeypatch):
    """runit: 'detects docker container correctly' (no init recipe): no systemd here."""
    monkeypatch.setattr(runit, "uses_systemd", lambda: False)
    assert not any(isinstance(r, File) for r in runit.supervisor_resources(Layout(), {}))


def test_without_its_unit_runsvdir_is_started_directly(monkeypatch, tmp_path):
    monkeypatch.setattr(runit, "uses_systemd", lambda: True)
    monkeypatch.setattr(runit, "SYSTEMD_UNIT", tmp_path / "absent.service")
    assert not runit.systemd_manages_runsvdir()
    assert "runsvdir-start" in runit.start_supervisor_hint(Layout())


def redis_files(settings: dict) -> dict[str, Any]:
    context = make_context(settings)
    return {r.path.name: r for r in SERVICES["redis"].runit_resources(context)
            if isinstance(r, File | Absent)}


def test_runit_sv_timeout_is_recorded_for_sv():
    files = redis_files({"redis": {"runit_sv_timeout": 120}})
    assert files[runit.SV_TIMEOUT_FILE].content == "120\n"
    assert isinstance(redis_files({})[runit.SV_TIMEOUT_FILE], Absent)


def test_sv_waits_the_services_own_timeout(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(runit.subprocess, "run",
                        lambda argv, **kwargs: calls.append(argv))
    layout = Layout(install_dir=tmp_path)
    (layout.sv_dir / "redis").mkdir(parents=True)
    (layout.sv_dir / "redis" / runit.SV_TIMEOUT_FILE).write_text("120\n")
    runit.sv(layout, "stop", "redis", wait=30)
    runit.sv(layout, "restart", "puma", wait=30)
    runit.sv(layout, "down", "redis/log", wait=30)
    assert [argv[1:3] for argv in calls] == [["-w", "120"], ["-w", "30"], ["-w", "30"]]


MOUNTS = ["/var/opt/gitlab/git-data", "/var/opt/gitlab/gitlab-rails/shared"]


def run_script(settings: dict, name: str) -> str:
    context = make_context(settings)
    return next(r.content for r in SERVICES[name].runit_resources(context)
                if isinstance(r, File) and r.path == context.layout.sv_dir / name / "run")


@pytest.mark.parametrize("name", ["redis", "postgresql", "puma", "sidekiq", "gitaly",
                                  "gitlab-workhorse", "nginx"])
def test_mountpoint_check_in_the_run_scripts_omnibus_checks(name):
    script = run_script({"high_availability": {"mountpoint": MOUNTS}}, name)
    head = script.split("\n")
    assert head[:2] == ["#!/bin/sh", "exec 2>&1"]
    for path in MOUNTS:
        assert (f"if ! mountpoint -q '{path}' ; then\n  echo 'Refusing to start because "
                f"{path} is not a mountpoint.'\n  exit 1\nfi\n") in script
    assert "mountpoint" not in run_script({}, name)


@pytest.mark.parametrize("name", ["crond", "logrotate"])
def test_no_mountpoint_check_where_omnibus_has_none(name):
    assert "mountpoint" not in run_script({"high_availability": {"mountpoint": MOUNTS},
                                           "crond": {"enable": True}}, name)


def test_a_single_mountpoint_string():
    script = run_script({"high_availability": {"mountpoint": "/mnt/data"}}, "redis")
    assert "mountpoint -q '/mnt/data'" in script


#: Each key this change makes applied, a distinctive value, and what shows it took effect.
APPLIED: list[tuple[str, str, Any]] = [
    ("package", "generate_secrets_json_file", False),
    ("redis", "runit_sv_timeout", 321),
    ("high_availability", "mountpoint", "/mnt/zz-probe"),
]


def everything(settings: dict, monkeypatch) -> list[str]:
    monkeypatch.setattr(runit, "uses_systemd", lambda: True)
    context = make_context(settings)
    resources = base_resources(context) + [
        r for service in SERVICES.values() for r in service.runit_resources(context)]
    return [repr(r) for r in resources]


@pytest.mark.parametrize(("section", "key", "value"), [
    *APPLIED, ("package", "detect_init", False)])
def test_applied_key_changes_the_run(monkeypatch, section, key, value):
    assert everything({section: {key: value}}, monkeypatch) != everything({}, monkeypatch)


def test_applied_generate_default_secrets_changes_the_run():
    assert resolved({"generate_default_secrets": False}) != resolved({})
