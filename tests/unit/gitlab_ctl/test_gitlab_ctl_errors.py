"""Every error gitlab_ctl raises is a GitlabCtlError (where, message, hint, exit code), and
the CLI prints each in the one format."""

from __future__ import annotations

import importlib
import inspect

from gitlab_ctl.cli import dispatch
from gitlab_ctl.errors import GitlabCtlError, error_lines
from tests.unit.gitlab_ctl.test_gitlab_ctl_layers import modules

#: Not errors: signals a caller answers (a check that cannot decide yet, Ctrl-C in cleanse,
#: pg-upgrade ending early with omnibus-gitlab's exit code, registry-database's --help).
SIGNALS = {"Skip", "CleanseCancelled", "PgUpgradeExit", "HelpRequested"}


def exception_classes() -> dict[str, type]:
    found = {}
    for name in modules():
        for attribute, value in vars(importlib.import_module(name)).items():
            if inspect.isclass(value) and issubclass(value, BaseException) \
                    and value.__module__ == name:
                found[f"{name}.{attribute}"] = value
    return found


def test_every_error_derives_from_the_one_base():
    classes = exception_classes()
    assert len(classes) >= 10
    strays = [name for name, cls in classes.items()
              if not issubclass(cls, GitlabCtlError) and cls.__name__ not in SIGNALS]
    assert strays == []


def test_the_one_format_with_and_without_where():
    assert error_lines(GitlabCtlError("/etc/gitlab/gitlab.rb:3", "bad", "fix it")) == [
        "gitlab-ctl: error: /etc/gitlab/gitlab.rb:3: bad", "  hint: fix it"]
    assert error_lines(GitlabCtlError("", "x is not a service")) == [
        "gitlab-ctl: x is not a service"]


def test_the_cli_prints_any_error_and_ends_with_its_exit_code(capsys, monkeypatch):
    from argparse import Namespace

    from gitlab_ctl.commands import table

    def failing(args, layout):
        raise GitlabCtlError("thing", "went wrong", "do this", exit_code=3)

    monkeypatch.setitem(table.COMMANDS, "help", ("", table._no_arguments, failing))
    assert dispatch(Namespace(verb="help"), None) == 3
    assert capsys.readouterr().err == "gitlab-ctl: error: thing: went wrong\n  hint: do this\n"
