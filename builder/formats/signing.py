"""Detached OpenPGP signatures made by gpg, for rpm headers and debsig's `_gpgorigin`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from builder.errors import BuilderError
from builder.formats.meta import Signing


def _gpg(signing: Signing) -> list[str]:
    home = [] if signing.gnupg_home is None else ["--homedir", str(signing.gnupg_home)]
    return ["gpg", *home, "--batch", "--no-tty"]


def key_created(signing: Signing) -> int:
    """When the newest of the key's (sub)keys was made: a signature must not predate it."""
    listed = subprocess.run([*_gpg(signing), "--with-colons", "--list-secret-keys",
                             signing.key], capture_output=True, text=True)
    times = [int(fields[5]) for line in listed.stdout.splitlines()
             if (fields := line.split(":"))[0] in ("sec", "ssb") and fields[5].isdigit()]
    return max(times, default=0)


def _command(signing: Signing, armor: bool, passphrase_file: str | None,
             signed_at: int | None) -> list[str]:
    command = [*_gpg(signing), "--yes", "--detach-sign", "--digest-algo",
               "sha256", "--local-user", signing.key, "--output", "-"]
    if signed_at is not None:
        # The signature's own timestamp is part of the package: fixing it keeps a signed
        # package bit-identical across builds (never earlier than the key, which verifiers
        # refuse).
        frozen = max(signed_at, key_created(signing))
        command += ["--faked-system-time", f"{frozen}!", "--ignore-time-conflict"]
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
               armor: bool = False, signed_at: int | None = None) -> bytes:
    """A detached signature over the concatenation of `parts`, made at `signed_at` (seconds
    since the epoch) or later if the key is newer; at the current time if None."""
    with tempfile.TemporaryDirectory(prefix="omnibus-sign-") as scratch:
        passphrase_file = None
        if signing.passphrase is not None:
            passphrase_file = os.path.join(scratch, "passphrase")
            with open(os.open(passphrase_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                out.write(signing.passphrase)
        try:
            process = subprocess.Popen(_command(signing, armor, passphrase_file, signed_at),
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


def sign_bytes(signing: Signing, data: bytes, armor: bool = False,
               signed_at: int | None = None) -> bytes:
    return sign_parts(signing, [("data", data)], armor, signed_at)
