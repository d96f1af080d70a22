"""/etc/gitlab/gitlab-secrets.json: generated once, never regenerated; gitlab.rb wins.

Each secret's value is, in order: what gitlab.rb sets, what the secrets file holds, or a new
random value. The file is rewritten (0600, atomically) only when its content changes, so a
re-run leaves it byte for byte as it was.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import string
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.errors import GitlabCtlError

DEFAULT_PATH = Path("/etc/gitlab/gitlab-secrets.json")


class SecretsError(GitlabCtlError):
    """The secrets file that cannot be used or completed; `where` is its path."""

    def __init__(self, path: Path, message: str, hint: str = "") -> None:
        super().__init__(str(path), message, hint)
        self.path = path


def _hex64() -> str:
    return secrets.token_hex(64)


def _base64_32() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _alnum32() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _rsa4096() -> str:
    """A PKCS#1 PEM RSA key, as Ruby's OpenSSL::PKey::RSA.new(4096).to_pem writes it; made by
    the openssl program (the package's own, first on gitlab-ctl's PATH)."""
    for argv in (["openssl", "genrsa", "-traditional", "4096"], ["openssl", "genrsa", "4096"]):
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        except FileNotFoundError as error:
            raise SecretsError(DEFAULT_PATH, "cannot generate an RSA key: openssl is not "
                               "installed", hint="install openssl, or set the key in "
                               "gitlab.rb") from error
        if result.returncode == 0:
            return result.stdout
    raise SecretsError(DEFAULT_PATH, f"openssl genrsa failed: {result.stderr.strip()}")


GENERATORS: dict[str, Callable[[], str]] = {"hex64": _hex64, "base64_32": _base64_32,
                                            "alnum32": _alnum32, "rsa4096": _rsa4096}
#: What omnibus-gitlab keeps in gitlab-secrets.json, and how each is made. The registry's
#: internal certificate and key are made by the registry service when it is enabled.
SECRETS: Mapping[str, Mapping[str, str]] = {
    "gitlab_workhorse": {"secret_token": "base64_32"},
    "gitlab_shell": {"secret_token": "hex64"},
    "gitlab_rails": {
        "secret_key_base": "hex64", "db_key_base": "hex64", "otp_key_base": "hex64",
        "encrypted_settings_key_base": "hex64", "openid_connect_signing_key": "rsa4096",
        "active_record_encryption_primary_key": "alnum32",
        "active_record_encryption_deterministic_key": "alnum32",
        "active_record_encryption_key_derivation_salt": "alnum32",
    },
    "gitlab_pages": {"gitlab_secret": "hex64", "gitlab_id": "hex64", "auth_secret": "hex64",
                     "api_secret_key": "base64_32"},
    "gitlab_kas": {"api_secret_key": "base64_32", "private_api_secret_key": "base64_32",
                   "websocket_token_secret_key": "base64_32"},
    "registry": {"http_secret": "hex64"},
    "mailroom": {"incoming_email_auth_token": "base64_32",
                 "service_desk_email_auth_token": "base64_32"},
}


def load_secrets(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SecretsError(path, f"is not valid JSON ({error})",
                           hint="restore it from a backup (gitlab-ctl backup-etc); deleting it "
                           "makes new secrets, which breaks encrypted data") from error
    if not isinstance(data, dict):
        raise SecretsError(path, "must hold a JSON object")
    return data


def resolve_secrets(settings: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every secret's value: gitlab.rb's, else the stored one, else a new one."""
    result = copy.deepcopy(dict(stored))
    for section, keys in SECRETS.items():
        given = settings.get(section) or {}
        target = result.setdefault(section, {})
        for key, kind in keys.items():
            if given.get(key) is not None:
                target[key] = given[key]
            elif target.get(key) is None:
                target[key] = GENERATORS[kind]()
    return result


def secrets_text(secrets_data: Mapping[str, Any]) -> str:
    """The file's content: pretty, sorted JSON, so an unchanged set gives the same bytes."""
    return json.dumps(secrets_data, indent=2, sort_keys=True) + "\n"

