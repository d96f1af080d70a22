"""registry-garbage-collect and registry-database: omnibus-gitlab's command line for
`registry database ...`, its usage errors (exit 128), and the checks both commands make
before touching the registry, on temporary directories (GITLAB_*_DIR). What they run is
tested on a real registry in tests/integration/test_registry_commands.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitlab_ctl.cli import COMMANDS, main
from gitlab_ctl.commands import registry_actions
from gitlab_ctl.commands.registry_options import (
    DATABASE_USAGE,
    HelpRequested,
    Invocation,
    UsageError,
    parse,
)
from gitlab_ctl.paths import Layout


@pytest.fixture
def layout(tmp_layout, tmp_path, monkeypatch) -> Layout:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.chdir(tmp_path)
    layout = tmp_layout
    layout.etc_dir.mkdir(parents=True)
    layout.config_file.write_text(
        "external_url 'http://gitlab.example.test'\n"
        f"registry['dir'] = '{layout.data_dir / 'registry'}'\n")
    return layout


def enable(layout: Layout, program: bool = True) -> Path:
    """The registry as reconfigure leaves it: its service linked, config.yml written."""
    (layout.sv_dir / "registry").mkdir(parents=True)
    layout.service_dir.mkdir(parents=True)
    (layout.service_dir / "registry").symlink_to(layout.sv_dir / "registry")
    directory = layout.data_dir / "registry"
    directory.mkdir(parents=True)
    (directory / "config.yml").write_text('version: 0.1\ndatabase: {"enabled":"false"}\n')
    if program:
        (layout.embedded / "bin").mkdir(parents=True)
        (layout.embedded / "bin" / "registry").write_text("#!/bin/sh\nexit 0\n")
    return directory / "config.yml"


def test_both_commands_are_in_gitlab_ctls_table():
    assert {"registry-garbage-collect", "registry-database"} <= set(COMMANDS)


@pytest.mark.parametrize(("words", "invocation"), [
    ("migrate up", ("migrate", "up", (), False, False)),
    # value options first (-n is what `registry database migrate` calls --limit), then flags
    ("migrate up -s --limit=3 -d -s", ("migrate", "up", ("-n", "3", "-s", "-d"), False, False)),
    ("migrate down -l 2", ("migrate", "down", ("-n", "2"), True, False)),
    ("migrate down --dry-run", ("migrate", "down", ("-d",), False, False)),
    ("migrate status -u -s", ("migrate", "status", ("-u", "-s"), False, False)),
    ("migrate version", ("migrate", "version", (), False, False)),
    ("import -1 --row-count", ("import", None, ("--step-one", "--row-count"), False, False)),
    ("import -r", ("import", None, ("--all-repositories",), False, True)),
    ("import --step-two", ("import", None, ("--step-two",), False, True)),
    ("gc-stats -l 0 -f json", ("gc-stats", None, ("--format", "json", "--limit", "0"), False,
                               False)),
])
def test_command_lines_become_the_registry_s_arguments(words, invocation):
    assert parse(words.split()) == Invocation(*invocation)


@pytest.mark.parametrize(("words", "message"), [
    ("", "parse error: registry-database command is not specified."),
    ("--bogus", "invalid option: --bogus"),
    ("rollback", "parse error: Unknown registry-database command: rollback"),
    ("migrate", "parse error: migrate subcommand is not specified."),
    ("migrate sideways", "parse error: Unknown migrate subcommand: sideways"),
    ("migrate up --unknown", "invalid option: --unknown"),
    ("migrate up -l 0", "parse error: --limit option must be a positive number"),
    ("migrate up -l", "missing argument: -l"),
    ("migrate up --dry-run=yes", "needless argument: --dry-run=yes"),
    ("migrate version -d", "invalid option: -d"),
    ("import --force", "invalid option: --force"),
    ("import extra", "parse error: unexpected argument: extra"),
    ("gc-stats --format xml", "invalid argument: Invalid format 'xml'. Must be 'text' or "
                              "'json'"),
])
def test_bad_command_lines_are_refused_with_omnibus_gitlabs_words(words, message):
    with pytest.raises(UsageError) as raised:
        parse(words.split())
    assert raised.value.message == message


def test_help_shows_the_usage_of_the_command_asked_about():
    with pytest.raises(HelpRequested) as top:
        parse(["--help"])
    assert top.value.usage == DATABASE_USAGE
    with pytest.raises(HelpRequested) as up:
        parse(["migrate", "up", "-h"])
    assert "gitlab-ctl registry-database migrate up [options]" in up.value.usage
    assert "-s, --skip-post-deployment" in up.value.usage


def test_usage_errors_exit_128_with_the_usage_on_stderr(layout, capsys):
    assert main(["registry-database", "migrate", "sideways"]) == 128
    err = capsys.readouterr().err
    assert err.startswith("parse error: Unknown migrate subcommand: sideways\n\nManage "
                          "migrations\n")


def test_help_exits_0(layout, capsys):
    assert main(["registry-database", "import", "--help"]) == 0
    assert "gitlab-ctl registry-database import [options]" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["registry-garbage-collect"],
                                  ["registry-database", "migrate", "up"]])
def test_a_disabled_registry_exits_1(layout, capsys, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Container registry is not enabled, exiting..." in err
    assert "registry_external_url" in err  # the hint


def test_garbage_collect_refuses_a_missing_config_before_stopping(layout, capsys):
    enable(layout)
    assert main(["registry-garbage-collect", "/nowhere/config.yml"]) == 1
    assert ("Didn't find /nowhere/config.yml, please supply the path to registry config.yml "
            "file, eg: gitlab-ctl registry-garbage-collect /path/to/config.yml"
            ) in capsys.readouterr().err


def test_garbage_collect_refuses_a_config_with_the_metadata_database(layout, capsys, tmp_path):
    enable(layout)
    for enabled in ("true", '"prefer"', "'true'"):
        config = tmp_path / "db.yml"
        config.write_text(f"version: 0.1\ndatabase:\n  enabled: {enabled}\n")
        assert main(["registry-garbage-collect", str(config)]) == 1
        err = capsys.readouterr().err
        assert "not compatible with database metadata" in err
        assert "the registry was not stopped" in err


def test_a_registry_not_installed_is_named(layout, capsys):
    enable(layout, program=False)
    assert main(["registry-database", "migrate", "status"]) == 1
    out, err = capsys.readouterr()
    assert out == "Running migrate status\n"
    assert (f"Could not find '{layout.embedded}/bin/registry' file. Is this command being "
            "run on a Container Registry node?") in err


def test_the_database_command_runs_as_the_registry_account(layout):
    config = enable(layout)
    registry = registry_actions.load(layout)
    invocation = parse(["migrate", "up", "-d"])
    assert registry_actions.database_argv(registry, invocation) == [
        str(layout.embedded / "bin" / "chpst"), "-u", "registry:registry",
        str(layout.embedded / "bin" / "registry"), "database", "migrate", "up", "-d",
        str(config)]


@pytest.mark.parametrize(("text", "database", "read_only"), [
    ('database: {"enabled":"false"}\n', False, False),
    ("database: {enabled: false}\n", False, False),
    ("database: {enabled: prefer}\n", True, False),
    ("storage: {maintenance: {readonly: {enabled: true}}}\n", False, True),
    ("storage: {maintenance: {readonly: {enabled: 'true'}}}\n", False, False),
    ("- not a mapping\n", False, False),
])
def test_config_yml_is_read_as_the_registry_reads_it(tmp_path, text, database, read_only):
    path = tmp_path / "config.yml"
    path.write_text(text)
    config = registry_actions.read_config_yml(path)
    assert registry_actions.database_enabled(config) is database
    assert registry_actions.read_only(config) is read_only
