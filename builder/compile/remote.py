"""A remote artifact cache over plain HTTP: HEAD to ask, GET to fetch, PUT to share.

Any server that stores what is PUT and serves it back (nginx with WebDAV's PUT, an object
store behind a presigning proxy, ...) lets CI jobs on many machines share artifacts. The
artifact goes up first and its sidecar last, as locally: a reader that finds the sidecar
finds the whole artifact. Remote failures never fail a build: the artifact is built instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from builder.compile.cache import ArtifactCache
from builder.digests import write_atomic

TIMEOUT = (5, 120)


@dataclass(frozen=True)
class RemoteCache:
    url: str  # e.g. http://cache.example.test/omnibus

    def _address(self, name: str) -> str:
        return f"{self.url.rstrip('/')}/{name}"

    def has(self, key: str) -> bool:
        import requests

        try:
            response = requests.head(self._address(f"{key}.json"), timeout=TIMEOUT)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def download(self, key: str, cache: ArtifactCache) -> bool:
        """Copy the artifact into the local cache; False when the remote does not have it."""
        import requests

        try:
            sidecar = requests.get(self._address(f"{key}.json"), timeout=TIMEOUT)
            if sidecar.status_code != 200:
                return False
            target = cache.artifact_path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            with requests.get(self._address(f"{key}.tar.zst"), timeout=TIMEOUT,
                              stream=True) as response:
                if response.status_code != 200:
                    return False
                with partial.open("wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        out.write(chunk)
            os.replace(partial, target)
        except (requests.RequestException, OSError):
            return False
        write_atomic(cache.sidecar_path(key), sidecar.content)
        return True

    def upload(self, key: str, cache: ArtifactCache) -> str | None:
        """Share a local artifact; returns why not, or None."""
        import requests

        try:
            for path in (cache.artifact_path(key), cache.sidecar_path(key)):
                with Path(path).open("rb") as data:
                    response = requests.put(self._address(path.name), data=data,
                                            timeout=TIMEOUT)
                if response.status_code not in (200, 201, 204):
                    return f"PUT {path.name}: HTTP {response.status_code}"
        except (requests.RequestException, OSError) as error:
            return str(error)
        return None
