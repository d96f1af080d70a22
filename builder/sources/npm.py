"""Packages of a yarn v1 lockfile, fetched from the npm registry that npm is configured with.

The registry is never named here: it is npm's own setting (`npm config get registry`, which
already honours `.npmrc` files and `npm_config_registry`), else the environment's
NPM_CONFIG_REGISTRY. A lockfile kept in the tree names no registry either: its `resolved` URLs
start with PLACEHOLDER, and `render_lockfile` puts the configured registry back before yarn
reads it.

Every tarball is checked against the lockfile's integrity (SRI: sha512, or sha1 for old
packages) before it is kept, and is stored under the file name yarn's offline mirror looks
for, so a build can run `yarn install --offline --frozen-lockfile` with no network at all.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from builder.errors import FetchError

PLACEHOLDER = "@@NPM_REGISTRY@@"
ALGORITHMS = ("sha512", "sha384", "sha256", "sha1")  # strongest first, as SRI chooses
# yarn 1's own pattern (src/fetchers/tarball-fetcher.js) for the mirror's file name:
# `/@scope/name/-/name-1.0.0.tgz` is stored as `@scope-name-1.0.0.tgz`.
_MIRROR_NAME = re.compile(
    r"/(?:(@[^/]+)(?:/|%2f))?[^/]+/(?:-|_attachments)/(?:@[^/]+/)?([^/]+)$")
_KEY_LINE = re.compile(r"^(\S.*):$")
_FIELD_LINE = re.compile(r'^  (\S+) "?(.*?)"?$')


@dataclass(frozen=True)
class LockEntry:
    """One package of a yarn v1 lockfile: every range it satisfies, the version they resolved to,
    where it came from and its SRI integrity."""

    name: str
    version: str
    ranges: tuple[str, ...]
    resolved: str | None
    integrity: str

    @property
    def basename(self) -> str:
        """The name without its scope: the tarball is `<basename>-<version>.tgz`."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def mirror_name(self) -> str:
        """The file name yarn's offline mirror stores this package's tarball under."""
        return mirror_file_name(self.name, self.version, self.resolved)


def configured_registry(environ: Mapping[str, str] | None = None) -> str:
    """npm's configured registry, without a trailing slash."""
    environ = os.environ if environ is None else environ
    try:
        result = subprocess.run(["npm", "config", "get", "registry"], capture_output=True,
                                text=True, timeout=60, check=False, env=dict(environ))
        answer = result.stdout.strip() if result.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        answer = ""
    answer = answer or environ.get("NPM_CONFIG_REGISTRY") or environ.get("npm_config_registry", "")
    if not answer.startswith(("http://", "https://")):
        raise FetchError("no npm registry is configured",
                         hint="install npm, or set NPM_CONFIG_REGISTRY to the registry's URL")
    return answer.rstrip("/")


def tarball_url(registry: str, name: str, version: str) -> str:
    """The registry's conventional tarball URL: `<registry>/@scope/pkg/-/pkg-1.0.0.tgz`."""
    basename = name.rsplit("/", 1)[-1]
    return f"{registry.rstrip('/')}/{name}/-/{basename}-{version}.tgz"


def mirror_file_name(name: str, version: str, resolved: str | None = None) -> str:
    """yarn's offline-mirror file name: from the `resolved` URL as yarn derives it, else from
    the registry's conventional tarball URL."""
    url = resolved.split("#", 1)[0] if resolved else tarball_url("", name, version)
    path = urlsplit(url).path if "://" in url else url
    match = _MIRROR_NAME.search(path)
    if match is None:
        return path.rsplit("/", 1)[-1]
    scope, tarball = match.groups()
    return f"{scope}-{tarball}" if scope else tarball


def _package_name(key: str) -> str:
    """`@scope/pkg@^1.0.0` -> `@scope/pkg`; `pkg@npm:other@1` keeps `pkg`."""
    return key[: key.index("@", 1)] if "@" in key[1:] else key


def _split_keys(line: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in line.split(", "))


def _sha1_integrity(resolved: str | None) -> str:
    """An old lockfile's only checksum: the sha1 hex after `#` in the resolved URL, as SRI."""
    fragment = resolved.partition("#")[2] if resolved else ""
    if not re.fullmatch(r"[0-9a-f]{40}", fragment):
        return ""
    return "sha1-" + base64.b64encode(bytes.fromhex(fragment)).decode()


def _real_name(key: str) -> str:
    """The package a key fetches: an alias `name@npm:real@^1` fetches `real`."""
    name = _package_name(key)
    target = key[len(name) + 1:]
    return _package_name(target[4:]) if target.startswith("npm:") else name


