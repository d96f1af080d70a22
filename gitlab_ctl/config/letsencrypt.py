"""What letsencrypt['...'] implies for the other settings, as omnibus-gitlab's LetsEncrypt
and LetsEncryptHelper libraries and its letsencrypt::enable recipe decide it.

`enable` left unset (nil) turns on for an https external_url served by nginx when the
certificate files are missing, when an earlier run turned it on by itself (remembered in
gitlab-secrets.json as letsencrypt.auto_enabled, as omnibus-gitlab does), or when the
certificate there is an expired Let's Encrypt one. Turned on, it makes nginx redirect http
to https (unless gitlab.rb says otherwise), covers the external_url's host and the https
sites (registry, Pages with namespace_in_path, KAS) that have no certificate of their own,
and with auto_renew turns crond on. Turned off with neither file present, an https
external_url is refused before anything changes."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.paths import Layout

#: the issuer omnibus-gitlab recognises as Let's Encrypt's (an expired one is renewed)
LETSENCRYPT_ISSUER = re.compile(r"O ?= ?Let's Encrypt, CN ?= ?Let's Encrypt Authority X[1-4]")
#: sites whose host joins the certificate, and the condition omnibus-gitlab adds it under
ALT_NAME_SITES = (("registry_nginx", "registry", "registry_external_url"),
                  ("pages_nginx", "gitlab_pages", "pages_external_url"),
                  ("gitlab_kas_nginx", "gitlab_kas", "gitlab_kas_external_url"))


def certificate_paths(attributes: Mapping[str, Any]) -> tuple[str, str]:
    """GitLab's certificate and key: nginx['ssl_certificate'...] or /etc/gitlab/ssl/<host>."""
    nginx, host = attributes.get("nginx") or {}, attributes["gitlab_rails"].get("gitlab_host")
    return (nginx.get("ssl_certificate") or f"/etc/gitlab/ssl/{host}.crt",
            nginx.get("ssl_certificate_key") or f"/etc/gitlab/ssl/{host}.key")


def stored_auto_enabled(layout: Layout | None = None) -> bool:
    """letsencrypt.auto_enabled of gitlab-secrets.json (absent or unreadable: False)."""
    path = (layout or Layout.from_environ()).secrets_file
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    section = stored.get("letsencrypt") if isinstance(stored, dict) else None
    return isinstance(section, dict) and section.get("auto_enabled") is True


def expired_letsencrypt_certificate(path: str, now: float | None = None) -> bool:
    """An expired certificate from Let's Encrypt (omnibus-gitlab's needs_renewal?)."""
    if not Path(path).is_file():
        return False
    try:
        result = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-issuer", "-enddate"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        expires = time.mktime(time.strptime(fields.get("notAfter", ""), "%b %d %H:%M:%S %Y %Z"))
    except ValueError:
        return False
    expired = expires < (time.time() if now is None else now)
    return bool(LETSENCRYPT_ISSUER.search(fields.get("issuer", ""))) and expired


def https_by_nginx(attributes: Mapping[str, Any]) -> bool:
    """An https external_url that this node's nginx serves over TLS."""
    rails, nginx = attributes["gitlab_rails"], attributes.get("nginx") or {}
    return bool(rails.get("gitlab_https")) and nginx.get("enable") is not False \
        and nginx.get("listen_https") is not False


def should_auto_enable(attributes: Mapping[str, Any], auto_enabled: bool,
                       now: float | None = None) -> bool:
    if not https_by_nginx(attributes):
        return False
    crt, key = certificate_paths(attributes)
    present = Path(crt).exists() or Path(key).exists()
    return auto_enabled or not present or expired_letsencrypt_certificate(crt, now)


def _user_set(settings: Mapping[str, Any], section: str, newer: str | None, key: str) -> bool:
    newer_nginx = ((settings.get(newer) or {}).get("nginx") or {}) if newer else {}
    return key in (settings.get(section) or {}) or key in newer_nginx


