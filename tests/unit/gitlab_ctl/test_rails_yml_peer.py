"""Peer tests of the gitlab.yml entries that are each one gitlab_rails setting
(services/gitlab_rails_yml_table.yml): expectations taken from omnibus-gitlab's specs,
checked against what our reconfigure renders for the same gitlab.rb input. A case id
`<name>` names spec/chef/cookbooks/gitlab/recipes/gitlab-rails/gitlab_yml/<name>_spec.rb.
The words are ours, the facts theirs. The last test sets every key the table reads and
checks that each one changes gitlab.yml."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.services import gitlab_rails_yml_table
from tests.unit.gitlab_ctl.test_rails_peer import dig, production, rails

SES = {"amazon_ses_mailer_enabled": True, "amazon_ses_mailer_region": "us-east-1",
       "amazon_ses_mailer_role_arn": "arn:aws:iam::123456789012:role/ses-mailer",
       "amazon_ses_mailer_access_key_id": "YOUR-AWS-ACCESS-KEY-ID",
       "amazon_ses_mailer_secret_access_key": "YOUR-AWS-SECRET-ACCESS-KEY"}
CELL = {"enabled": True, "id": 1, "database": {"skip_sequence_alteration": False},
        "topology_service_client": {"address": "topology-service.test.com:443",
                                    "ca_file": "/etc/ssl/certs/ca-certificate.crt",
                                    "certificate_file": "/etc/ssl/certs/certificate.crt",
                                    "private_key_file": "/etc/ssl/private/key.key"}}
SENTRY = {"sentry_enabled": True,
          "sentry_dsn": "https://708cd0ca88972f04d5c836a395b8db63@example.com/76",
          "sentry_clientside_dsn": "https://708cd0ca88972f04d5c836a395b8db63@example.com/77",
          "sentry_environment": "testing"}
SMARTCARD = {"smartcard_enabled": True, "smartcard_ca_file": "/foobar/CA.pem",
             "smartcard_client_certificate_required_host": "smartcard.gitlab.example.com",
             "smartcard_client_certificate_required_port": 123,
             "smartcard_required_for_git_access": True, "smartcard_san_extensions": True}
UNLEASH = {"feature_flags_unleash_enabled": True, "feature_flags_unleash_url": "foobar.com",
           "feature_flags_unleash_app_name": "GitLab Production",
           "feature_flags_unleash_instance_id": "foobar"}
DUO = {"duo_auth_enabled": True, "duo_auth_hostname": "duo_auth.example.com",
       "duo_auth_integration_key": "1nt3gr4tionKey", "duo_auth_secret_key": "123e4et"}
FORTI_CLOUD = {"forti_token_cloud_enabled": True,
               "forti_token_cloud_client_id": "forti_token_cloud_client_id",
               "forti_token_cloud_client_secret": "123s3cr3t456"}
OPENBAO_URL = "http://openbao.example.com"
SMIME = {"gitlab_email_smime_enabled": True,
         "gitlab_email_smime_key_file": "/etc/gitlab/ssl/custom_gitlab_smime.key",
         "gitlab_email_smime_cert_file": "/etc/gitlab/ssl/custom_gitlab_smime.crt",
         "gitlab_email_smime_ca_certs_file": "/etc/gitlab/ssl/custom_gitlab_smime_cas.crt"}
HTTP_CLIENT = {"tls_client_cert_file": "/path/to/tls_cert_file",
               "tls_client_cert_password": "somepassword"}
SHARED = "/var/opt/gitlab/gitlab-rails/shared"
AWS = {"provider": "AWS", "region": "eu-west-1", "aws_access_key_id": "AKIAKIAKI",
       "aws_secret_access_key": "secret123"}
PAGES = {"pages_path": "/random/path", "pages_object_store_enabled": True,
         "pages_object_store_remote_directory": "foobar",
         "pages_object_store_connection": AWS}
# ldap_spec.rb's old single-server syntax (active_directory as a boolean here: the spec's
# placeholder string would be refused by this gitlab-ctl's type check)
LEGACY_LDAP = {"ldap_enabled": True, "prevent_ldap_sign_in": False, "ldap_host": "primary.ldap",
               "ldap_port": 389, "ldap_uid": "uid", "ldap_password": "s3cr3t",
               "ldap_base": "dc=example,dc=com", "ldap_user_filter": "", "ldap_method": "plain",
               "ldap_bind_dn": "foobar", "ldap_active_directory": True,
               "ldap_smartcard_ad_cert_field": "extendedAttribute2",
               "ldap_smartcard_ad_cert_format": "subject",
               "ldap_allow_username_or_email_login": False, "ldap_lowercase_usernames": True,
               "ldap_group_base": "dc-example.com", "ldap_admin_group": "foo",
               "ldap_sync_ssh_keys": True, "ldap_sync_time": 10}

# (spec, gitlab.rb gitlab_rails settings, dotted path in production, expected value)
CASES = [
    ("amazon_ses_mailer-default", {}, "amazon_ses_mailer",
     {"enabled": False, "region": None, "role_arn": None, "access_key_id": None,
      "secret_access_key": None}),
    ("amazon_ses_mailer-user", SES, "amazon_ses_mailer",
     {"enabled": True, "region": "us-east-1",
      "role_arn": "arn:aws:iam::123456789012:role/ses-mailer",
      "access_key_id": "YOUR-AWS-ACCESS-KEY-ID",
      "secret_access_key": "YOUR-AWS-SECRET-ACCESS-KEY"}),
    ("cell-enabled", {"cell": CELL}, "cell.enabled", True),
    ("cell-id", {"cell": CELL}, "cell.id", 1),
    ("cell-address", {"cell": CELL}, "cell.topology_service_client.address",
     "topology-service.test.com:443"),
    ("cell-ca-file", {"cell": CELL}, "cell.topology_service_client.ca_file",
     "/etc/ssl/certs/ca-certificate.crt"),
    ("cell-certificate-file", {"cell": CELL}, "cell.topology_service_client.certificate_file",
     "/etc/ssl/certs/certificate.crt"),
    ("cell-private-key-file", {"cell": CELL}, "cell.topology_service_client.private_key_file",
     "/etc/ssl/private/key.key"),
    ("duo_auth-default", {}, "duo_auth", {"enabled": False}),
    ("duo_auth-user", DUO, "duo_auth",
     {"enabled": True, "hostname": "duo_auth.example.com",
      "integration_key": "1nt3gr4tionKey", "secret_key": "123e4et"}),
    ("extra-matomo-url-only", {"extra_matomo_url": "http://foobar.com"}, "extra",
     {"matomo_url": "http://foobar.com", "matomo_site_id": None,
      "matomo_disable_cookies": None}),
    ("extra-matomo-all", {"extra_matomo_url": "http://foobar.com",
                          "extra_matomo_site_id": "foobar",
                          "extra_matomo_disable_cookies": True}, "extra",
     {"matomo_url": "http://foobar.com", "matomo_site_id": "foobar",
      "matomo_disable_cookies": True}),
    ("extra-one-trust", {"extra_one_trust_id": "0000-0000-test"}, "extra.one_trust_id",
     "0000-0000-test"),
    ("extra-gtm-nonce", {"extra_google_tag_manager_nonce_id": "0000-0000"},
     "extra.google_tag_manager_nonce_id", "0000-0000"),
    ("extra-highlight-size", {"extra_maximum_text_highlight_size_kilobytes": 128},
     "extra.maximum_text_highlight_size_kilobytes", 128),
    ("forti_token_cloud-default", {}, "forti_token_cloud", {"enabled": False}),
    ("forti_token_cloud-user", FORTI_CLOUD, "forti_token_cloud",
     {"enabled": True, "client_id": "forti_token_cloud_client_id",
      "client_secret": "123s3cr3t456"}),
    ("shutdown-default", {}, "shutdown.blackout_seconds", 10),
    ("shutdown-user", {"shutdown_blackout_seconds": 30}, "shutdown.blackout_seconds", 30),
    ("sentry-default", {}, "sentry",
     {"enabled": False, "dsn": None, "clientside_dsn": None, "environment": None}),
    ("sentry-user", SENTRY, "sentry",
     {"enabled": True, "dsn": SENTRY["sentry_dsn"],
      "clientside_dsn": SENTRY["sentry_clientside_dsn"], "environment": "testing"}),
    ("unleash-default", {}, "feature_flags.unleash", {"enabled": False}),
    ("unleash-user", UNLEASH, "feature_flags.unleash",
     {"enabled": True, "url": "foobar.com", "app_name": "GitLab Production",
      "instance_id": "foobar"}),
    ("oidc_provider-user", {"oidc_provider_openid_id_token_expire_in_seconds": 120},
     "oidc_provider.openid_id_token_expire_in_seconds", 120),
    ("openbao-url", {"openbao": {"url": OPENBAO_URL}}, "openbao.url", OPENBAO_URL),
    ("openbao-internal-url", {"openbao": {"url": OPENBAO_URL,
                                          "internal_url": "http://internal.openbao.example.com"}},
     "openbao.internal_url", "http://internal.openbao.example.com"),
    ("openbao-token-file", {"openbao": {"url": OPENBAO_URL,
                                        "authentication_token_secret_file_path": "/path/to/f"}},
     "openbao.authentication_token_secret_file_path", "/path/to/f"),
    ("openbao-jwt-audience", {"openbao": {"url": OPENBAO_URL,
                                          "jwt_audience": "https://secondary.geo.example.com"}},
     "openbao.jwt_audience", "https://secondary.geo.example.com"),
    ("smartcard-default", {}, "smartcard",
     {"enabled": False, "ca_file": "/etc/gitlab/ssl/CA.pem",
      "client_certificate_required_host": None, "client_certificate_required_port": 3444,
      "required_for_git_access": False, "san_extensions": False}),
    ("smartcard-user", SMARTCARD, "smartcard",
     {"enabled": True, "ca_file": "/foobar/CA.pem",
      "client_certificate_required_host": "smartcard.gitlab.example.com",
      "client_certificate_required_port": 123, "required_for_git_access": True,
      "san_extensions": True}),
    ("geo-user", {"geo_node_name": "foobar", "geo_registry_replication_enabled": True,
                  "geo_registry_replication_primary_api_url": "https://example.com"}, "geo",
     {"node_name": "foobar",
      "registry_replication": {"enabled": True, "primary_api_url": "https://example.com"}}),
]

CASES += [
    ("gitlab-http-client-default", {}, "gitlab.http_client", {}),
    ("gitlab-http-client-user", {"http_client": HTTP_CLIENT}, "gitlab.http_client", HTTP_CLIENT),
    ("gitlab-smime-default", {}, "gitlab.email_smime",
     {"enabled": False, "cert_file": "/etc/gitlab/ssl/gitlab_smime.crt",
      "key_file": "/etc/gitlab/ssl/gitlab_smime.key", "ca_certs_file": None}),
    ("gitlab-smime-user", SMIME, "gitlab.email_smime",
     {"enabled": True, "cert_file": "/etc/gitlab/ssl/custom_gitlab_smime.crt",
      "key_file": "/etc/gitlab/ssl/custom_gitlab_smime.key",
      "ca_certs_file": "/etc/gitlab/ssl/custom_gitlab_smime_cas.crt"}),
    ("gitlab-allowed-hosts", {"allowed_hosts": ["example.com", "foobar.com"]},
     "gitlab.allowed_hosts", ["example.com", "foobar.com"]),
    ("gitlab-action-cable-default", {}, "gitlab.action_cable_allowed_origins", None),
    ("gitlab-action-cable-user", {"action_cable_allowed_origins": ["example.com", "foobar.com"]},
     "gitlab.action_cable_allowed_origins", ["example.com", "foobar.com"]),
    ("gitlab-settings-cache-default", {}, "gitlab.application_settings_cache_seconds", None),
    ("gitlab-settings-cache-user", {"application_settings_cache_seconds": 30},
     "gitlab.application_settings_cache_seconds", 30),
    ("gitlab-disable-animations-default", {}, "gitlab.disable_animations", False),
    ("gitlab-disable-animations-user", {"disable_animations": True},
     "gitlab.disable_animations", True),
    ("gitlab-color-mode-default", {}, "gitlab.default_color_mode", None),
    ("gitlab-color-mode-user", {"gitlab_default_color_mode": 2}, "gitlab.default_color_mode", 2),
    ("gitlab-product-usage-default", {}, "gitlab.initial_gitlab_product_usage_data", None),
    ("gitlab-product-usage-user", {"initial_gitlab_product_usage_data": False},
     "gitlab.initial_gitlab_product_usage_data", False),
    ("gitlab-cookie-salts-default", {}, "gitlab.signed_cookie_salt", None),
    ("gitlab-signed-cookie-salt", {"signed_cookie_salt": "custom_signed_salt"},
     "gitlab.signed_cookie_salt", "custom_signed_salt"),
    ("gitlab-encrypted-cookie-salt",
     {"authenticated_encrypted_cookie_salt": "custom_encrypted_salt"},
     "gitlab.authenticated_encrypted_cookie_salt", "custom_encrypted_salt"),
    ("gitaly-default-retries", {}, "gitaly.client_max_attempts", 4),
    ("gitaly-default-backoff", {}, "gitaly.client_max_backoff", "1.4s"),
    ("gitaly-rails-attempts", {"gitaly_client_max_attempts": 5}, "gitaly.client_max_attempts", 5),
    ("gitaly-rails-backoff", {"gitaly_client_max_backoff": "2.0s"},
     "gitaly.client_max_backoff", "2.0s"),
    ("gitlab_shell-default-git-timeout", {}, "gitlab_shell.git_timeout", 10800),
    ("gitlab_shell-user-git-timeout", {"gitlab_shell_git_timeout": 99999},
     "gitlab_shell.git_timeout", 99999),
    ("pages-default-path", {}, "pages.path", f"{SHARED}/pages"),
    ("pages-default-object-store", {}, "pages.object_store",
     {"connection": {}, "enabled": False, "remote_directory": "pages"}),
    ("pages-default-local-store", {}, "pages.local_store",
     {"enabled": True, "path": f"{SHARED}/pages"}),
    ("pages-user-path", PAGES, "pages.path", "/random/path"),
    ("pages-user-object-store", PAGES, "pages.object_store",
     {"connection": AWS, "enabled": True, "remote_directory": "foobar"}),
    ("pages-user-local-store", PAGES, "pages.local_store",
     {"enabled": True, "path": "/random/path"}),
    ("prometheus-external-address", {"prometheus_address": "1.1.1.1:2222"}, "prometheus",
     {"enabled": True, "server_address": "1.1.1.1:2222"}),
    ("ldap-old-syntax", LEGACY_LDAP, "ldap",
     {"enabled": True, "prevent_ldap_sign_in": False,
      "smartcard_ad_cert_field": "extendedAttribute2", "smartcard_ad_cert_format": "subject",
      "sync_time": 10, "host": "primary.ldap", "port": 389, "uid": "uid",
      "password": "s3cr3t", "base": "dc=example,dc=com", "user_filter": "", "method": "plain",
      "bind_dn": "foobar", "active_directory": True, "allow_username_or_email_login": False,
      "lowercase_usernames": True, "group_base": "dc-example.com", "admin_group": "foo",
      "sync_ssh_keys": "true"}),
]

# cron_jobs_spec.rb's table: gitlab.yml cron job, gitlab_rails key
CRON_JOBS = [
    ("admin_email_worker", "admin_email_worker_cron"),
    ("analytics_usage_trends_count_job_trigger_worker",
     "analytics_usage_trends_count_job_trigger_worker_cron"),
    ("ci_archive_traces_cron_worker", "ci_archive_traces_cron_worker_cron"),
    ("ci_platform_metrics_update_cron_worker", "ci_platform_metrics_update_cron_worker"),
    ("search_elastic_index_bulk_cron_worker", "elastic_index_bulk_cron"),
    ("environments_auto_stop_cron_worker", "environments_auto_stop_cron_worker_cron"),
    ("expire_build_artifacts_worker", "expire_build_artifacts_worker_cron"),
    ("geo_prune_event_log_worker", "geo_prune_event_log_worker_cron"),
    ("geo_metrics_update_worker", "geo_metrics_update_worker_cron"),
    ("geo_secondary_usage_data_cron_worker", "geo_secondary_usage_data_cron_worker"),
    ("historical_data_worker", "historical_data_worker_cron"),
    ("ldap_group_sync_worker", "ldap_group_sync_worker_cron"),
    ("ldap_sync_worker", "ldap_sync_worker_cron"),
    ("member_invitation_reminder_emails_worker", "member_invitation_reminder_emails_worker_cron"),
    ("pages_domain_removal_cron_worker", "pages_domain_removal_cron_worker"),
    ("pages_domain_ssl_renewal_cron_worker", "pages_domain_ssl_renewal_cron_worker"),
    ("pages_domain_verification_cron_worker", "pages_domain_verification_cron_worker"),
    ("personal_access_tokens_expired_notification_worker",
     "personal_access_tokens_expired_notification_worker_cron"),
    ("personal_access_tokens_expiring_worker", "personal_access_tokens_expiring_worker_cron"),
    ("pipeline_schedule_worker", "pipeline_schedule_worker_cron"),
    ("remove_unaccepted_member_invites_worker", "remove_unaccepted_member_invites_cron_worker"),
    ("repository_archive_cache_worker", "repository_archive_cache_worker_cron"),
    ("repository_check_worker", "repository_check_worker_cron"),
    ("schedule_migrate_external_diffs_worker", "schedule_migrate_external_diffs_worker_cron"),
    ("stuck_ci_jobs_worker", "stuck_ci_jobs_worker_cron"),
    ("user_status_cleanup_batch_worker", "user_status_cleanup_batch_worker_cron"),
    ("namespaces_in_product_marketing_emails_worker",
     "namespaces_in_product_marketing_emails_worker_cron"),
]


@pytest.mark.parametrize(("settings", "path", "expected"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_gitlab_yml_matches_omnibus_gitlab(settings, path, expected):
    assert dig(production(rails(**settings)), path) == expected


@pytest.mark.parametrize("section", ["cron_jobs", "extra", "oidc_provider", "openbao", "cell"])
def test_sections_left_out_by_default(section):
    """cron_jobs, extra, oidc_provider, openbao, cell specs: absent (Rails reads nil)."""
    assert production().get(section) is None


@pytest.mark.parametrize(("job", "key"), CRON_JOBS,
                         ids=[f"cron_jobs-{job}" for job, _ in CRON_JOBS])
def test_cron_job_schedule(job, key):
    assert production(rails(**{key: "1 2 3 4 5"}))["cron_jobs"][job] == {"cron": "1 2 3 4 5"}


#: derived switches that are on by default (KAS runs in the default role)
DERIVED_ON = ("gitlab_kas_enabled",)


def _distinct(key: str, kind: str, default: Any) -> Any:
    """A value for `key` unlike its default, of its schema type."""
    if key in DERIVED_ON:
        return False
    if kind == "boolean":
        return not default
    return { "integer": 4242, "number": 4.5, "port": 4242,
            "list": [f"{key}-1"], "hash": {"url": f"http://{key}.test", "enabled": True,
                                           "id": 7}}.get(kind, f"{key}-value")


def _applied_keys() -> list[str]:
    return sorted(set(gitlab_rails_yml_table.sources()))


def _enablers(key: str) -> dict[str, Any]:
    """The switches an entry of `key` is written under (`key if other`)."""
    # registry's entries are written only while Rails uses a registry (gitlab.yml.j2)
    found: dict[str, Any] = {"registry_enabled": True} if key.startswith("registry_") else {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif str(node).split(" if ")[0].removesuffix("[]").rstrip("?+") == key and " if " in node:
            other = node.split(" if ")[1].split(".")[0]
            if other != key:
                found[other] = True if other.endswith("enabled") else "0 0 * * *"
    walk(gitlab_rails_yml_table.table())
    return found


@cache
def _baseline(base: str) -> dict:
    return production(rails(**json.loads(base)))


@pytest.mark.parametrize("key", _applied_keys())
def test_every_table_key_reaches_gitlab_yml(key):
    """Each gitlab_rails key the table reads is declared applied and changes gitlab.yml."""
    setting = load_schema().get("gitlab_rails", key)
    assert setting is not None and setting.used, f"{key} is not declared applied"
    base = _enablers(key)
    value = _distinct(key, setting.type, setting.default)
    assert production(rails(**base, **{key: value})) != _baseline(json.dumps(base))
