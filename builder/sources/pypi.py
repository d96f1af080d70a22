"""Find a pinned sdist on the Python package index that pip is configured with.

The index is never named here: it is pip's own setting (PIP_INDEX_URL, then `pip config`,
then pip's built-in default). Its PEP 503 "simple" page for a project lists every file with a
`#sha256=` fragment; the file whose digest is the definition's pin is the one fetched, so the
index needs no trust beyond what the checksum gives.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from html.parser import HTMLParser
from urllib.parse import urljoin

from builder.errors import FetchError


def normalise(project: str) -> str:
    """PEP 503 name normalisation: runs of -, _ and . become one -, lower case."""
    return re.sub(r"[-_.]+", "-", project).lower()


@cache
def _pip_configured_index() -> str:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        result = None
    if result is not None and result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip()
    try:  # pip's built-in default, from pip itself rather than written out here
        from pip._internal.models.index import PyPI
    except ImportError as error:
        raise FetchError("pip is not installed, so no package index is configured") from error
    return PyPI.simple_url


def index_url(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return (environ.get("PIP_INDEX_URL") or _pip_configured_index()).rstrip("/") + "/"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.hrefs.append(href)


def find_file(page_url: str, page: str, sha256: str) -> tuple[str, str]:
    """(download URL, file name) of the link on a simple page whose sha256 fragment is `sha256`."""
    links = _Links()
    links.feed(page)
    for href in links.hrefs:
        location, _, fragment = href.partition("#")
        if fragment.lower() == f"sha256={sha256}":
            return urljoin(page_url, location), location.rsplit("/", 1)[-1]
    raise FetchError(f"the package index lists no file with sha256 {sha256}")


def locate(session, project: str, sha256: str, timeout: float,
           environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The download URL and file name of `project`'s file with this sha256 on the index."""
    import requests

    page_url = f"{index_url(environ)}{normalise(project)}/"
    try:
        response = session.get(page_url, timeout=timeout)
    except requests.RequestException as error:
        raise FetchError(f"the package index cannot be reached ({error})") from error
    if response.status_code != 200:
        raise FetchError(f"the package index answered {response.status_code} for {project}")
    return find_file(page_url, response.text, sha256)
