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


def _urlsafe32() -> str:
    """Ruby's SecureRandom.urlsafe_base64(32): 32 random bytes, URL-safe, unpadded."""
    return secrets.token_urlsafe(32)


def _base64_72() -> str:
    """KAS' websocket token secret: base64 of exactly 72 bytes (omnibus-gitlab's length)."""
    return base64.b64encode(secrets.token_bytes(72)).decode()


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


def _alnum32_list() -> list[str]:
    """A list of one key: Rails encrypts with the last and decrypts with any, so a key is
    rotated by appending one (omnibus-gitlab stores these as lists)."""
    return [_alnum32()]


GENERATORS: dict[str, Callable[[], Any]] = {"hex64": _hex64, "base64_32": _base64_32,
                                            "alnum32": _alnum32, "rsa4096": _rsa4096,
                                            "urlsafe32": _urlsafe32,
                                            "alnum32_list": _alnum32_list,
                                            "base64_72": _base64_72}
#: What omnibus-gitlab keeps in gitlab-secrets.json, and how each is made. The registry's
#: internal certificate and key are made by the registry service when it is enabled.
SECRETS: Mapping[str, Mapping[str, str]] = {
    "gitlab_workhorse": {"secret_token": "base64_32"},
    "gitlab_shell": {"secret_token": "hex64"},
    "gitlab_rails": {
        "secret_key_base": "hex64", "db_key_base": "hex64", "otp_key_base": "hex64",
        "encrypted_settings_key_base": "hex64", "openid_connect_signing_key": "rsa4096",
        "active_record_encryption_primary_key": "alnum32_list",
        "active_record_encryption_deterministic_key": "alnum32_list",
        "active_record_encryption_key_derivation_salt": "alnum32",
    },
    # gitlab-pages' OAuth application (id and secret) and its cookie key, and the key it
    # and Rails sign API requests with (omnibus-gitlab's GitlabPages.parse_secrets)
    "gitlab_pages": {"gitlab_secret": "urlsafe32", "gitlab_id": "urlsafe32",
                     "auth_secret": "hex64", "api_secret_key": "base64_32"},
    "gitlab_kas": {"api_secret_key": "base64_32", "private_api_secret_key": "base64_32",
                   "websocket_token_secret_key": "base64_72"},
    "registry": {"http_secret": "hex64"},
    "mailroom": {"incoming_email_auth_token": "base64_32",
                 "service_desk_email_auth_token": "base64_32"},
}


#: Secrets older releases kept under another name, used before a new one is generated (as
#: omnibus-gitlab's transform_secrets does): (section, key) -> [(section, legacy key)].
LEGACY_NAMES: Mapping[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("gitlab_rails", "db_key_base"): (("gitlab_ci", "db_key_base"),),
    ("gitlab_rails", "secret_key_base"): (("gitlab_ci", "db_key_base"),),
    ("gitlab_rails", "otp_key_base"): (("gitlab_rails", "secret_token"),),
    ("gitlab_rails", "openid_connect_signing_key"): (("gitlab_rails", "jws_private_key"),),
}
#: Secrets that are another one's copy unless set: Gitaly checks Shell's calls with
#: gitaly['gitlab_secret'], which is gitlab_shell's secret_token.
COPIES: Mapping[tuple[str, str], tuple[str, str]] = {
    ("gitaly", "gitlab_secret"): ("gitlab_shell", "secret_token"),
}


def _legacy(settings: Mapping[str, Any], stored: Mapping[str, Any], section: str,
            key: str) -> Any:
    """The value a legacy name holds, in gitlab.rb or else in the secrets file."""
    for old_section, old_key in LEGACY_NAMES.get((section, key), ()):
        for source in (settings, stored):
            value = (source.get(old_section) or {}).get(old_key)
            if value is not None:
                return value
    return None


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


def generates_secrets(package: Mapping[str, Any]) -> bool:
    """package['generate_default_secrets']: only an explicit false turns generation off
    (omnibus-gitlab's `!= false`)."""
    return package.get("generate_default_secrets") is not False


def writes_secrets_file(package: Mapping[str, Any]) -> bool:
    """package['generate_secrets_json_file']: only an explicit false keeps the file unwritten."""
    return package.get("generate_secrets_json_file") is not False


def resolve_secrets(settings: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every secret's value: gitlab.rb's, else the stored one, else a new one, unless
    package['generate_default_secrets'] = false (then a missing one stays missing)."""
    generate = generates_secrets(settings.get("package") or {})
    result = copy.deepcopy(dict(stored))
    for section, keys in SECRETS.items():
        given = settings.get(section) or {}
        target = result.setdefault(section, {})
        for key, kind in keys.items():
            if given.get(key) is not None:
                target[key] = given[key]
            elif target.get(key) is None:
                legacy = _legacy(settings, stored, section, key)
                if legacy is not None:
                    target[key] = legacy
                elif generate:
                    target[key] = GENERATORS[kind]()
    for (section, key), (source, source_key) in COPIES.items():
        given = (settings.get(section) or {}).get(key)
        target = result.setdefault(section, {})
        if given is not None:
            target[key] = given
        elif target.get(key) is None and result[source].get(source_key) is not None:
            target[key] = result[source][source_key]
    return result


#: The secrets a service cannot run without: SECRETS' section -> the attributes section
#: whose `enable` says the service runs (Shell's token is Rails' and Workhorse's too).
NEEDED_BY: Mapping[str, str] = {
    "gitlab_rails": "gitlab_rails", "gitlab_shell": "gitlab_rails",
    "gitlab_workhorse": "gitlab_workhorse", "gitlab_pages": "gitlab_pages",
    "gitlab_kas": "gitlab_kas", "registry": "registry", "mailroom": "mailroom",
}


def missing_secrets(attributes: Mapping[str, Any], secrets_data: Mapping[str, Any]
                    ) -> list[str]:
    """`section['key']` of each secret an enabled service needs and nothing holds (only
    possible with package['generate_default_secrets'] = false)."""
    return [f"{section}['{key}']" for section, keys in SECRETS.items()
            if (attributes.get(NEEDED_BY[section]) or {}).get("enable")
            for key in keys if (secrets_data.get(section) or {}).get(key) is None]


def check_complete(attributes: Mapping[str, Any], secrets_data: Mapping[str, Any],
                   path: Path) -> None:
    """Refuse, before anything changes, to configure services without their secrets."""
    missing = missing_secrets(attributes, secrets_data)
    if missing:
        raise SecretsError(path, "package['generate_default_secrets'] = false, and neither "
                           f"gitlab.rb nor this file sets {', '.join(missing)}",
                           hint="set them in gitlab.rb (or the secrets file), or let "
                           "reconfigure generate them: remove "
                           "package['generate_default_secrets'] = false")


def unsaved_secrets_warning(package: Mapping[str, Any], path: Path) -> list[str]:
    """omnibus-gitlab's warning when secrets are generated but the file is not written."""
    if writes_secrets_file(package) or not generates_secrets(package):
        return []
    return [f"You've enabled generating default secrets but have disabled writing them to "
            f"{path} file. This results in secrets not persisting across `gitlab-ctl "
            "reconfigure` runs and can cause issues with functionality."]


def secrets_text(secrets_data: Mapping[str, Any]) -> str:
    """The file's content: pretty, sorted JSON, so an unchanged set gives the same bytes."""
    return json.dumps(secrets_data, indent=2, sort_keys=True) + "\n"

