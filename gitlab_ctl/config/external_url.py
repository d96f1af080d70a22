"""external_url and the other sites' URLs (registry, Pages, KAS, Mattermost) as omnibus-gitlab
reads them: scheme, host, port and relative URL, or an error saying what is wrong."""

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


#: The schemes each URL setting takes, plain then TLS (KAS is reached over websockets).
SCHEMES: dict[str, tuple[str, str]] = {"gitlab_kas_external_url": ("ws", "wss")}
#: The example each URL setting's hint shows.
EXAMPLES = {"registry_external_url": "https://registry.gitlab.example.test",
            "pages_external_url": "https://pages.gitlab.example.test",
            "gitlab_kas_external_url": "wss://kas.gitlab.example.test",
            "mattermost_external_url": "https://mattermost.gitlab.example.test"}


def parse_url(url: Any, name: str = "external_url") -> dict[str, Any]:
    """Host, port, https and relative URL of a URL in one of `name`'s schemes (http and
    https, or ws and wss for KAS); UrlError otherwise."""
    if url is None or url == "":
        raise UrlError("is not set")
    if not isinstance(url, str):
        raise UrlError(f"must be a URL in quotes, not {type(url).__name__} {excerpt(repr(url))}")
    try:  # urlsplit and .port raise ValueError, e.g. for 'http://[::1' or ':http'
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlError(f"'{excerpt(url)}' is not a valid URL ({error})") from None
    plain, tls = SCHEMES.get(name, ("http", "https"))
    if parts.scheme and parts.hostname and parts.scheme not in (plain, tls):
        raise UrlError(f"Unsupported external URL scheme: {excerpt(parts.scheme)} "
                       f"({plain} or {tls})")
    if parts.scheme not in (plain, tls) or not parts.hostname:
        raise UrlError(f"'{excerpt(url)}': GitLab external URL must include a schema and FQDN")
    https = parts.scheme == tls
    relative = parts.path.rstrip("/")
    return {"gitlab_host": parts.hostname, "gitlab_port": port or (443 if https else 80),
            "gitlab_https": https, "gitlab_relative_url": relative or None}


def url_hint(name: str) -> str:
    return f"e.g. {name} '{EXAMPLES.get(name, 'https://gitlab.example.com')}'"
