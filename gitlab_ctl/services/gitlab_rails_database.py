"""database.yml as omnibus-gitlab writes it: one stanza per database Rails connects to.
`main` comes from the top-level gitlab_rails['db_*'] settings (gitlab_rails['databases']
['main'] wins key by key); `ci` is on by default and, like `embedding` and `sec`, copies
every db_* setting it does not set from main. A database on main's host, port and name
leaves its schema tasks (migrations) to main."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitlab_ctl.config.reader import ConfigError

#: The databases Rails knows besides main; geo is Enterprise Edition only.
ADDITIONAL_DATABASES = ("ci", "embedding", "sec")
#: Settings that make a database the same one as main's.
SHARED_WITH_MAIN = ("db_host", "db_port", "db_database")
#: database.yml key -> the db_* setting it comes from, in omnibus-gitlab's order.
STANZA_KEYS = (
    ("adapter", "db_adapter"), ("encoding", "db_encoding"), ("collation", "db_collation"),
    ("database", "db_database"), ("username", "db_username"), ("password", "db_password"),
    ("host", "db_host"), ("port", "db_port"), ("socket", "db_socket"),
    ("sslmode", "db_sslmode"), ("sslcompression", "db_sslcompression"))
TAIL_KEYS = (
    ("load_balancing", "db_load_balancing"), ("prepared_statements", "db_prepared_statements"),
    ("database_tasks", "db_database_tasks"), ("statement_limit", "db_statements_limit"),
    ("connect_timeout", "db_connect_timeout"), ("keepalives", "db_keepalives"),
    ("keepalives_idle", "db_keepalives_idle"),
    ("keepalives_interval", "db_keepalives_interval"),
    ("keepalives_count", "db_keepalives_count"), ("tcp_user_timeout", "db_tcp_user_timeout"),
    ("application_name", "db_application_name"))
HINT = ("gitlab_rails['databases'] takes 'main' and " + ", ".join(ADDITIONAL_DATABASES)
        + " (each enabled with 'enable' => true)")


def db_settings(rails: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level gitlab_rails['db_*'] settings."""
    return {key: value for key, value in rails.items() if key.startswith("db_")}


def databases(rails: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Database name -> its db_* settings, main first."""
    configured = {str(name): dict(value or {})
                  for name, value in (rails.get("databases") or {}).items()}
    defaults = db_settings(rails)
    main = {**defaults, **{k: v for k, v in configured.pop("main", {}).items()
                           if v is not None and k.startswith("db_")}}
    configured.setdefault("ci", {"enable": True})
    result = {"main": main}
    for name, values in configured.items():
        if values.get("enable") is not True:
            continue
        if name not in ADDITIONAL_DATABASES:
            raise ConfigError(f"gitlab_rails['databases']['{name}']",
                              "is not a database this GitLab connects to", hint=HINT)
        database = {**main, **{k: v for k, v in values.items()
                               if v is not None and k.startswith("db_")}}
        if all(database.get(key) == main.get(key) for key in SHARED_WITH_MAIN):
            database["db_database_tasks"] = False
        result[name] = database
    return result


def stanza(values: Mapping[str, Any]) -> dict[str, Any]:
    """One database's entry in database.yml, keys as omnibus-gitlab writes them."""
    entry = {key: values.get(setting) for key, setting in STANZA_KEYS}
    # Either name of the CA certificate fills both, as omnibus-gitlab does.
    entry["sslrootcert"] = values.get("db_sslrootcert") or values.get("db_sslca")
    entry["sslca"] = values.get("db_sslca") or values.get("db_sslrootcert")
    if values.get("db_sslcert") is not None and values.get("db_sslkey") is not None:
        entry["sslcert"], entry["sslkey"] = values["db_sslcert"], values["db_sslkey"]
    entry.update({key: values.get(setting) for key, setting in TAIL_KEYS})
    entry["variables"] = {"statement_timeout": values.get("db_statement_timeout")}
    return entry


def production(rails: Mapping[str, Any]) -> dict[str, Any]:
    """database.yml's `production` tree."""
    tree: dict[str, Any] = {}
    if rails.get("db_extra_config_command") is not None:
        tree["config_command"] = rails["db_extra_config_command"]
    tree.update({name: stanza(values) for name, values in databases(rails).items()})
    return tree


def holds_secrets(rails: Mapping[str, Any]) -> bool:
    return any(values.get("db_password") for values in databases(rails).values())
