"""Detached OpenPGP signatures made by gpg, for rpm headers and debsig's `_gpgorigin`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from builder.errors import BuilderError
from builder.packaging.meta import Signing


def _command(signing: Signing, armor: bool, passphrase_file: str | None) -> list[str]:
    command = ["gpg", "--batch", "--no-tty", "--yes", "--detach-sign", "--digest-algo",
               "sha256", "--local-user", signing.key, "--output", "-"]
    if signing.gnupg_home is not None:
        command[1:1] = ["--homedir", str(signing.gnupg_home)]
    if armor:
        command.append("--armor")
    if passphrase_file is not None:
        command += ["--pinentry-mode", "loopback", "--passphrase-file", passphrase_file]
    return command


def _chunks(parts: Iterable[tuple[str, bytes | Path]]) -> Iterable[bytes]:
    for _, data in parts:
        if isinstance(data, bytes):
            yield data
        else:
            with data.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk


def sign_parts(signing: Signing, parts: Iterable[tuple[str, bytes | Path]],
               armor: bool = False) -> bytes:
    """A detached signature over the concatenation of `parts`."""
    with tempfile.TemporaryDirectory(prefix="omnibus-sign-") as scratch:
        passphrase_file = None
        if signing.passphrase is not None:
            passphrase_file = os.path.join(scratch, "passphrase")
            with open(os.open(passphrase_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                out.write(signing.passphrase)
        try:
            process = subprocess.Popen(_command(signing, armor, passphrase_file),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        except FileNotFoundError as error:
            raise BuilderError("gpg is not installed", hint="apt-get install gnupg") from error
        assert process.stdin is not None
        try:
            for chunk in _chunks(parts):
                process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # gpg gave up early; its message comes below
        signature, errors = process.communicate()
    if process.returncode != 0 or not signature:
        raise BuilderError(f"gpg could not sign with key '{signing.key}': "
                           f"{errors.decode(errors='replace').strip()[-600:]}",
                           hint="check the key id (gpg --list-secret-keys), GNUPGHOME and the "
                           "passphrase (GPG_PASSPHRASE)")
    return signature


def sign_bytes(signing: Signing, data: bytes, armor: bool = False) -> bytes:
    return sign_parts(signing, [("data", data)], armor)
