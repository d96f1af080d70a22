"""The parts of gitlab.yml that come straight from gitlab.rb as omnibus-gitlab writes them:
LDAP, OmniAuth, object storage (the consolidated `object_store` and each type's own),
incoming and Service Desk email, the backup upload, gravatar, the CDN host, the Content
Security Policy and Rack::Attack's Git basic-auth throttle. Rails itself applies the
consolidated object store to the types it names; like omnibus-gitlab, this module copies
nothing between them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gitlab_ctl.services import gitlab_rails_yml_table

#: Object types with their own `<type>_object_store_*` settings; the first ones go through
#: Workhorse and so also have `proxy_download`.
PROXIED_TYPES = ("artifacts", "lfs", "uploads", "packages", "dependency_proxy")
OBJECT_TYPES = (*PROXIED_TYPES, "terraform_state", "ci_secure_files")
#: gitlab.yml's omniauth keys, each read from gitlab_rails['omniauth_<key>'].
OMNIAUTH_KEYS = ("enabled", "auto_sign_in_with_provider", "allow_single_sign_on",
                 "block_auto_created_users", "auto_link_ldap_user", "auto_link_saml_user",
                 "auto_link_user", "external_providers", "allow_bypass_two_factor")
#: Set only when gitlab.rb sets them (omnibus-gitlab leaves them out otherwise).
OMNIAUTH_OPTIONAL = ("sync_email_from_provider", "sync_profile_from_provider",
                     "sync_profile_attributes")
#: The mailbox settings mail_room and Rails share, as gitlab.yml names them: gitlab.rb key.
MAILBOX_KEYS = {"enabled": "enabled", "address": "address", "user": "email",
                "password": "password", "host": "host", "port": "port", "ssl": "ssl",
                "start_tls": "start_tls", "inbox_method": "inbox_method",
                "mailbox": "mailbox_name", "idle_timeout": "idle_timeout",
                "log_path": "log_file"}
#: The single-server LDAP settings of old (gitlab_rails['ldap_<key>']), in gitlab.yml's
#: order; omnibus-gitlab still writes them when ldap_servers is empty and Rails then takes
#: them as the server `main`.
LEGACY_LDAP_KEYS = ("host", "port", "uid", "method", "bind_dn", "password",
                    "active_directory", "allow_username_or_email_login",
                    "lowercase_usernames", "base", "user_filter", "group_base", "admin_group",
                    "smartcard_ad_cert_field", "smartcard_ad_cert_format", "sync_ssh_keys")
#: Those gitlab.yml.erb writes through its `quote` helper, so as strings (true: "true").
LEGACY_LDAP_UNQUOTED = ("port", "active_directory", "allow_username_or_email_login",
                        "lowercase_usernames")


def ldap(rails: Mapping[str, Any]) -> dict[str, Any]:
    """production.ldap: the switch, sync time, and each server's hash as given."""
    values: dict[str, Any] = {"enabled": rails["ldap_enabled"],
                              "sync_time": rails.get("ldap_sync_time"),
                              "prevent_ldap_sign_in": rails["prevent_ldap_sign_in"]}
    servers = rails.get("ldap_servers") or {}
    if servers:
        values["servers"] = {str(name): dict(server) for name, server in servers.items()}
    elif rails.get("ldap_host"):
        # Rails reads these only when host is set, so without it they are left out
        values.update({key: legacy_ldap_value(key, rails.get(f"ldap_{key}"))
                       for key in LEGACY_LDAP_KEYS})
    return values


def legacy_ldap_value(key: str, value: Any) -> Any:
    if value is None or key in LEGACY_LDAP_UNQUOTED:
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def omniauth(rails: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: rails.get(f"omniauth_{key}") for key in OMNIAUTH_KEYS}
    for key in OMNIAUTH_OPTIONAL:
        if rails.get(f"omniauth_{key}") is not None:
            values[key] = rails[f"omniauth_{key}"]
    # an empty list renders as nothing under `providers:` upstream, so Rails reads null
    values["providers"] = list(rails.get("omniauth_providers") or []) or None
    return values


