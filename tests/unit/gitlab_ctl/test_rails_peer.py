"""Peer tests: expectations taken from omnibus-gitlab's own specs, checked against what our
reconfigure renders for the same gitlab.rb input. Each case's id names the spec it comes
from (spec/chef/cookbooks/gitlab/recipes/...): rails = gitlab-rails_spec.rb (SMTP), and
gitlab_yml/<name> = gitlab-rails/gitlab_yml/<name>_spec.rb. The words are ours, the facts
theirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Absent
from gitlab_ctl.services import gitlab_rails_smtp
from tests.unit.gitlab_ctl.test_config_templates import check_golden, make_context, service_files

ETC = Path("/var/opt/gitlab/gitlab-rails/etc")
SMTP = ETC / "smtp_settings.rb"
AWS = {"provider": "AWS", "region": "eu-west-1", "aws_access_key_id": "AKIAKIAKI",
       "aws_secret_access_key": "secret123"}
AWS_OPTIONS = {"server_side_encryption": "AES256",
               "server_side_encryption_kms_key_id": "arn:aws:12345"}
OBJECTS = {"artifacts": {"bucket": "artifacts"}, "lfs": {"bucket": "lfs-objects"},
           "uploads": {"bucket": "uploads"}, "packages": {"bucket": "packages"},
           "terraform_state": {"enabled": False, "bucket": "terraform"}}
LDAP_SERVERS = {
    "main": {"label": "LDAP Primary", "host": "primary.ldap.example.test", "port": 389,
             "uid": "uid", "encryption": "plain", "password": "s3cr3t",
             "base": "dc=example,dc=test", "user_filter": ""},
    "secondary": {"label": "LDAP Secondary", "host": "secondary.ldap.example.test",
                  "port": 389, "uid": "uid", "encryption": "plain",
                  "bind_dn": "dc=example,dc=test", "password": "s3cr3t",
                  "active_directory": True, "base": "", "user_filter": ""}}


def rails(**settings: Any) -> dict:
    return {"gitlab_rails": settings}


def production(settings: dict | None = None) -> dict:
    files = {f.path: f for f in service_files(make_context(settings))}
    return yaml.safe_load(files[ETC / "gitlab.yml"].content)["production"]


def smtp(**settings: Any) -> str:
    files = {f.path: f for f in service_files(make_context(rails(smtp_enable=True, **settings)))}
    return files[SMTP].content


def dig(tree: dict, path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


# (spec, gitlab.rb gitlab_rails settings, dotted path in production, expected value)
YML_CASES = [
    # gitlab_yml/ldap
    ("ldap-default-disabled", {}, "ldap.enabled", False),
    ("ldap-default-prevent-sign-in", {}, "ldap.prevent_ldap_sign_in", False),
    ("ldap-default-sync-time", {}, "ldap.sync_time", None),
    ("ldap-enabled", {"ldap_enabled": True, "ldap_servers": LDAP_SERVERS}, "ldap.enabled", True),
    ("ldap-sync-time", {"ldap_enabled": True, "ldap_sync_time": 20}, "ldap.sync_time", 20),
    ("ldap-prevent", {"prevent_ldap_sign_in": True}, "ldap.prevent_ldap_sign_in", True),
    ("ldap-main-label", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main.label",
     "LDAP Primary"),
    ("ldap-main-host", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main.host",
     "primary.ldap.example.test"),
    ("ldap-main-port", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main.port", 389),
    ("ldap-main-encryption", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main.encryption",
     "plain"),
    ("ldap-main-user-filter", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main.user_filter",
     ""),
    ("ldap-secondary-whole", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.secondary",
     LDAP_SERVERS["secondary"]),
    ("ldap-main-whole", {"ldap_servers": LDAP_SERVERS}, "ldap.servers.main",
     LDAP_SERVERS["main"]),
    # gitlab_yml/omniauth
    ("omniauth-default-sso-saml", {}, "omniauth.allow_single_sign_on", ["saml"]),
    ("omniauth-default-enabled-nil", {}, "omniauth.enabled", None),
    ("omniauth-default-providers-nil", {}, "omniauth.providers", None),
    ("omniauth-default-block-nil", {}, "omniauth.block_auto_created_users", None),
    ("omniauth-default-external-nil", {}, "omniauth.external_providers", None),
    ("omniauth-enabled-true", {"omniauth_enabled": True}, "omniauth.enabled", True),
    ("omniauth-block-true", {"omniauth_block_auto_created_users": True},
     "omniauth.block_auto_created_users", True),
    ("omniauth-link-ldap-true", {"omniauth_auto_link_ldap_user": True},
     "omniauth.auto_link_ldap_user", True),
    ("omniauth-link-saml-true", {"omniauth_auto_link_saml_user": True},
     "omniauth.auto_link_saml_user", True),
    ("omniauth-sso-list", {"omniauth_allow_single_sign_on": ["bar", "tar"]},
     "omniauth.allow_single_sign_on", ["bar", "tar"]),
    ("omniauth-sync-email", {"omniauth_sync_email_from_provider": "foo"},
     "omniauth.sync_email_from_provider", "foo"),
    ("omniauth-sync-profile", {"omniauth_sync_profile_from_provider": ["bar", "tar"]},
     "omniauth.sync_profile_from_provider", ["bar", "tar"]),
    ("omniauth-sync-attributes", {"omniauth_sync_profile_attributes": ["bar", "tar"]},
     "omniauth.sync_profile_attributes", ["bar", "tar"]),
    ("omniauth-bypass-2fa", {"omniauth_allow_bypass_two_factor": ["bar", "tar"]},
     "omniauth.allow_bypass_two_factor", ["bar", "tar"]),
    ("omniauth-auto-link-user", {"omniauth_auto_link_user": ["bar", "tar"]},
     "omniauth.auto_link_user", ["bar", "tar"]),
    ("omniauth-providers", {"omniauth_providers": [{"name": "saml", "label": "SSO"}]},
     "omniauth.providers", [{"name": "saml", "label": "SSO"}]),
    # gitlab_yml/object_storage (consolidated, then the shared examples per type)
    ("objstore-consolidated", {"object_store": {
        "enabled": True, "connection": AWS, "storage_options": AWS_OPTIONS,
        "objects": OBJECTS, "proxy_download": True}}, "object_store.connection", AWS),
    ("objstore-consolidated-options", {"object_store": {"enabled": True,
                                                        "storage_options": AWS_OPTIONS}},
     "object_store.storage_options", AWS_OPTIONS),
    ("objstore-consolidated-proxy", {"object_store": {"enabled": True, "proxy_download": True}},
     "object_store.proxy_download", True),
    ("objstore-consolidated-bucket", {"object_store": {"enabled": True, "objects": OBJECTS}},
     "object_store.objects.lfs.bucket", "lfs-objects"),
    ("objstore-consolidated-type-off", {"object_store": {"enabled": True, "objects": OBJECTS}},
     "object_store.objects.terraform_state.enabled", False),
    *[(f"objstore-{kind}-default", {}, f"{kind}.object_store", {
        "enabled": False, "remote_directory": directory, "connection": {},
        **({"proxy_download": False} if proxied else {})})
      for kind, directory, proxied in (
          ("artifacts", "artifacts", True), ("uploads", "uploads", True),
          ("lfs", "lfs-objects", True), ("packages", "packages", True),
          ("dependency_proxy", "dependency_proxy", True),
          ("terraform_state", "terraform", False),
          ("ci_secure_files", "ci-secure-files", False))],
    *[(f"objstore-{kind}-user", {f"{kind}_object_store_enabled": True,
                                 f"{kind}_object_store_remote_directory": "foobar",
                                 f"{kind}_object_store_connection": AWS,
                                 **({f"{kind}_object_store_proxy_download": True}
                                    if proxied else {})},
       f"{kind}.object_store", {"enabled": True, "remote_directory": "foobar",
                                "connection": AWS,
                                **({"proxy_download": True} if proxied else {})})
      for kind, proxied in (("artifacts", True), ("uploads", True), ("lfs", True),
                            ("packages", True), ("dependency_proxy", True),
                            ("terraform_state", False), ("ci_secure_files", False))],
    # gitlab_yml/incoming_email
    ("incoming-default-disabled", {}, "incoming_email.enabled", False),
    ("incoming-default-mailbox", {}, "incoming_email.mailbox", "inbox"),
    ("incoming-default-inbox-method", {}, "incoming_email.inbox_method", "imap"),
    ("incoming-default-delivery", {}, "incoming_email.delivery_method", "webhook"),
    ("incoming-default-log", {}, "incoming_email.log_path",
     "/var/log/gitlab/mailroom/mail_room_json.log"),
    ("incoming-default-delete", {}, "incoming_email.delete_after_delivery", True),
    ("incoming-address", {"incoming_email_enabled": True,
                          "incoming_email_address": "gitlab-incoming+%{key}@gmail.example.test"},
     "incoming_email.address", "gitlab-incoming+%{key}@gmail.example.test"),
    ("incoming-user", {"incoming_email_email": "gitlab-incoming@gmail.example.test"},
     "incoming_email.user", "gitlab-incoming@gmail.example.test"),
    ("incoming-host-port", {"incoming_email_host": "imap.example.test",
                            "incoming_email_port": 993}, "incoming_email.port", 993),
    ("incoming-ssl", {"incoming_email_ssl": True}, "incoming_email.ssl", True),
    ("incoming-graph-options", {"incoming_email_inbox_method": "microsoft_graph",
                                "incoming_email_inbox_options": {"tenant_id": "t"}},
     "incoming_email.inbox_options", {"tenant_id": "t"}),
    ("incoming-expunge", {"incoming_email_expunge_deleted": True},
     "incoming_email.expunge_deleted", True),
    # gitlab_yml/service_desk_email
    ("servicedesk-default-disabled", {}, "service_desk_email.enabled", False),
    ("servicedesk-default-mailbox", {}, "service_desk_email.mailbox", "inbox"),
    ("servicedesk-address", {"service_desk_email_enabled": True,
                             "service_desk_email_address": "sd+%{key}@example.test"},
     "service_desk_email.address", "sd+%{key}@example.test"),
    ("servicedesk-sidekiq", {"service_desk_email_delivery_method": "sidekiq"},
     "service_desk_email.delivery_method", "sidekiq"),
    # gitlab_yml/backup
    ("backup-default-upload-connection", {}, "backup.upload.connection", None),
    ("backup-upload-connection", {"backup_upload_connection": AWS},
     "backup.upload.connection", AWS),
    ("backup-remote-directory", {"backup_upload_remote_directory": "backups"},
     "backup.upload.remote_directory", "backups"),
    ("backup-storage-options", {"backup_upload_storage_options": AWS_OPTIONS},
     "backup.upload.storage_options", AWS_OPTIONS),
    ("backup-storage-class", {"backup_storage_class": "STANDARD"},
     "backup.upload.storage_class", "STANDARD"),
    ("backup-keep-time", {"backup_keep_time": 604800}, "backup.keep_time", 604800),
    ("backup-path", {"backup_path": "/srv/backups"}, "backup.path", "/srv/backups"),
    # gitlab_yml/gitlab (the gitlab: section)
    ("gitlab-cdn-host", {"cdn_host": "https://cdn.example.test"}, "gitlab.cdn_host",
     "https://cdn.example.test"),
    ("gitlab-time-zone", {"time_zone": "Europe/Berlin"}, "gitlab.time_zone", "Europe/Berlin"),
    ("gitlab-trusted-proxies", {"trusted_proxies": ["10.0.0.1"]}, "gitlab.trusted_proxies",
     ["10.0.0.1"]),
    ("gitlab-csp", {"content_security_policy": {"enabled": True, "report_only": False,
                                                "directives": {"default_src": "'self'"}}},
     "gitlab.content_security_policy.directives.default_src", "'self'"),
    ("gitlab-gravatar-plain", {"gravatar_plain_url": "http://avatars.example.test/%{hash}"},
     "gravatar.plain_url", "http://avatars.example.test/%{hash}"),
    ("gitlab-gravatar-ssl", {"gravatar_ssl_url": "https://avatars.example.test/%{hash}"},
     "gravatar.ssl_url", "https://avatars.example.test/%{hash}"),
    ("gitlab-rack-attack", {"rack_attack_git_basic_auth": {"enabled": True, "maxretry": 10}},
     "rack_attack.git_basic_auth", {"enabled": True, "maxretry": 10}),
]


@pytest.mark.parametrize(("settings", "path", "expected"),
                         [case[1:] for case in YML_CASES], ids=[c[0] for c in YML_CASES])
def test_gitlab_yml_matches_omnibus_gitlab(settings, path, expected):
    assert dig(production(rails(**settings)), path) == expected


def test_no_consolidated_object_store_by_default():
    # gitlab_yml/object_storage: default values render no object_store section
    assert "object_store" not in production()


def test_no_cdn_host_or_csp_by_default():
    # gitlab_yml/gitlab: cdn_host and content_security_policy only when set
    gitlab = production()["gitlab"]
    assert "cdn_host" not in gitlab and "content_security_policy" not in gitlab


def test_omniauth_optional_sync_keys_absent_by_default():
    # gitlab_yml/omniauth: the default omniauth hash has no sync_* keys
    assert not {k for k in production()["omniauth"] if k.startswith("sync_")}


# (spec rails = gitlab-rails_spec.rb 'SMTP settings', gitlab.rb settings, text, present)
SMTP_CASES = [
    ("rails-smtp-default-open-timeout", {}, "open_timeout: 30", True),
    ("rails-smtp-default-read-timeout", {}, "read_timeout: 60", True),
    ("rails-smtp-open-timeout", {"smtp_open_timeout": 10}, "open_timeout: 10", True),
    ("rails-smtp-read-timeout", {"smtp_read_timeout": 20}, "read_timeout: 20", True),
    ("rails-smtp-no-pool", {}, "ActionMailer::Base.delivery_method = :smtp\n", True),
    ("rails-smtp-pool", {"smtp_pool": True},
     "ActionMailer::Base.delivery_method = :smtp_pool", True),
    ("rails-smtp-starttls", {"smtp_enable_starttls_auto": True},
     "enable_starttls_auto: true", True),
    ("rails-smtp-starttls-no-tls", {"smtp_enable_starttls_auto": True}, "tls =", False),
    ("rails-smtp-tls", {"smtp_tls": True}, "tls: true", True),
    ("rails-smtp-tls-no-starttls", {"smtp_tls": True}, "enable_starttls_auto", False),
    ("rails-smtp-auth-unset", {}, "authentication:", False),
    ("rails-smtp-auth-login", {"smtp_authentication": "login"}, "authentication: :login", True),
    ("rails-smtp-auth-mixed-case", {"smtp_authentication": "LOGIN"},
     "authentication: :login", True),
    ("rails-smtp-auth-false-string", {"smtp_authentication": "false"}, "authentication:", False),
    ("rails-smtp-auth-none", {"smtp_authentication": "none"}, "authentication:", False),
    ("rails-smtp-auth-empty", {"smtp_authentication": ""}, "authentication:", False),
    # smtp_settings.rb.erb: credentials fall back to the encrypted SMTP secrets
    ("rails-smtp-secrets-user", {}, "user_name: secrets.username", True),
    ("rails-smtp-secrets-password", {}, "password: secrets.password", True),
    ("rails-smtp-address", {"smtp_address": "smtp.example.test", "smtp_port": 465},
     'address: "smtp.example.test"', True),
    ("rails-smtp-port", {"smtp_port": 465}, "port: 465", True),
]


@pytest.mark.parametrize(("settings", "text", "present"),
                         [case[1:] for case in SMTP_CASES], ids=[c[0] for c in SMTP_CASES])
def test_smtp_settings_match_omnibus_gitlab(settings, text, present):
    assert (text in smtp(**settings)) is present


def test_smtp_tls_and_starttls_together_are_refused():
    # rails: 'when TLS and STARTTLS are enabled' raises
    with pytest.raises(ConfigError, match="mutually exclusive"):
        smtp(smtp_tls=True, smtp_enable_starttls_auto=True)


def test_an_unknown_smtp_authentication_is_refused():
    with pytest.raises(ConfigError, match="unrecognized value"):
        smtp(smtp_authentication="kerberos")


def test_smtp_settings_rb_is_removed_when_smtp_is_off():
    # recipes/gitlab-rails.rb: action :delete unless smtp_enable
    assert SMTP not in {f.path for f in service_files(make_context())}
    absent = gitlab_rails_smtp.resources(make_context())
    assert next(r.path for r in absent if isinstance(r, Absent)) == SMTP


def test_smtp_settings_rb_is_sensitive_and_not_world_readable():
    files = {f.path: f for f in service_files(make_context(rails(
        smtp_enable=True, smtp_password="hunter2-secret")))}
    assert files[SMTP].sensitive and files[SMTP].mode == 0o640
    assert (files[SMTP].owner, files[SMTP].group) == ("root", "git")


def test_gitlab_yml_with_ldap_password_is_sensitive():
    files = {f.path: f for f in service_files(make_context(rails(ldap_servers=LDAP_SERVERS)))}
    assert files[ETC / "gitlab.yml"].sensitive


@pytest.mark.parametrize("case", [c[0] for c in YML_CASES])
def test_gitlab_yml_still_parses_with_its_sections(case):
    settings = dict(next(c[1] for c in YML_CASES if c[0] == case))
    tree = production(rails(**settings))
    for section in ("gitlab", "ldap", "omniauth", "incoming_email", "service_desk_email",
                    "artifacts", "lfs", "uploads", "packages", "backup", "gravatar",
                    "rack_attack", "repositories", "gitlab_shell"):
        assert isinstance(tree[section], dict), section


#: Representative gitlab.rb inputs whose whole gitlab.yml and smtp_settings.rb are kept in
#: tests/golden/rails_settings/<case>/ (UPDATE_GOLDEN=1 rewrites them: review the diff).
GOLDEN_CASES = {
    "ldap-omniauth": rails(ldap_enabled=True, ldap_servers=LDAP_SERVERS, omniauth_enabled=True,
                           omniauth_providers=[{"name": "saml", "label": "SSO"}]),
    "object-storage": rails(object_store={"enabled": True, "connection": AWS,
                                          "storage_options": AWS_OPTIONS, "objects": OBJECTS},
                            lfs_object_store_enabled=True, lfs_object_store_connection=AWS,
                            backup_upload_connection=AWS,
                            backup_upload_remote_directory="backups"),
    "smtp-email": rails(smtp_enable=True, smtp_address="smtp.example.test", smtp_port=465,
                        smtp_user_name="mailer", smtp_password="pa#{ss}", smtp_tls=True,
                        smtp_authentication="login", smtp_pool=True,
                        incoming_email_enabled=True,
                        incoming_email_address="incoming+%{key}@example.test",
                        cdn_host="https://cdn.example.test", gravatar_enabled=False,
                        content_security_policy={"enabled": True, "report_only": True},
                        rack_attack_git_basic_auth={"enabled": True, "maxretry": 10}),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_rails_settings_are_golden(case):
    files = {f.path: f for f in service_files(make_context(GOLDEN_CASES[case]))}
    for path in (ETC / "gitlab.yml", SMTP):
        if path in files:
            check_golden(f"../rails_settings/{case}/{path.name}", files[path].content)