def _cover_sites(attributes: dict[str, Any], settings: Mapping[str, Any], host: str,
                 alt_names: list[str]) -> None:
    """LetsEncryptHelper.add_service_alt_name for each https site without a certificate."""
    crt, key = f"/etc/gitlab/ssl/{host}.crt", f"/etc/gitlab/ssl/{host}.key"
    for section, service, url_key in ALT_NAME_SITES:
        site = attributes.get(section) or {}
        if not site.get("enable") or not site.get("listen_https") or not attributes.get(url_key):
            continue
        if service == "gitlab_pages" and not attributes[service].get("namespace_in_path"):
            continue
        if Path(str(site.get("ssl_certificate"))).exists():
            continue
        alt_names.append(site["fqdn"])
        site.update({"ssl_certificate": crt, "ssl_certificate_key": key})
        if not _user_set(settings, section, service, "redirect_http_to_https"):
            site["redirect_http_to_https"] = True


def resolve(attributes: dict[str, Any], settings: Mapping[str, Any],
            auto_enabled: bool | None = None) -> None:
    """Fill letsencrypt['enable'] and what it implies (see the module's docstring)."""
    letsencrypt = attributes.setdefault("letsencrypt", {})
    host = attributes["gitlab_rails"].get("gitlab_host")
    if letsencrypt.get("enable") is None:
        # gitlab-secrets.json is read only where it can matter: an https URL nginx serves
        served = bool(host) and https_by_nginx(attributes)
        remembered = served and (stored_auto_enabled() if auto_enabled is None
                                 else auto_enabled)
        letsencrypt["enable"] = served and should_auto_enable(attributes, remembered)
        letsencrypt["auto_enabled"] = letsencrypt["enable"]
    if not letsencrypt["enable"] or not host or (attributes.get("nginx") or {}).get(
            "enable") is False:
        return
    alt_names = [host, *[name for name in letsencrypt.get("alt_names") or [] if name != host]]
    _cover_sites(attributes, settings, host, alt_names)
    letsencrypt["alt_names"] = list(dict.fromkeys(alt_names))
    crt, key = certificate_paths(attributes)
    attributes["nginx"].update({"ssl_certificate": crt, "ssl_certificate_key": key})
    if not _user_set(settings, "nginx", "gitlab_rails", "redirect_http_to_https"):
        attributes["nginx"]["redirect_http_to_https"] = True
    if letsencrypt.get("auto_renew"):
        attributes.setdefault("crond", {})["enable"] = True


def refuse_missing_certificate(attributes: Mapping[str, Any], where: str) -> None:
    """letsencrypt['enable'] = false, an https external_url and neither file: nginx could
    not start, so refuse before anything changes, naming the files to provide."""
    if (attributes.get("letsencrypt") or {}).get("enable") is not False \
            or not https_by_nginx(attributes):
        return
    crt, key = certificate_paths(attributes)
    missing = [path for path in (crt, key) if not Path(path).exists()]
    if missing:
        raise ConfigError(
            where,
            f"letsencrypt['enable'] = false, but the https external_url "
            f"{attributes.get('external_url')} has no certificate: {' and '.join(missing)} "
            f"{'does' if len(missing) == 1 else 'do'} not exist",
            hint=f"put the certificate at {crt} and its key at {key} (or point "
                 "nginx['ssl_certificate'] and nginx['ssl_certificate_key'] at yours), or "
                 "remove letsencrypt['enable'] = false to get one from Let's Encrypt")


def warnings(attributes: Mapping[str, Any]) -> list[str]:
    """letsencrypt::enable's warning: turned on for an http external_url."""
    enabled = (attributes.get("letsencrypt") or {}).get("enable") is True
    if enabled and attributes.get("external_url") and not attributes["gitlab_rails"].get(
            "gitlab_https"):
        return ["Let's Encrypt is enabled, but external_url is using http"]
    return []
