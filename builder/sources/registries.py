"""Where package archives are served from, as this machine's own tools are configured.

No host name is written here: the Debian mirror is the one apt uses (its deb822 `.sources`
files and one-line `sources.list` entries), the npm registry the one npm uses. Each may be
overridden by the environment: OMNIBUS_DEBIAN_MIRRORS (URLs, space-separated) and
NPM_CONFIG_REGISTRY (npm's own variable).
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

from builder.errors import FetchError
from builder.sources.deb_src import configured_entries

APT_SOURCES = Path("/etc/apt")


def apt_mirrors(apt_dir: Path = APT_SOURCES) -> list[str]:
    """The http(s) URIs of apt's enabled `deb` entries (deb822 files first), each once."""
    found = [uri for entry in configured_entries(apt_dir) if "deb" in entry.types
             for uri in entry.uris if uri.startswith(("http://", "https://"))]
    return list(dict.fromkeys(found))


@cache
def debian_mirrors() -> tuple[str, ...]:
    override = os.environ.get("OMNIBUS_DEBIAN_MIRRORS", "").split()
    mirrors = override or apt_mirrors()
    if not mirrors:
        raise FetchError("no Debian mirror is configured",
                         hint="add a deb entry to apt's sources, or set OMNIBUS_DEBIAN_MIRRORS")
    return tuple(mirrors)


@cache
def npm_registry() -> str:
    """NPM_CONFIG_REGISTRY, else `npm config get registry` (npm's setting or built-in default)."""
    override = os.environ.get("NPM_CONFIG_REGISTRY")
    if override:
        return override
    try:
        result = subprocess.run(["npm", "config", "get", "registry"], capture_output=True,
                                text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError("cannot ask npm which registry it uses",
                         hint="install npm (apt-get install npm) or set NPM_CONFIG_REGISTRY"
                         ) from error
    registry = result.stdout.strip()
    if result.returncode != 0 or not registry.startswith(("http://", "https://")):
        raise FetchError("npm names no registry", hint="set NPM_CONFIG_REGISTRY")
    return registry
