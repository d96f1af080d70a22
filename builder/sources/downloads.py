"""The download cache, keyed by checksum, and resumable HTTP downloads into it.

Layout under `<cache>/downloads/`:
  sha256/<digest>/<filename>    verified files; shared by every project, platform and arch
  partial/<digest>-<url-id>.part  interrupted downloads, resumed with a Range request

A file enters the cache only after its checksum matched, through an atomic rename, so a
file found there is trusted; anything that does not match is deleted at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import UrlSource
from builder.errors import ChecksumMismatch, FetchError

Progress = Callable[[int, int | None], None]
CHUNK = 1 << 16  # what a dropped connection loses of a partial download, at most


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # "sha256" or "sha512"
    digest: str

    @classmethod
    def of(cls, source: UrlSource) -> Checksum:
        if source.sha512:
            return cls("sha512", source.sha512)
        return cls("sha256", str(source.sha256))

    def compute(self, path: Path) -> str:
        digest = hashlib.new(self.algorithm)
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        return digest.hexdigest()


@dataclass(frozen=True)
class DownloadCache:
    root: Path

    def entry_dir(self, checksum: Checksum) -> Path:
        return self.root / checksum.algorithm / checksum.digest

    def lookup(self, checksum: Checksum) -> Path | None:
        directory = self.entry_dir(checksum)
        files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        return files[0] if files else None

    def partial_path(self, checksum: Checksum, origin: str) -> Path:
        origin_id = hashlib.sha256(origin.encode()).hexdigest()[:12]
        return self.root / "partial" / f"{checksum.digest[:32]}-{origin_id}.part"

    def store(self, checksum: Checksum, filename: str, candidate: Path, software: str,
              what: str) -> Path:
        """Verify `candidate` and move it into the cache; delete it if it does not match."""
        actual = checksum.compute(candidate)
        if actual != checksum.digest:
            candidate.unlink(missing_ok=True)
            raise ChecksumMismatch(software, what, checksum.algorithm, checksum.digest, actual)
        target = self.entry_dir(checksum) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(candidate, target)
        for leftover in (self.root / "partial").glob(f"{checksum.digest[:32]}-*"):
            leftover.unlink(missing_ok=True)
        return target


class PermanentHttpError(FetchError):
    """The server answered, and the answer will not change on a retry (e.g. 404)."""


def _transient(error: Exception) -> bool:
    import requests

    if isinstance(error, requests.exceptions.ConnectionError):
        # A name that does not resolve will not resolve a second later either.
        return "NameResolutionError" not in str(error) and "Name or service" not in str(error)
    return isinstance(error, requests.exceptions.Timeout | requests.exceptions.ChunkedEncodingError
                      | TransientHttpError)


class TransientHttpError(FetchError):
    """A 5xx or 429 answer, worth another try after a pause."""


def _receive(response, partial: Path, offset: int, progress: Progress | None) -> None:
    resumed = response.status_code == 206 and offset > 0
    if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
        resumed = False  # the server answered a different range: start over
    length = response.headers.get("Content-Length")
    total = int(length) + (offset if resumed else 0) if length and length.isdigit() else None
    done = offset if resumed else 0
    with partial.open("ab" if resumed else "wb") as out:
        for chunk in response.iter_content(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    if total is not None and done < total:
        import requests

        raise requests.exceptions.ChunkedEncodingError(f"connection closed at {done}/{total} bytes")


def _request_once(session, url: str, partial: Path, timeout: float,
                  progress: Progress | None) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, stream=True, timeout=(10, timeout), headers=headers) as response:
        if response.status_code == 416:  # the partial file is not a prefix we can extend
            partial.unlink(missing_ok=True)
            raise TransientHttpError("range not satisfiable; restarting")
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientHttpError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentHttpError(f"HTTP {response.status_code} {response.reason}")
        _receive(response, partial, offset, progress)


def http_download(session, url: str, partial: Path, *, attempts: int = 3,
                  timeout: float = 30.0, progress: Progress | None = None) -> None:
    """Download `url` into `partial`, resuming what an earlier try left, with backoff."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        try:
            _request_once(session, url, partial, timeout, progress)
            return
        except PermanentHttpError:
            raise
        except Exception as error:
            if not _transient(error) or attempt == attempts - 1:
                raise FetchError(_short_reason(error)) from error
            time.sleep(0.5 * 2**attempt)


def _short_reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "NameResolutionError", "timed out",
                   "Connection reset", "connection closed"):
        if marker in text:
            return {"NameResolutionError": "host name does not resolve"}.get(marker, marker)
    return text.splitlines()[0][:200] if text else type(error).__name__


def copy_into(source: Path, partial: Path) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, partial)
