"""The settings reconfigure works from: defaults, then gitlab.rb, then what external_url
implies for whatever neither set, then which services run."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from gitlab_ctl.config import git_data_dirs, letsencrypt
from gitlab_ctl.config.external_url import UrlError, parse_url, url_hint
from gitlab_ctl.config.nginx_sites import resolve_gitlab_site, resolve_sites
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.roles import apply_roles
from gitlab_ctl.config.schema import load_schema

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
    # an external URL turns its service on (as gitlab.rb would); the roles decide the rest
    for service, url_key in (("gitlab_pages", "pages_external_url"),
                             ("gitlab_kas", "gitlab_kas_external_url")):
        if attributes.get(url_key) is not None:
            _fill(attributes.setdefault(service, {}), {"enable": True})
    apply_roles(attributes, settings)
    _kas_urls(attributes)
    _mailroom_from_email(attributes)
    resolve_sites(attributes)
    storages = git_data_dirs.storages(settings)
    if storages is not None:
        attributes.setdefault("gitaly", {}).setdefault("configuration", {})["storage"] = storages
    letsencrypt.resolve(attributes, settings)  # after nginx's enable (roles) is known
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


def _mailroom_from_email(attributes: dict[str, Any]) -> None:
    """An enabled incoming email or Service Desk mailbox turns mail_room on unless
    mailroom['enable'] says otherwise (omnibus-gitlab's IncomingEmail.parse_variables)."""
    rails = attributes.get("gitlab_rails") or {}
    _fill(attributes.setdefault("mailroom", {}), {"enable": any(
        bool(rails.get(f"{mailbox}_enabled")) for mailbox in ("incoming_email",
                                                              "service_desk_email"))})


#: gitlab.yml's gitlab_kas.internal_url scheme for gitlab_kas['internal_api_listen_network']
KAS_INTERNAL_SCHEMES = {"tcp": "grpc", "tcp4": "grpc", "tcp6": "grpc", "unix": "unix"}


def _kas_urls(attributes: dict[str, Any]) -> None:
    """KAS' switch and the URLs Rails and KAS get, as omnibus-gitlab's GitlabKas library
    derives them (whether it runs is the roles' say, or its external URL's); its external
    URL defaults to <external_url>/-/kubernetes-agent/ (ws:// or wss://), its internal one
    to its API's listen address. gitlab.rb's gitlab_rails['gitlab_kas_*'] win."""
    kas = attributes.setdefault("gitlab_kas", {})
    kas_url = attributes.get("gitlab_kas_external_url")
    rails = attributes.setdefault("gitlab_rails", {})
    _fill(rails, {"gitlab_kas_enabled": kas["enable"]})
    external = attributes.get("external_url")
    gitlab = parse_external_url(external) if external is not None else None
    if gitlab:
        scheme = "https" if gitlab["gitlab_https"] else "http"
        _fill(kas, {"gitlab_address": str(external),
                    "gitlab_external_url": f"{scheme}://{gitlab['gitlab_host']}"})
    if not kas["enable"]:
        return
    if gitlab:
        _fill(rails, _kas_external_urls(kas, str(external), gitlab, kas_url))
    network = kas.get("internal_api_listen_network") or "tcp"
    if network not in KAS_INTERNAL_SCHEMES:
        raise ConfigError("gitlab_kas", "gitlab_kas['internal_api_listen_network'] should be "
                          f"'tcp', 'tcp4', 'tcp6' or 'unix' got '{network}'",
                          hint="set it to tcp (grpc://) or unix (unix://)")
    _fill(rails, {"gitlab_kas_internal_url": f"{KAS_INTERNAL_SCHEMES[network]}://"
                                             f"{kas.get('internal_api_listen_address')}"})


def _kas_external_urls(kas: Mapping[str, Any], external: str, gitlab: Mapping[str, Any],
                       kas_url: Any) -> dict[str, str]:
    """gitlab.yml's gitlab_kas external_url and external_k8s_proxy_url: under GitLab's own
    URL when KAS shares its host, else KAS' own (sub)domain, which must be ws:// or wss://."""
    websocket = kas.get("listen_websocket", True)
    if kas_url is None:
        scheme = ("wss" if websocket else "grpcs") if gitlab["gitlab_https"] else (
            "ws" if websocket else "grpc")
        default_port = 443 if gitlab["gitlab_https"] else 80
        port = "" if gitlab["gitlab_port"] == default_port else f":{gitlab['gitlab_port']}"
        kas_url = (f"{scheme}://{gitlab['gitlab_host']}{port}"
                   f"{gitlab['gitlab_relative_url'] or ''}/-/kubernetes-agent/")
    own = urlsplit(str(kas_url))
    if own.hostname == gitlab["gitlab_host"]:
        return {"gitlab_kas_external_url": str(kas_url),
                "gitlab_kas_external_k8s_proxy_url":
                f"{external.rstrip('/')}/-/kubernetes-agent/k8s-proxy/"}
    if own.scheme not in ("ws", "wss"):
        raise ConfigError("gitlab_kas_external_url", "gitlab_kas_external_url scheme must be "
                          "'ws' or 'wss'", hint="e.g. wss://kas.gitlab.example.com/")
    if not websocket:
        raise ConfigError("gitlab_kas", "gitlab_kas['listen_websocket'] must be set to `true`",
                          hint="KAS on its own domain is reached over WebSocket only")
    proxy_scheme = "https" if own.scheme == "wss" else "http"
    return {"gitlab_kas_external_url": str(kas_url),
            "gitlab_kas_external_k8s_proxy_url": f"{proxy_scheme}://{own.hostname}/k8s-proxy/"}
