"""storage-check, mailroom and gitlab-backup-cli, from omnibus-gitlab's specs. Case ids name
the spec file:
  sc-  spec/chef/cookbooks/gitlab/recipes/storage-check_spec.rb
  mr-  spec/chef/cookbooks/gitlab/recipes/mailroom_spec.rb
  mh-  spec/chef/cookbooks/gitlab/libraries/mailroom_helper_spec.rb
  bc-  spec/chef/cookbooks/gitlab/recipes/gitlab-backup-cli_spec.rb
The shared examples those specs use ('enabled runit service', 'enabled logged service',
'configured logrotate service') are in spec/chef/support/shared_examples/. Our words, their
facts: each case is (id, gitlab.rb, what is looked at, expected)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.commands.reconfigure import base_resources
from gitlab_ctl.commands.reconfigure_accounts import leave_unmanaged
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Directory, File, Group, Link, User
from gitlab_ctl.services import SERVICES, mailroom
from tests.unit.gitlab_ctl.test_config_templates import make_context

SV = Path("/opt/gitlab/sv")
RAILS_ETC = Path("/var/opt/gitlab/gitlab-rails/etc")
STORAGE_CHECK = {"storage_check": {"enable": True}}
INCOMING = {"gitlab_rails": {"incoming_email_enabled": True}}
SERVICE_DESK = {"gitlab_rails": {"service_desk_email_enabled": True}}
BOTH = {"gitlab_rails": {"incoming_email_enabled": True, "service_desk_email_enabled": True}}
BACKUP = {"gitlab_backup_cli": {"enable": True}}
GRAPH_OPTIONS = {"tenant_id": "MY-TENANT-ID", "client_id": "12345",
                 "client_secret": "MY-CLIENT-SECRET"}


def resources(settings: dict) -> list:
    """What reconfigure converges for a gitlab.rb: the base (accounts), then every enabled
    service's files and runit directory, groups merged as plan() merges them."""
    context = make_context(settings)
    found = base_resources(context)
    for service in SERVICES.values():
        if context.section(service.section).get("enable"):
            found += service.configure(context) + service.runit_resources(context)
    return leave_unmanaged(context, found)


def by_path(settings: dict, path: str) -> Any:
    return next((r for r in resources(settings) if isinstance(r, (File, Directory, Link))
                 and r.path == Path(path)), None)


def content(settings: dict, path: str) -> str:
    found = by_path(settings, path)
    return found.content if isinstance(found, File) else ""


def gitlab_yml(settings: dict, dotted: str) -> Any:
    node = yaml.safe_load(content(settings, str(RAILS_ETC / "gitlab.yml")))["production"]
    for part in dotted.split("."):
        node = node[part]
    return node


def attribute(settings: dict, dotted: str) -> Any:
    section, key = dotted.split(".")
    return make_context(settings).section(section).get(key)


def ownership(settings: dict, path: str) -> Any:
    found = by_path(settings, path)
    return None if found is None else (found.owner, found.group, oct(found.mode or 0))


def group(settings: dict, name: str) -> Any:
    found = [r for r in resources(settings) if isinstance(r, Group) and r.name == name]
    return [(g.members, g.manage_only) for g in found]


def user(settings: dict, name: str) -> Any:
    found = [r for r in resources(settings) if isinstance(r, User) and r.name == name]
    return [(u.group, u.home) for u in found]


def contains(settings: dict, spec: tuple[str, str]) -> bool:
    path, text = spec
    return text in content(settings, path)


LOOKS: dict[str, Callable[[dict, Any], Any]] = {
    "attribute": attribute, "gitlab.yml": gitlab_yml, "ownership": ownership,
    "contains": contains, "exists": lambda s, p: by_path(s, p) is not None,
    "content": content, "group": group, "user": user,
    "notifies": lambda s, p: by_path(s, p).notifies,
}

