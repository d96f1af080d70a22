"""The settings reconfigure works from: defaults, then gitlab.rb, then what external_url
implies for whatever neither set, then which services run."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

from gitlab_ctl.config import git_data_dirs
from gitlab_ctl.config.external_url import UrlError, parse_url, url_hint
from gitlab_ctl.config.nginx_sites import resolve_gitlab_site, resolve_sites
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema

#: Services that run when no role says otherwise (omnibus-gitlab's default role), of those
#: this runtime knows so far; an explicit `x['enable']` always wins. gitlab_shell has no
#: switch in omnibus-gitlab (its files come with Rails); here it is one like the others.
DEFAULT_SERVICES = ("postgresql", "redis", "gitlab_rails", "gitlab_shell", "gitaly", "puma",
                    "sidekiq", "gitlab_workhorse", "nginx", "logrotate")
#: omnibus-gitlab's "rails" group: off with gitlab_rails['enable'] = false.
RAILS_GROUP = ("puma", "sidekiq", "gitlab_workhorse")
#: omnibus-gitlab's "monitoring" group: all off with prometheus_monitoring['enable'] = false.
MONITORING_GROUP = ("prometheus", "alertmanager", "node_exporter", "redis_exporter",
                    "postgres_exporter", "gitlab_exporter")
URL_HINT = url_hint("external_url")


@functools.cache
def _defaults() -> dict[str, Any]:
    return load_schema().defaults()


def load_defaults() -> dict[str, Any]:
    """The defaults, read once per process; each caller gets its own copy."""
    return copy.deepcopy(_defaults())


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
    """Host, port, https and relative URL, as omnibus-gitlab derives them. read_config has
    checked the URLs of a config file already, naming their line; this is for settings made
    otherwise."""
    try:
        return parse_url(url)
    except UrlError as error:
        raise ConfigError("external_url", error.message, hint=URL_HINT) from error


def _fill(section: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if section.get(key) is None:
            section[key] = value


def resolve_attributes(settings: Mapping[str, Any]) -> dict[str, Any]:
    attributes = deep_merge(load_defaults(), settings)
    resolve_gitlab_site(attributes)
    if attributes.get("external_url") is not None:
        url = parse_external_url(attributes["external_url"])
        _fill(attributes["gitlab_rails"], url)
        _fill(attributes["nginx"], {"listen_port": url["gitlab_port"],
                                    "listen_https": url["gitlab_https"]})
        _fill(attributes["gitlab_rails"], {"gitlab_email_from": f"gitlab@{url['gitlab_host']}"})
    _registry_from_url(attributes)
    _pages_from_url(attributes)
    resolve_sites(attributes)
    storages = git_data_dirs.storages(settings)
    if storages is not None:
        attributes.setdefault("gitaly", {}).setdefault("configuration", {})["storage"] = storages
    roles_given = bool(attributes.get("roles")) or any(
        isinstance(v, Mapping) and v.get("enable") for k, v in attributes.items()
        if k.endswith("_role"))
    for service in DEFAULT_SERVICES:
        section = attributes.setdefault(service, {})
        if section.get("enable") is None:
            section["enable"] = not roles_given and (
                service not in RAILS_GROUP or bool(attributes["gitlab_rails"]["enable"]))
    if (attributes.get("prometheus_monitoring") or {}).get("enable") is False:
        for service in MONITORING_GROUP:
            attributes.setdefault(service, {})["enable"] = False
    return attributes


def _registry_from_url(attributes: dict[str, Any]) -> None:
    """registry_external_url turns the registry on and tells Rails where it is."""
    registry = attributes.setdefault("registry", {})
    url = attributes.get("registry_external_url")
    if url is None:
        _fill(registry, {"enable": False})
        return
    try:
        parsed = parse_external_url(url)
    except ConfigError as error:
        raise ConfigError("registry_external_url", error.message,
                          hint=url_hint("registry_external_url")) from error
    _fill(registry, {"enable": True})
    port = parsed["gitlab_port"]
    _fill(attributes.setdefault("gitlab_rails", {}), {
        "registry_host": parsed["gitlab_host"],
        "registry_port": None if port in (80, 443) else port,
        "registry_api_url": f"http://{registry.get('registry_http_addr', '127.0.0.1:5000')}"})


def _pages_from_url(attributes: dict[str, Any]) -> None:
    """pages_external_url turns gitlab-pages on unless gitlab_pages['enable'] says otherwise
    (omnibus-gitlab's parse_pages_external_url); it stays off without one."""
    pages = attributes.setdefault("gitlab_pages", {})
    _fill(pages, {"enable": attributes.get("pages_external_url") is not None})