def _entry(keys: tuple[str, ...], fields: dict[str, str]) -> LockEntry:
    names = {_real_name(key) for key in keys}
    if len(names) != 1 or "version" not in fields:
        raise FetchError(f"yarn.lock: malformed entry {', '.join(keys)}")
    name = names.pop()
    resolved = fields.get("resolved")
    integrity = fields.get("integrity") or _sha1_integrity(resolved)
    if not integrity:
        raise FetchError(f"yarn.lock: {name}@{fields['version']} has no integrity",
                         hint="regenerate the lockfile with yarn 1.10 or later")
    ranges = tuple(key[len(_package_name(key)) + 1:] for key in keys)
    return LockEntry(name, fields["version"], ranges, resolved, integrity)


def parse_lockfile(text: str) -> list[LockEntry]:
    """The entries of a yarn v1 lockfile, in file order."""
    entries: list[LockEntry] = []
    keys: tuple[str, ...] | None = None
    fields: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if line.startswith("#") or (line.startswith("    ") and keys):
            continue  # comments; the ranges of an entry's dependencies
        if (key := _KEY_LINE.match(line)) and not line.startswith(" "):
            keys, fields = _split_keys(key.group(1)), {}
        elif keys and (field := _FIELD_LINE.match(line)):
            fields[field.group(1)] = field.group(2)
        elif not line.strip() and keys:
            entries.append(_entry(keys, fields))
            keys = None
    return entries


def template_lockfile(text: str, registry: str) -> str:
    """The lockfile as kept in the tree: the registry's prefix of each `resolved` URL becomes
    PLACEHOLDER."""
    prefix = re.escape(registry.rstrip("/") + "/")
    return re.sub(rf'^(  resolved "){prefix}', rf"\g<1>{PLACEHOLDER}/", text, flags=re.M)


def render_lockfile(text: str, registry: str) -> str:
    """The kept lockfile with the configured registry put back for yarn."""
    return text.replace(f'resolved "{PLACEHOLDER}/', f'resolved "{registry.rstrip("/")}/')


def _best_digest(integrity: str) -> tuple[str, str]:
    """(algorithm, base64 digest) of the strongest hash an SRI string offers."""
    offered = dict(part.split("-", 1) for part in integrity.split() if "-" in part)
    for algorithm in ALGORITHMS:
        if algorithm in offered:
            return algorithm, offered[algorithm].split("?", 1)[0]
    raise FetchError(f"unsupported integrity {integrity!r}",
                     hint=f"yarn.lock integrity must use one of {', '.join(ALGORITHMS)}")


def verify_integrity(path: Path, integrity: str) -> None:
    """Raise FetchError unless the file's bytes match the SRI integrity."""
    algorithm, expected = _best_digest(integrity)
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise FetchError(
            f"{path.name}: integrity mismatch\n  expected {algorithm}-{expected}\n"
            f"  actual   {algorithm}-{actual}",
            hint="the download was discarded; the registry served other bytes than the "
            "lockfile pins (tampered, corrupt, or the lockfile was edited by hand)")


def _download(session, url: str, part: Path, timeout: float) -> None:
    import requests

    try:
        with session.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError(
                    f"the npm registry answered {response.status_code} for {url}",
                    hint="check the package name and version in yarn.lock, and that "
                    "`npm config get registry` names a registry that has them")
            with part.open("wb") as out:
                for block in response.iter_content(1 << 16):
                    out.write(block)
    except requests.RequestException as error:
        raise FetchError(f"the npm registry cannot be reached for {url} ({error})") from error


def fetch_tarball(name: str, version: str, integrity: str, dest_dir: Path, registry: str, *,
                  session=None, timeout: float = 60.0, file_name: str | None = None) -> Path:
    """`<registry>/<name>/-/<basename>-<version>.tgz` into dest_dir under yarn's mirror name,
    kept only once its integrity is verified. A file already there that verifies is kept."""
    import requests

    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / (file_name or mirror_file_name(name, version))
    if target.exists():
        try:
            verify_integrity(target, integrity)
            return target
        except FetchError:
            target.unlink()
    handle, part_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=dest_dir)
    os.close(handle)
    part = Path(part_name)
    try:
        _download(session or requests.Session(), tarball_url(registry, name, version), part,
                  timeout)
        verify_integrity(part, integrity)
        part.chmod(0o644)  # mkstemp's 0600 would hide it from a build's unprivileged user
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def fetch_lockfile(entries: Iterable[LockEntry], dest_dir: Path, registry: str, *,
                   timeout: float = 60.0) -> list[Path]:
    """Every entry's tarball into dest_dir, a yarn offline mirror; one HTTP session for all."""
    import requests

    with requests.Session() as session:
        return [fetch_tarball(entry.name, entry.version, entry.integrity, dest_dir, registry,
                              session=session, timeout=timeout, file_name=entry.mirror_name)
                for entry in entries]