CASES: list[tuple[str, dict, str, Any, Any]] = [
    # storage-check_spec.rb
    ("sc-disabled-by-default", {}, "attribute", "storage_check.enable", False),
    ("sc-disabled-no-run-file", {}, "exists", f"{SV}/storage-check/run", False),
    ("sc-enabled-run-file", STORAGE_CHECK, "ownership", f"{SV}/storage-check/run",
     ("root", None, "0o755")),
    ("sc-enabled-log-run-file", STORAGE_CHECK, "ownership", f"{SV}/storage-check/log/run",
     ("root", None, "0o755")),
    ("sc-enabled-log-config", STORAGE_CHECK, "ownership", f"{SV}/storage-check/log/config",
     ("root", None, "0o644")),
    ("sc-custom-user-sv-files-root", {**STORAGE_CHECK, "user": {"username": "foo",
                                                               "group": "bar"}},
     "ownership", f"{SV}/storage-check/run", ("root", None, "0o755")),
    ("sc-log-dir-default", STORAGE_CHECK, "ownership", "/var/log/gitlab/storage-check",
     ("git", None, "0o700")),
    ("sc-log-run-default", STORAGE_CHECK, "contains",
     (f"{SV}/storage-check/log/run", "-U root:root -u root:root"), True),
    ("sc-log-dir-custom", {"storage_check": {"enable": True, "log_group": "fugee"}},
     "ownership", "/var/log/gitlab/storage-check", ("git", "fugee", "0o750")),
    ("sc-log-run-custom", {"storage_check": {"enable": True, "log_group": "fugee"}},
     "contains", (f"{SV}/storage-check/log/run", "-U root:fugee -u root:fugee"), True),
    # mailroom_spec.rb
    ("mr-disabled-by-default", {}, "attribute", "mailroom.enable", False),
    ("mr-disabled-no-run-file", {}, "exists", f"{SV}/mailroom/run", False),
    ("mr-service-desk-only-enabled", SERVICE_DESK, "ownership", f"{SV}/mailroom/run",
     ("root", None, "0o755")),
    ("mr-service-desk-only-logrotate", SERVICE_DESK, "contains",
     ("/var/opt/gitlab/logrotate/logrotate.d/mailroom", "su git git"), True),
    ("mr-service-desk-only-log-dir", SERVICE_DESK, "ownership", "/var/log/gitlab/mailroom",
     ("git", None, "0o700")),
    ("mr-both-enabled", BOTH, "ownership", f"{SV}/mailroom/log/run", ("root", None, "0o755")),
    ("mr-both-log-run", BOTH, "contains", (f"{SV}/mailroom/log/run",
                                           "-U root:root -u root:root"), True),
    ("mr-default-values-log-exit-as-plain", INCOMING, "contains",
     (f"{SV}/mailroom/run", "--log-exit-as plain"), True),
    ("mr-custom-user-sv-files-root", {**INCOMING, "user": {"username": "foo", "group": "bar"}},
     "ownership", f"{SV}/mailroom/log/config", ("root", None, "0o644")),
    ("mr-exit-log-format-json", {**INCOMING, "mailroom": {"exit_log_format": "json"}},
     "contains", (f"{SV}/mailroom/run", "--log-exit-as json"), True),
    ("mr-log-dir-default", INCOMING, "ownership", "/var/log/gitlab/mailroom",
     ("git", None, "0o700")),
    *[(f"mr-sidekiq-delivery-{section}", {"gitlab_rails": {
        f"{section}_enabled": True, f"{section}_delivery_method": "sidekiq"}},
       "gitlab.yml", f"{section}.delivery_method", "sidekiq")
      for section in ("incoming_email", "service_desk_email")],
    *[(f"mr-graph-{section}-{key}", {"gitlab_rails": {
        f"{section}_enabled": True, f"{section}_inbox_method": "microsoft_graph",
        f"{section}_inbox_options": GRAPH_OPTIONS}}, "gitlab.yml", f"{section}.{key}", value)
      for section in ("incoming_email", "service_desk_email")
      for key, value in (("inbox_method", "microsoft_graph"),
                         ("inbox_options", GRAPH_OPTIONS))],
    *[(f"mr-webhook-{section}-{key}", {"external_url": "http://localhost/gitlab/",
                                       "gitlab_rails": {f"{section}_enabled": True,
                                                        f"{section}_delivery_method": "webhook"},
                                       "gitlab_workhorse": {
                                           "listen_network": "unix",
                                           "listen_addr": "/path/to/socket/something.sock"}},
       "gitlab.yml", f"{section}.{key}", value)
      for section in ("incoming_email", "service_desk_email")
      for key, value in (("delivery_method", "webhook"),
                         ("secret_file", f".gitlab_{section}_secret"),
                         ("gitlab_url", "http://localhost/gitlab"))],
    *[(f"mr-webhook-auth-token-generated-{section}", {"gitlab_rails": {
        f"{section}_enabled": True}}, "content", str(RAILS_ETC / f"gitlab_{section}_secret"),
       f"TEST-SECRET-mailroom-{section}_auth_token-0123456789")
      for section in ("incoming_email", "service_desk_email")],
    *[(f"mr-webhook-auth-token-set-{section}", {"gitlab_rails": {
        f"{section}_enabled": True, f"{section}_auth_token": f"token-{section}"}},
       "content", str(RAILS_ETC / f"gitlab_{section}_secret"), f"token-{section}")
      for section in ("incoming_email", "service_desk_email")],
    *[(f"mr-webhook-triggers-restart-{section}", {"gitlab_rails": {
        f"{section}_enabled": True}}, "notifies", str(RAILS_ETC / f"gitlab_{section}_secret"),
       (("restart", "puma"), ("restart", "sidekiq"), ("restart", "mailroom")))
      for section in ("incoming_email", "service_desk_email")],
    ("mr-default-delivery-method-incoming", BOTH, "attribute",
     "gitlab_rails.incoming_email_delivery_method", "webhook"),
    ("mr-default-delivery-method-service-desk", BOTH, "attribute",
     "gitlab_rails.service_desk_email_delivery_method", "webhook"),
    *[(f"mr-default-delivery-secret-file-{section}", BOTH, "exists",
       str(RAILS_ETC / f"gitlab_{section}_secret"), True)
      for section in ("incoming_email", "service_desk_email")],
    # mailroom_helper_spec.rb: #internal_api_url
    ("mh-workhorse-http", {"gitlab_workhorse": {"listen_network": "tcp",
                                                "listen_addr": "internal-api-url"}},
     "gitlab.yml", "incoming_email.gitlab_url", "http://internal-api-url"),
    ("mh-workhorse-unix-external-url", {"external_url": "http://localhost/gitlab/"},
     "gitlab.yml", "incoming_email.gitlab_url", "http://localhost/gitlab"),
    # gitlab-backup-cli_spec.rb
    ("bc-by-default-not-run", {}, "exists", "/opt/gitlab/etc/gitlab-backup-context.yml", False),
    ("bc-by-default-no-user", {}, "user", "gitlab-backup", []),
    ("bc-enabled-context-template", BACKUP, "ownership",
     "/opt/gitlab/etc/gitlab-backup-context.yml", ("root", None, "0o644")),
    ("bc-enabled-user", BACKUP, "user", "gitlab-backup",
     [("gitlab-backup", "/var/opt/gitlab/backups")]),
    ("bc-enabled-group-git", BACKUP, "group", "git", [(("gitlab-backup",), False)]),
    ("bc-enabled-group-gitlab-psql", BACKUP, "group", "gitlab-psql",
     [(("gitlab-backup",), False)]),
    ("bc-enabled-group-registry", {**BACKUP, "registry_external_url": "https://r.example.test"},
     "group", "registry", [(("gitlab-backup",), False)]),
]


