"""The Debian source mirror: fetch a source tarball of a Debian source package through apt.

apt downloads from whatever mirror it is configured with and checks every file against the
signed Sources index, so this needs no host name of its own. It needs `deb-src` entries in
apt's sources (`omnibus setup-deb-src`) and an `apt-get update`.

The wanted file is found by its sha256 in the Sources index, not by a pinned Debian
revision: Debian replaces `-1+deb12u3` by `-1+deb12u4` without changing the upstream tarball,
and mirrors may list a revision whose files they do not serve, so every revision that
carries the file is a candidate, tried in turn.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import DebianOrig
from builder.errors import FetchError

DEB_SRC_HINT = (
    "run `omnibus setup-deb-src --also trixie` (as root) so apt knows Debian's source "
    "packages; ./dev does this"
)


@dataclass(frozen=True)
class SourceVersion:
    version: str
    files: dict[str, str]  # file name -> sha256, from the index's Checksums-Sha256


def parse_showsrc(text: str) -> list[SourceVersion]:
    """The versions and files of `apt-cache showsrc` output (one stanza per version)."""
    versions = []
    for stanza in text.split("\n\n"):
        version, files, in_sums = "", {}, False
        for line in stanza.splitlines():
            if line.startswith("Version:"):
                version = line.split(":", 1)[1].strip()
            elif line.startswith("Checksums-Sha256:"):
                in_sums = True
            elif in_sums and line.startswith(" "):
                digest, _size, name = line.split()
                files[name] = digest
            else:
                in_sums = False
        if version and files:
            versions.append(SourceVersion(version, files))
    return versions


def candidates(orig: DebianOrig, sha256: str | None,
               versions: list[SourceVersion]) -> list[tuple[str, str]]:
    """(Debian version, file name) pairs that carry the wanted tarball, best first."""
    found: dict[tuple[str, str], None] = {}
    for entry in versions:
        for name, digest in entry.files.items():
            tarball = ".tar." in name and not name.endswith(".asc") and ".debian.tar." not in name
            if tarball and (digest == sha256 if sha256 else entry.version == orig.version):
                found[(entry.version, name)] = None
    ordered = sorted(found, key=lambda pair: pair[0] != orig.version)  # the pinned one first
    return ordered


def _showsrc(package: str) -> str:
    result = subprocess.run(["apt-cache", "showsrc", "--only-source", package],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not result.stdout.strip():
        raise FetchError(f"apt knows no source package '{package}'", hint=DEB_SRC_HINT)
    return result.stdout


def _download(package: str, version: str, name: str, into: Path, timeout: float) -> str:
    """Fetch one version's files into a scratch dir; move `name` to `into`. '' or a reason."""
    with tempfile.TemporaryDirectory(dir=into.parent, prefix="apt-source-") as workdir:
        command = ["apt-get", "source", "--download-only", "-q", f"{package}={version}"]
        try:
            result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                                    timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"apt-get source timed out after {timeout:.0f} s"
        # apt fails the whole command when any file of the version is missing (a mirror
        # may lack a .dsc); the tarball alone is what we need, checked by our caller.
        if (Path(workdir) / name).is_file():
            shutil.move(Path(workdir) / name, into)
            return ""
        errors = [line.removeprefix("E: ") for line in (result.stdout + result.stderr)
                  .splitlines() if line.startswith("E:") and name in line]
        return errors[0] if errors else f"apt-get source did not deliver {name}"


def fetch_orig(orig: DebianOrig, sha256: str | None, into: Path, timeout: float = 900) -> Path:
    """Download the tarball of `orig` whose sha256 is `sha256` to `into` (a partial path)."""
    if shutil.which("apt-get") is None:
        raise FetchError("apt-get is not installed", hint="the debian mirror needs apt")
    into.parent.mkdir(parents=True, exist_ok=True)
    found = candidates(orig, sha256, parse_showsrc(_showsrc(orig.package)))
    if not found:
        wanted = f"sha256 {sha256}" if sha256 else f"version {orig.version}"
        raise FetchError(f"no version of Debian source package {orig.package} has a tarball "
                         f"with {wanted}")
    reasons = []
    for version, name in found:
        reason = _download(orig.package, version, name, into, timeout)
        if not reason:
            return into
        reasons.append(f"{orig.package}={version}: {reason}")
    raise FetchError("; ".join(reasons))
