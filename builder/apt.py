"""The Debian source mirror: fetch a source package's .orig tarball through apt.

apt downloads from whatever mirror it is configured with and checks the files against the
signed Sources index, so this needs no host name of its own. It needs `deb-src` entries in
apt's sources and a prior `apt-get update`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from builder.errors import FetchError
from builder.model import DebianOrig

DEB_SRC_HINT = (
    "add 'deb-src' entries to apt's sources (./dev does this: a copy of each 'deb' stanza "
    "with 'Types: deb-src'), then run apt-get update"
)


def _explain(output: str, orig: DebianOrig) -> str:
    if "deb-src" in output and "sources.list" in output:
        return "apt has no deb-src entries"
    if "Unable to find a source package" in output or "Can not find version" in output:
        return f"apt knows no source package {orig.package} version {orig.version}"
    lines = [line.removeprefix("E: ") for line in output.splitlines() if line.startswith("E:")]
    fetch_errors = [line for line in lines if "orig.tar" in line] or lines
    return "; ".join(fetch_errors[:2]) or output.strip()[-300:] or "apt-get source failed"


def fetch_orig(orig: DebianOrig, into: Path, timeout: float = 900) -> Path:
    """Download the .orig tarball of `orig` and move it to `into` (a partial file path)."""
    if shutil.which("apt-get") is None:
        raise FetchError("apt-get is not installed", hint="the debian mirror needs apt")
    into.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=into.parent, prefix="apt-source-") as workdir:
        command = ["apt-get", "source", "--download-only", "-q", f"{orig.package}={orig.version}"]
        try:
            result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                                    timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as error:
            raise FetchError(f"apt-get source timed out after {timeout:.0f} s") from error
        # apt fails the whole command when any file of the package is missing (mirrors can
        # lack a .dsc or .debian.tar); the orig tarball alone is what we need, and its
        # checksum is verified by the caller whatever apt said.
        origs = sorted(p for p in Path(workdir).glob("*.orig.tar.*") if p.suffix != ".asc")
        if not origs and result.returncode != 0:
            reason = _explain(result.stdout + result.stderr, orig)
            hint = DEB_SRC_HINT if "deb-src" in reason else None
            raise FetchError(reason, hint=hint)
        if not origs:
            raise FetchError(f"{orig.package} {orig.version} has no .orig tarball "
                             "(a native Debian package)")
        shutil.move(origs[0], into)
    return into