@pytest.mark.parametrize("settings, look, subject, expected",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_peer(settings, look, subject, expected):
    assert LOOKS[look](settings, subject) == expected


def test_the_context_file_names_rails_configuration():  # gitlab-backup-context.yml.erb
    text = yaml.safe_load(content(BACKUP, "/opt/gitlab/etc/gitlab-backup-context.yml"))
    assert text == {"version": 1, "installation_type": "omnibus",
                    "gitlab": {"config_path": str(RAILS_ETC / "gitlab.yml")},
                    "database": {"config_path": str(RAILS_ETC / "database.yml")}}


def test_a_group_no_one_declares_is_joined_only_where_it_exists():
    # registry's group exists only with the registry: Chef's `group ... action :manage`
    assert group(BACKUP, "registry") == [(("gitlab-backup",), True)]


def test_storage_check_targets_pumas_socket_unless_told():  # StorageCheck library
    run = f"{SV}/storage-check/run"
    assert "-t unix:///var/opt/gitlab/gitlab-rails/sockets/gitlab.socket" in content(
        STORAGE_CHECK, run)
    assert "-t http://127.0.0.1:8080" in content(
        {"storage_check": {"enable": True, "target": "http://127.0.0.1:8080"}}, run)


def test_mailroom_stays_off_when_told_even_with_a_mailbox():  # IncomingEmail.parse_variables
    settings = {**INCOMING, "mailroom": {"enable": False}}
    assert attribute(settings, "mailroom.enable") is False
    assert by_path(settings, f"{SV}/mailroom/run") is None


def test_no_secret_file_for_a_disabled_or_sidekiq_mailbox():  # IncomingEmail.parse_secrets
    assert content({}, str(RAILS_ETC / "gitlab_incoming_email_secret")) == ""
    sidekiq = {"gitlab_rails": {"incoming_email_enabled": True,
                                "incoming_email_delivery_method": "sidekiq"}}
    assert content(sidekiq, str(RAILS_ETC / "gitlab_incoming_email_secret")) == ""
    assert "secret_file" not in gitlab_yml(sidekiq, "incoming_email")


def test_the_secrets_are_linked_into_mailrooms_working_directory():  # gitlab::mailroom
    for section in ("incoming_email", "service_desk_email"):
        link = by_path(BOTH, f"/var/opt/gitlab/gitlab-rails/working/.gitlab_{section}_secret")
        assert link.target == Path(f"/opt/gitlab/embedded/service/gitlab-rails/.gitlab_{section}"
                                   "_secret")


def test_mailroom_has_a_finish_script():  # gitlab::mailroom: runit_service finish true
    finish = by_path(INCOMING, f"{SV}/mailroom/finish")
    assert finish.mode == 0o755 and "sleep ${wait}" in finish.content


#: A distinctive value for each key of these sections, and what else it needs to show.
PROBES: dict[tuple[str, str], tuple[Any, dict]] = {
    ("storage_check", "enable"): (True, {}),
    ("storage_check", "target"): ("http://zz.example.test:1", {"enable": True}),
    ("storage_check", "log_directory"): ("/zz/storage-check", {"enable": True}),
    ("storage_check", "log_group"): ("zzgroup", {"enable": True}),
    ("mailroom", "enable"): (True, {}),
    ("mailroom", "exit_log_format"): ("json", {"enable": True}),
    ("gitlab_backup_cli", "enable"): (True, {}),
    ("gitlab_backup_cli", "user"): ("zzbackup", {"enable": True}),
    ("gitlab_backup_cli", "group"): ("zzbackupgroup", {"enable": True}),
    ("gitlab_backup_cli", "dir"): ("/zz/backups", {"enable": True}),
    ("gitlab_backup_cli", "additional_groups"): (["zzextra"], {"enable": True}),
}


@pytest.mark.parametrize("section, key", sorted(PROBES))
def test_every_applied_key_reaches_what_reconfigure_writes(section, key):
    value, companions = PROBES[(section, key)]
    before = resources({section: companions})
    after = resources({section: {**companions, key: value}})
    assert repr(after) != repr(before)


def test_every_applied_key_of_these_sections_is_probed():
    schema = load_schema()
    declared = {(section, key) for section in ("storage_check", "mailroom", "gitlab_backup_cli")
                for key in schema.keys(section) if schema.get(section, key).used}
    assert declared == set(PROBES)


def test_the_webhook_url_is_workhorses_tcp_address():  # MailroomHelper, with tcp
    context = make_context({"gitlab_workhorse": {"listen_network": "tcp",
                                                 "listen_addr": "localhost:9191"}})
    assert mailroom.internal_api_url(context) == "http://localhost:9191"
