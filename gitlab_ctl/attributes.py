"""The settings reconfigure works from: defaults, then gitlab.rb, then what external_url
implies for whatever neither set, then which services run."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitlab_ctl.config import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("defaults.yml")
#: Services that run when no role says otherwise (omnibus-gitlab's default role), of those
#: this runtime knows so far; an explicit `x['enable']` always wins.
DEFAULT_SERVICES = ("postgresql", "redis", "nginx", "logrotate")
URL_HINT = "e.g. external_url 'http://gitlab.example.com'"


def load_defaults() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(DEFAULTS_FILE.read_text())


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `top` on top: hashes merge, any other value of `top` replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_external_url(url: Any) -> dict[str, Any]:
    """Host, port, https and relative URL, as omnibus-gitlab derives them."""
    if not isinstance(url, str) or not url:
        raise ConfigError("external_url", "is not set", hint=URL_HINT)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("external_url", f"'{url}': GitLab external URL must include a schema "
                          "and FQDN", hint=URL_HINT)
    try:
        port = parts.port
    except ValueError as error:
        raise ConfigError("external_url", f"'{url}': bad port ({error})", hint=URL_HINT) from error
    https = parts.scheme == "https"
    relative = parts.path.rstrip("/")
    return {"gitlab_host": parts.hostname, "gitlab_port": port or (443 if https else 80),
            "gitlab_https": https, "gitlab_relative_url": relative or None}


def _fill(section: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if section.get(key) is None:
            section[key] = value


def resolve_attributes(settings: Mapping[str, Any]) -> dict[str, Any]:
    attributes = deep_merge(load_defaults(), settings)
    if attributes.get("external_url") is not None:
        url = parse_external_url(attributes["external_url"])
        _fill(attributes["gitlab_rails"], url)
        _fill(attributes["nginx"], {"listen_port": url["gitlab_port"],
                                    "listen_https": url["gitlab_https"]})
    roles_given = bool(attributes.get("roles")) or any(
        isinstance(v, Mapping) and v.get("enable") for k, v in attributes.items()
        if k.endswith("_role"))
    for service in DEFAULT_SERVICES:
        section = attributes.setdefault(service, {})
        if section.get("enable") is None:
            section["enable"] = not roles_given
    return attributes
