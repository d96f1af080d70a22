"""Every omnibus-gitlab gitlab-ctl command is here: the unshipped ones refuse with what they
need, and the pure parts of graceful-kill, deploy-page, generate-secrets, remove-accounts,
get-redis-master, pg-password-md5, set-replication-password and completion (the completion
script run by the real bash)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess

import pytest

from gitlab_ctl.cli import COMMANDS, main
from gitlab_ctl.commands import completion, database_ops, ops, unshipped
from gitlab_ctl.commands.categories import CATEGORIES, grouped
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.secrets import SECRETS
from gitlab_ctl.engine.control import UnknownService
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

OMNIBUS_COMMANDS = [
    # omnibus-ctl, lib/omnibus-ctl.rb: "general"
    "show-config", "reconfigure", "cleanse", "uninstall", "help",
    # omnibus-ctl, lib/omnibus-ctl.rb: "service-management"
    "service-list", "status", "tail", "start", "stop", "restart", "once", "hup", "term", "int",
    "kill", "graceful-kill", "usr1", "usr2",
    # omnibus-gitlab, files/gitlab-ctl-commands/*.rb (add_command, add_command_under_category)
    "backup-etc", "check-config", "completion", "deploy-page", "diff-config",
    "generate-secrets", "get-redis-master", "renew-le-certs", "revert-pg-upgrade",
    "pg-upgrade", "pg-decomposition-migration", "pg-password-md5", "praefect",
    "registry-database", "registry-garbage-collect", "remove-accounts", "restart-except",
    "apply-sepolicy", "set-replication-password", "upgrade-check", "upgrade",
    # omnibus-gitlab, files/gitlab-ctl-commands-ee/*.rb
    "consul", "consul-download", "geo", "geo-replication-pause", "geo-replication-resume",
    "get-postgresql-primary", "patroni", "pgb-console", "pgb-notify", "pgb-suspend",
    "pgb-resume", "pgb-kill", "write-pgpass", "promotion-preflight-checks",
    "replicate-geo-database", "set-geo-primary-node",
]


@pytest.fixture
def layout(tmp_layout) -> Layout:
    layout = tmp_layout
    layout.etc_dir.mkdir(parents=True)
    layout.config_file.write_text("external_url 'http://gitlab.example.test'\n")
    return layout


def test_the_56_omnibus_commands_are_all_here():
    assert len(OMNIBUS_COMMANDS) == len(set(OMNIBUS_COMMANDS)) == 56
    assert [verb for verb in OMNIBUS_COMMANDS if verb not in COMMANDS] == []


def test_help_groups_every_command_under_one_category(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for heading in ("General Commands:", "Service Management Commands:", "Database Commands:",
                    "GitLab Geo Commands:", "Pgbouncer Commands:"):
        assert heading in text
    placed = [verb for _heading, entries in grouped({v: e[0] for v, e in COMMANDS.items()})
              for verb, _text in entries]
    assert sorted(placed) == sorted(COMMANDS)
    assert len({v for verbs in CATEGORIES.values() for v in verbs}) == sum(
        len(verbs) for verbs in CATEGORIES.values())  # no verb in two categories


@pytest.mark.parametrize("verb", sorted(unshipped.UNSHIPPED))
def test_unshipped_commands_exit_2_with_what_they_need(verb, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # no root needed to be told
    assert main([verb, "--some-option", "value", "-x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line, = captured.err.splitlines()
    needs = unshipped.UNSHIPPED[verb].component
    assert line.startswith(f"gitlab-ctl {verb}: needs {needs}, which this package does not")
    assert f"(needs {needs}, not in this package)" in COMMANDS[verb][0]


def test_patroni_names_ee():
    assert unshipped.refusal("patroni") == (
        "gitlab-ctl patroni: needs Patroni, which this package does not include (GitLab EE's "
        "omnibus package has it)")


def test_shipped_commands_still_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as done:
        main(["status", "--frobnicate"])
    assert done.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_pg_password_md5_prints_postgresql_hash_of_stdin(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["pg-password-md5", "gitlab"]) == 0
    expected = hashlib.md5(b"s3cretgitlab").hexdigest()
    assert capsys.readouterr().out == f"{expected}\n"


def test_pg_password_md5_needs_the_user(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["pg-password-md5"]) == 1
    assert "You must inform the username" in capsys.readouterr().err


def test_password_asked_twice_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    answers = iter(["one", "two"])
    with pytest.raises(database_ops.PasswordMismatch, match="Passwords do not match"):
        database_ops.read_password(lambda prompt: next(answers))
    answers = iter(["same", "same"])
    assert database_ops.read_password(lambda prompt: next(answers)) == "same"


def test_alter_password_sql_quotes_role_and_password():
    assert database_ops.alter_password_sql('rep"l', "it's") == (
        "ALTER USER \"rep\"\"l\" WITH ENCRYPTED PASSWORD 'it''s';\n")


def test_redis_replication_info_and_tls_arguments():
    info = database_ops.replication_info("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.5\r\n"
                                         "master_port:6380\r\n")
    assert (info["role"], info["master_host"], info["master_port"]) == ("slave", "10.0.0.5",
                                                                        "6380")
    assert database_ops.tls_arguments({"redis_ssl": False}) == []
    assert database_ops.tls_arguments({"redis_ssl": True, "redis_tls_ca_cert_file": "/ca.pem",
                                       "redis_tls_client_key_file": None}) == [
        "--tls", "--cacert", "/ca.pem"]


def test_get_redis_master_with_nothing_to_ask_fails(layout):
    layout.config_file.write_text("redis['enable'] = false\n")
    with pytest.raises(GitlabCtlError, match="no Redis Sentinels defined"):
        database_ops.get_redis_master(layout, print)


def test_process_group_members_finds_this_process():
    assert os.getpid() in ops.process_group_members(os.getpgid(0))


def test_graceful_kill_unknown_service_is_a_usage_error(layout):
    with pytest.raises(UnknownService) as raised:
        ops.graceful_kill(layout, "nosuch", print, svwait=1)
    assert raised.value.exit_code == 2


def test_graceful_kill_of_a_disabled_service_exits_1(layout):
    (layout.sv_dir / "redis").mkdir(parents=True)
    lines: list[str] = []
    assert ops.graceful_kill(layout, "redis", lines.append, svwait=1) == 1
    assert lines == ["redis disabled, not stopping"]


def test_deploy_page_up_status_down(layout):
    lines: list[str] = []
    public = ops.rails_public(layout)
    public.mkdir(parents=True)
    assert ops.deploy_page(layout, "status", lines.append) == 0
    with pytest.raises(GitlabCtlError, match="this package does not include Rails"):
        ops.deploy_page(layout, "up", lines.append)
    (public / "deploy.html").write_text("<h1>Deploying</h1>\n")
    ops.deploy_page(layout, "up", lines.append)
    assert (public / "index.html").read_text() == "<h1>Deploying</h1>\n"
    ops.deploy_page(layout, "status", lines.append)
    ops.deploy_page(layout, "down", lines.append)
    assert not (public / "index.html").exists()
    assert lines == ["Deploy page is down", f"cp {public}/deploy.html {public}/index.html",
                     "Deploy page is up", f"rm -f {public}/index.html"]


def test_generate_secrets_keeps_existing_and_fills_the_rest(layout, tmp_path):
    layout.secrets_file.write_text(json.dumps(
        {"gitlab_rails": {"secret_key_base": "kept"}}) + "\n")
    target = tmp_path / "out.json"
    lines: list[str] = []
    assert ops.generate_secrets(layout, target, lines.append) == 0
    written = json.loads(target.read_text())
    assert written["gitlab_rails"]["secret_key_base"] == "kept"
    assert set(SECRETS) <= set(written)
    assert target.stat().st_mode & 0o777 == 0o600
    ops.generate_secrets(layout, target, lines.append)
    assert lines == [f"{target}: written", f"{target}: already holds these secrets, unchanged"]


def test_generate_secrets_needs_file_option(layout, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(SystemExit) as done:
        main(["generate-secrets"])
    assert done.value.code == 2
    assert "--file" in capsys.readouterr().err


def test_managed_accounts_are_the_default_ones_once_each():
    users, groups = ops.managed_accounts(resolve_attributes({}))
    assert {"git", "gitlab-www", "gitlab-psql", "gitlab-redis", "registry",
            "gitlab-prometheus"} <= set(users)
    assert {"git", "gitlab-www", "gitlab-psql", "gitlab-redis"} <= set(groups)
    attributes = resolve_attributes({"user": {"username": "root", "group": "root"}})
    users, groups = ops.managed_accounts(attributes)
    assert "root" not in users and "root" not in groups


def test_remove_accounts_refused_when_accounts_are_unmanaged(layout):
    layout.config_file.write_text("manage_accounts['enable'] = false\n")
    with pytest.raises(GitlabCtlError, match="nothing was removed"):
        ops.remove_accounts(layout, print)


def complete(script: str, words: list[str]) -> list[str]:
    """What the real bash completes for `words` (the last one being typed)."""
    program = (f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
               f"COMP_CWORD={len(words) - 1}\n_gitlab_ctl\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return [line for line in result.stdout.splitlines() if line]


def test_completion_script_completes_verbs_services_and_words(layout):
    for name in ("redis", "postgresql", "nginx"):
        (layout.sv_dir / name).mkdir(parents=True)
        (layout.sv_dir / name / "run").write_text("#!/bin/sh\n")
    script = completion.completion_script(COMMANDS, layout)
    assert complete(script, ["gitlab-ctl", "rec"]) == ["reconfigure"]
    assert complete(script, ["gitlab-ctl", "restart", "re"]) == ["redis"]
    assert complete(script, ["gitlab-ctl", "graceful-kill", ""]) == [
        "nginx", "postgresql", "redis"]
    assert complete(script, ["gitlab-ctl", "restart-except", "nginx", "p"]) == ["postgresql"]
    assert complete(script, ["gitlab-ctl", "deploy-page", "s"]) == ["status"]
    assert complete(script, ["gitlab-ctl", "reconfigure", "x"]) == []
    every = complete(script, ["gitlab-ctl", ""])
    assert sorted(every) == sorted(COMMANDS)
    assert re.search(r"^complete -F _gitlab_ctl gitlab-ctl$", script, re.MULTILINE)
