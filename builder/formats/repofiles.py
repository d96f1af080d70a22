"""What both repository formats need: the public key for clients, clear-signed and detached
signatures, checksums, and files written atomically."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from builder.digests import write_atomic as write_atomic_file
from builder.errors import BuilderError
from builder.formats.meta import Signing
from builder.formats.signing import sign_bytes


def gpg_command(signing: Signing, *args: str) -> list[str]:
    command = ["gpg", "--batch", "--no-tty", "--yes"]
    if signing.gnupg_home is not None:
        command += ["--homedir", str(signing.gnupg_home)]
    return [*command, *args]


def export_key(signing: Signing, armor: bool) -> bytes:
    """The signing key's public part, as clients import it."""
    result = subprocess.run(gpg_command(signing, "--export", *(["--armor"] if armor else []),
                                        signing.key), capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise BuilderError(f"gpg cannot export the public key '{signing.key}': "
                           f"{result.stderr.decode(errors='replace').strip()}",
                           hint="check the key id (gpg --list-keys) and GNUPGHOME")
    return result.stdout


def detached_signature(signing: Signing, data: bytes) -> bytes:
    """An ASCII-armored detached signature (Release.gpg, repomd.xml.asc)."""
    return sign_bytes(signing, data, armor=True)


def clearsigned(signing: Signing, data: bytes) -> bytes:
    """`data` clear-signed (InRelease)."""
    command = gpg_command(signing, "--digest-algo", "sha256", "--local-user", signing.key,
                          "--clearsign", "--output", "-")
    with tempfile.TemporaryDirectory(prefix="omnibus-sign-") as scratch:
        if signing.passphrase is not None:
            passphrase = os.path.join(scratch, "passphrase")
            with open(os.open(passphrase, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                out.write(signing.passphrase)
            command[-2:-2] = ["--pinentry-mode", "loopback", "--passphrase-file", passphrase]
        result = subprocess.run(command, input=data, capture_output=True)
    if result.returncode != 0 or not result.stdout:
        raise BuilderError(f"gpg could not clear-sign with key '{signing.key}': "
                           f"{result.stderr.decode(errors='replace').strip()[-600:]}",
                           hint="check the key id (gpg --list-secret-keys), GNUPGHOME and the "
                           "passphrase (GPG_PASSPHRASE)")
    return result.stdout


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write `path` through a temporary file and a rename; False (nothing written) when it
    already holds exactly `data`, so an unchanged index keeps its bytes and mtime.

    A changed file always gets a later whole-second mtime than the one it replaces: HTTP's
    Last-Modified has one-second resolution, and a client that fetched the old file within
    the same second would otherwise be told "304 Not Modified" and miss the new one."""
    try:
        current = path.read_bytes()
        previous = path.stat().st_mtime
    except FileNotFoundError:
        current, previous = None, None
    if current == data:
        return False
    write_atomic_file(path, data, mode)
    if previous is not None and int(path.stat().st_mtime) <= int(previous):
        later = int(previous) + 1
        os.utime(path, (later, later))
    return True
