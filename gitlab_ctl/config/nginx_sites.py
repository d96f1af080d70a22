"""The nginx sites gitlab.rb describes, in both of omnibus-gitlab's key styles.

GitLab's own site is configured with nginx['...'] or, since omnibus-gitlab moved each site's
settings next to its service, gitlab_rails['nginx']['...']; the registry's with
registry_nginx['...'] or registry['nginx']['...'], Pages' with pages_nginx or
gitlab_pages['nginx'], KAS' with gitlab_kas_nginx or gitlab_kas['nginx']. Mattermost never had
the newer form. As upstream (Nginx.translate_service_nginx_settings and
GitlabRails.translate_rails_nginx_settings), a key set in the newer form wins; here setting
both forms of one key also warns. After resolve_sites, each site's settings are all in its
older section (nginx, registry_nginx, ...): templates read only those."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitlab_ctl.config.external_url import UrlError, parse_url, url_hint
from gitlab_ctl.config.gitlabrb_limits import excerpt
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import Schema

Lines = Mapping[tuple[str, ...], str]


@dataclass(frozen=True)
class Site:
    name: str  # the server block's file: service_conf/gitlab-<name>.conf
    section: str  # the older key style, where the resolved settings live
    newer: str | None  # the section whose 'nginx' hash is the newer key style
    url: str | None  # the top-level URL setting that turns the site on


GITLAB = Site("rails", "nginx", "gitlab_rails", "external_url")
#: The sites besides GitLab's, in the order their files are written.
SITES = (
    Site("registry", "registry_nginx", "registry", "registry_external_url"),
    Site("pages", "pages_nginx", "gitlab_pages", "pages_external_url"),
    Site("kas", "gitlab_kas_nginx", "gitlab_kas", "gitlab_kas_external_url"),
    Site("mattermost", "mattermost_nginx", None, "mattermost_external_url"),
)


def newer_values(settings: Mapping[str, Any], site: Site) -> Mapping[str, Any] | None:
    """`<newer>['nginx']` as gitlab.rb set it (None when unset or not a hash)."""
    section = settings.get(site.newer) if site.newer else None
    values = section.get("nginx") if isinstance(section, Mapping) else None
    return values if isinstance(values, Mapping) else None


def newer_name(site: Site, key: str) -> str:
    return f"{site.newer}['nginx']['{key}']"


def _overlay(attributes: dict[str, Any], site: Site) -> None:
    """The newer style's keys over the older section: a hash merges, other values replace."""
    values = newer_values(attributes, site)
    if not values:
        return
    target = attributes.setdefault(site.section, {})
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            target[key] = {**target[key], **copy.deepcopy(dict(value))}
        else:
            target[key] = copy.deepcopy(value)


def _fill(section: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if section.get(key) is None:
            section[key] = value


def _site_from_url(attributes: dict[str, Any], site: Site) -> None:
    """What a site's URL implies for whatever gitlab.rb left unset; a site whose URL is
    unset is off."""
    section = attributes.setdefault(site.section, {})
    url = attributes.get(site.url) if site.url else None
    if url is None:
        section["enable"] = False
        return
    try:
        parsed = parse_url(url, site.url or "")
    except UrlError as error:
        raise ConfigError(str(site.url), f"{site.url}: {error.message}",
                          hint=url_hint(str(site.url))) from error
    if parsed["gitlab_relative_url"]:
        raise ConfigError(str(site.url), f"{site.url}: Unsupported external URL path: "
                          f"{excerpt(parsed['gitlab_relative_url'])}",
                          hint=f"{site.url} takes a host (and port) only, without a path")
    host, https = parsed["gitlab_host"], parsed["gitlab_https"]
    _fill(section, {"enable": True, "fqdn": host, "listen_port": parsed["gitlab_port"],
                    "listen_https": https})
    if section["listen_https"]:  # omnibus-gitlab's certificate paths, named by the host
        _fill(section, {"ssl_certificate": f"/etc/gitlab/ssl/{host}.crt",
                        "ssl_certificate_key": f"/etc/gitlab/ssl/{host}.key"})
    headers = dict(section.get("proxy_set_headers") or {})
    if site.name != "kas":  # KAS passes the client's scheme on as it is ($scheme)
        if headers.get("X-Forwarded-Proto", "$scheme") == "$scheme":  # unless gitlab.rb's
            headers["X-Forwarded-Proto"] = "https" if https else "http"
        if https:
            headers.setdefault("X-Forwarded-Ssl", "on")
    if section.get("proxy_protocol"):  # the client's address is the PROXY header's
        headers.update({"X-Real-IP": "$proxy_protocol_addr",
                        "X-Forwarded-For": "$proxy_protocol_addr"})
        _fill(section, {"real_ip_header": "proxy_protocol"})
    section["proxy_set_headers"] = headers


def resolve_gitlab_site(attributes: dict[str, Any]) -> None:
    """gitlab_rails['nginx'] over nginx: before external_url fills what neither set."""
    _overlay(attributes, GITLAB)


def resolve_sites(attributes: dict[str, Any]) -> None:
    for site in SITES:
        _overlay(attributes, site)
        _site_from_url(attributes, site)


def check_newer_styles(settings: Mapping[str, Any], schema: Schema, lines: Lines,
                       source: str) -> list[str]:
    """Each newer-style key against its older twin's declaration: a wrong value is refused
    (ConfigError naming the newer key), a key nothing reads warns, and a key set in both
    styles warns naming both."""
    warnings = []
    for site in (GITLAB, *SITES):
        values = newer_values(settings, site)
        older = settings.get(site.section)
        for key, value in (values or {}).items():
            where = lines.get((str(site.newer), "nginx", str(key))) or lines.get(
                (str(site.newer), "nginx")) or source
            setting = schema.get(site.section, str(key))
            if setting is None or not setting.used:
                warnings.append(f"{where}: {newer_name(site, excerpt(str(key)))} is not used "
                                "by this gitlab-ctl")
                continue
            problem = setting.problem(value)
            if problem:
                message = problem[0].replace(setting.name, newer_name(site, str(key)), 1)
                raise ConfigError(where, message, problem[1])
            if isinstance(older, Mapping) and older.get(key) is not None and value is not None:
                warnings.append(
                    f"{where}: {newer_name(site, str(key))} and {setting.name} are both set: "
                    f"{newer_name(site, str(key))} wins ({setting.name} is the older form; "
                    "remove it)")
    return warnings
