"""The parts of gitlab.yml that come straight from gitlab.rb as omnibus-gitlab writes them:
LDAP, OmniAuth, object storage (the consolidated `object_store` and each type's own),
incoming and Service Desk email, the backup upload, gravatar, the CDN host, the Content
Security Policy and Rack::Attack's Git basic-auth throttle. Rails itself applies the
consolidated object store to the types it names; like omnibus-gitlab, this module copies
nothing between them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
            "mattermost": {"enabled": rails.get("mattermost_host") is not None,
                           "host": rails.get("mattermost_host")},
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
            "agent_plan_content_object_store_connection", "sentry_dsn", "openbao")
    store = rails.get("object_store") or {}
    return (any(rails.get(key) for key in keys) or bool(rails.get("ldap_servers"))
            or bool(store.get("enabled") and store.get("connection"))
            or any(rails.get(f"{kind}_object_store_connection") for kind in OBJECT_TYPES))
