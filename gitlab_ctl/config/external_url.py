"""external_url and registry_external_url as omnibus-gitlab reads them: scheme, host, port
and relative URL, or an error saying what is wrong with the value."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gitlab_ctl.config.gitlabrb_limits import excerpt
from gitlab_ctl.errors import GitlabCtlError


class UrlError(GitlabCtlError, ValueError):
    """An external URL that cannot be used; the caller names the setting and its line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__("", message)


def parse_url(url: Any) -> dict[str, Any]:
    """Host, port, https and relative URL of an http(s) URL; UrlError otherwise."""
    if url is None or url == "":
        raise UrlError("is not set")
    if not isinstance(url, str):
        raise UrlError(f"must be a URL in quotes, not {type(url).__name__} {excerpt(repr(url))}")
    try:  # urlsplit and .port raise ValueError, e.g. for 'http://[::1' or ':http'
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlError(f"'{excerpt(url)}' is not a valid URL ({error})") from None
    if parts.scheme and parts.hostname and parts.scheme not in ("http", "https"):
        raise UrlError(f"Unsupported external URL scheme: {excerpt(parts.scheme)}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlError(f"'{excerpt(url)}': GitLab external URL must include a schema and FQDN")
    https = parts.scheme == "https"
    relative = parts.path.rstrip("/")
    return {"gitlab_host": parts.hostname, "gitlab_port": port or (443 if https else 80),
            "gitlab_https": https, "gitlab_relative_url": relative or None}


def url_hint(name: str) -> str:
    host = "registry.example.com" if name.startswith("registry") else "gitlab.example.com"
    return f"e.g. {name} 'https://{host}'"