def type_object_store(rails: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """<kind>.object_store from gitlab_rails['<kind>_object_store_*']."""
    prefix = f"{kind}_object_store_"
    values: dict[str, Any] = {"enabled": rails[prefix + "enabled"]}
    if kind in PROXIED_TYPES:
        values["proxy_download"] = rails[prefix + "proxy_download"]
    values["remote_directory"] = rails[prefix + "remote_directory"]
    values["connection"] = dict(rails.get(prefix + "connection") or {})
    return values


def consolidated_object_store(rails: Mapping[str, Any]) -> dict[str, Any] | None:
    """production.object_store, written only when object_store['enabled'] is on."""
    store = rails.get("object_store") or {}
    if not store.get("enabled"):
        return None
    return {"enabled": True, "proxy_download": store.get("proxy_download", False),
            "connection": store.get("connection") or {},
            "storage_options": store.get("storage_options") or {},
            "objects": store.get("objects") or {}}


def mailbox(rails: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """incoming_email or service_desk_email: the IMAP (or Graph) mailbox mail_room reads."""
    values = {key: rails.get(f"{prefix}_{name}") for key, name in MAILBOX_KEYS.items()}
    if rails.get(f"{prefix}_inbox_options"):
        values["inbox_options"] = rails[f"{prefix}_inbox_options"]
    if prefix == "incoming_email":
        values["delete_after_delivery"] = rails.get("incoming_email_delete_after_delivery")
        values["expunge_deleted"] = rails.get("incoming_email_expunge_deleted")
    values["delivery_method"] = rails.get(f"{prefix}_delivery_method")
    if values["delivery_method"] == "webhook":  # where mail_room posts, and its secret
        values["gitlab_url"] = rails.get("mailroom_internal_api_url")
        values["secret_file"] = f".gitlab_{prefix}_secret"
    return values


def backup_upload(rails: Mapping[str, Any]) -> dict[str, Any]:
    return {"connection": rails.get("backup_upload_connection"),
            "remote_directory": rails.get("backup_upload_remote_directory"),
            "multipart_chunk_size": rails.get("backup_multipart_chunk_size"),
            "encryption": rails.get("backup_encryption"),
            "encryption_key": rails.get("backup_encryption_key"),
            "storage_options": rails.get("backup_upload_storage_options") or {},
            "storage_class": rails.get("backup_storage_class")}


def gravatar(rails: Mapping[str, Any]) -> dict[str, Any]:
    values = {"plain_url": rails.get("gravatar_plain_url"),
              "ssl_url": rails.get("gravatar_ssl_url")}
    if rails.get("gravatar_enabled") is not None:
        values = {"enabled": rails["gravatar_enabled"], **values}
    return values


def values(rails: Mapping[str, Any]) -> dict[str, Any]:
    """Everything gitlab.yml.j2 reads from this module, by section."""
    return {"ldap": ldap(rails), "omniauth": omniauth(rails),
            "object_store": consolidated_object_store(rails),
            "type_stores": {kind: type_object_store(rails, kind) for kind in OBJECT_TYPES},
            "incoming_email": mailbox(rails, "incoming_email"),
            "service_desk_email": mailbox(rails, "service_desk_email"),
            "backup_upload": backup_upload(rails), "gravatar": gravatar(rails),
            "rack_attack": {"git_basic_auth": rails.get("rack_attack_git_basic_auth")},
            # no Prometheus runs here: Rails queries one only at the address given
            "prometheus": {"enabled": rails.get("prometheus_address") is not None,
                           "server_address": rails.get("prometheus_address") or ""},
            "table": gitlab_rails_yml_table.sections(rails),
            "own_sections": gitlab_rails_yml_table.own_sections(rails)}


def holds_secrets(rails: Mapping[str, Any]) -> bool:
    """Whether gitlab.yml carries passwords or keys from these settings (then its diff is
    never shown)."""
    keys = ("incoming_email_password", "service_desk_email_password", "backup_upload_connection",
            "backup_encryption_key", "omniauth_providers", "incoming_email_inbox_options",
            "service_desk_email_inbox_options", "ldap_password", "registry_notification_secret",
            "microsoft_graph_mailer_client_secret", "amazon_ses_mailer_secret_access_key",
            "forti_authenticator_access_token", "forti_token_cloud_client_secret",
            "duo_auth_secret_key", "signed_cookie_salt", "authenticated_encrypted_cookie_salt",
            "external_diffs_object_store_connection", "pages_object_store_connection",
            "agent_plan_content_object_store_connection", "sentry_dsn", "openbao",
            "repositories_storages")
    store = rails.get("object_store") or {}
    return (any(rails.get(key) for key in keys) or bool(rails.get("ldap_servers"))
            or bool(store.get("enabled") and store.get("connection"))
            or any(rails.get(f"{kind}_object_store_connection") for kind in OBJECT_TYPES))


#: monitoring.* entries read from the puma and sidekiq sections: gitlab.yml key: gitlab.rb key.
WEB_EXPORTER = {"enabled": "exporter_enabled", "address": "exporter_address",
                "port": "exporter_port", "tls_enabled": "exporter_tls_enabled",
                "tls_cert_path": "exporter_tls_cert_path", "tls_key_path": "exporter_tls_key_path"}
SIDEKIQ_EXPORTER = {"enabled": "metrics_enabled", "log_enabled": "exporter_log_enabled",
                    "tls_enabled": "exporter_tls_enabled",
                    "tls_cert_path": "exporter_tls_cert_path",
                    "tls_key_path": "exporter_tls_key_path", "address": "listen_address",
                    "port": "listen_port"}
SIDEKIQ_HEALTH_CHECKS = {"enabled": "health_checks_enabled",
                         "address": "health_checks_listen_address",
                         "port": "health_checks_listen_port"}
#: pages.* entries read from the gitlab_pages section (the others come from gitlab_rails).
PAGES_FROM_PAGES = ("access_control", "artifacts_server", "namespace_in_path")


def monitoring(rails: Mapping[str, Any], puma: Mapping[str, Any],
               sidekiq: Mapping[str, Any]) -> dict[str, Any]:
    """production.monitoring: the allowlist and the metrics/health servers Puma and Sidekiq
    run inside Rails."""
    allowlist = rails.get("monitoring_whitelist")
    return {"ip_whitelist": rails.get("monitoring_allowlist") if allowlist is None else allowlist,
            "sidekiq_exporter": {key: sidekiq.get(name) for key, name in SIDEKIQ_EXPORTER.items()},
            "sidekiq_health_checks": {key: sidekiq.get(name)
                                      for key, name in SIDEKIQ_HEALTH_CHECKS.items()},
            "web_exporter": {key: puma.get(name) for key, name in WEB_EXPORTER.items()}}


def routing_rules(sidekiq: Mapping[str, Any]) -> list[list[Any]]:
    """sidekiq.routing_rules: [query, queue] or [query, queue, shard] as given."""
    return [list(rule)[:3] if len(rule) > 2 and rule[2] is not None else list(rule)[:2]
            for rule in sidekiq.get("routing_rules") or []]


def nats(rails: Mapping[str, Any]) -> dict[str, Any] | None:
    """production.nats, only when servers are given; unset options are left out."""
    config = dict(rails.get("nats") or {})
    servers = list(config.get("servers") or [])
    if not servers:
        return None
    values: dict[str, Any] = {"servers": servers}
    for key in ("connect_timeout", "stream_replicas"):
        if config.get(key) is not None:
            values[key] = config[key]
    tls = {key: value for key, value in (config.get("tls") or {}).items() if value is not None}
    if tls:
        values["tls"] = tls
    return values


def mattermost(rails: Mapping[str, Any], external_url: str | None) -> dict[str, Any]:
    """production.mattermost: mattermost_host, else mattermost_external_url."""
    host = rails.get("mattermost_host") or external_url
    return {"enabled": host is not None, "host": host}


def pages(rails: Mapping[str, Any], gitlab_pages: Mapping[str, Any],
          external_url: str | None) -> dict[str, Any]:
    """pages.* as gitlab.yml.erb writes them: on with pages_external_url, its host, port and
    scheme, and gitlab_pages' switches Rails reads (gitlab-pages itself is not run here)."""
    url = urlsplit(external_url or "")
    https = url.scheme == "https"
    values: dict[str, Any] = {
        "enabled": bool(external_url),
        "access_control": gitlab_pages.get("access_control"),
        "host": url.hostname, "port": url.port or (443 if https else 80) if url.hostname else None,
        "https": https,
        "external_http": bool(gitlab_pages.get("external_http")),
        "external_https": bool(gitlab_pages.get("external_https")
                               or gitlab_pages.get("external_https_proxyv2")),
        "artifacts_server": gitlab_pages.get("artifacts_server"),
        "namespace_in_path": gitlab_pages.get("namespace_in_path")}
    return values


def gitlab_ci(rails: Mapping[str, Any], gitlab_ci: Mapping[str, Any]) -> dict[str, Any]:
    """gitlab_ci's project notification defaults."""
    return {"all_broken_builds": gitlab_ci.get("gitlab_ci_all_broken_builds"),
            "add_pusher": gitlab_ci.get("gitlab_ci_add_pusher")}


def repositories(rails: Mapping[str, Any]) -> dict[str, Any] | None:
    """repositories.storages from gitlab_rails['repositories_storages'] (an external Gitaly:
    {name => {gitaly_address, gitaly_token}}), None when unset (the local Gitaly's)."""
    storages = rails.get("repositories_storages") or {}
    return {str(name): storage for name, storage in storages.items()} or None
