"""gitlab-secrets.json: generated once, kept byte for byte, gitlab.rb's values win."""

from __future__ import annotations

import subprocess

import pytest

from gitlab_ctl.commands.reconfigure import write_secrets
from gitlab_ctl.config import secrets
from gitlab_ctl.config.secrets import SecretsError, load_secrets, resolve_secrets


@pytest.fixture(autouse=True)
def quick_rsa_keys(request, monkeypatch):
    """A 4096-bit key takes a second or more; only the test about it makes real ones."""
    if "real_keys" not in request.keywords:
        monkeypatch.setitem(secrets.GENERATORS, "rsa4096", lambda: "-----BEGIN RSA PRIVATE KEY"
                            "-----\nfake\n-----END RSA PRIVATE KEY-----\n")


@pytest.mark.real_keys
def test_the_openid_signing_key_is_a_4096_bit_rsa_key(tmp_path):
    path = tmp_path / "gitlab-secrets.json"
    write_secrets(path, resolve_secrets({}, {}))
    key = load_secrets(path)["gitlab_rails"]["openid_connect_signing_key"]
    assert key.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    shown = subprocess.run(["openssl", "rsa", "-noout", "-text"], input=key, text=True,
                           capture_output=True, check=True).stdout
    assert "Private-Key: (4096 bit" in shown


def converge(path, settings):
    return write_secrets(path, resolve_secrets(settings, load_secrets(path)))


def test_first_run_generates_every_secret_once_with_mode_0600(tmp_path):
    path = tmp_path / "gitlab-secrets.json"
    assert converge(path, {}) is True
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_bytes()
    data = load_secrets(path)
    assert len(data["gitlab_rails"]["secret_key_base"]) == 128
    assert len(data["gitlab_rails"]["active_record_encryption_primary_key"][0]) == 32
    assert data["gitlab_rails"]["secret_key_base"] != data["gitlab_rails"]["db_key_base"]
    assert converge(path, {}) is False  # a re-run writes nothing
    assert path.read_bytes() == first


def test_gitlab_rb_wins_and_other_stored_values_survive(tmp_path):
    path = tmp_path / "gitlab-secrets.json"
    converge(path, {})
    before = load_secrets(path)
    converge(path, {"gitlab_shell": {"secret_token": "from-gitlab-rb"}})
    after = load_secrets(path)
    assert after["gitlab_shell"]["secret_token"] == "from-gitlab-rb"
    assert after["gitlab_rails"] == before["gitlab_rails"]


def test_unknown_stored_entries_are_kept(tmp_path):
    path = tmp_path / "gitlab-secrets.json"
    path.write_text('{"letsencrypt": {"auto_enabled": true}, "custom": {"x": "1"}}\n')
    converge(path, {})
    data = load_secrets(path)
    assert data["letsencrypt"] == {"auto_enabled": True} and data["custom"] == {"x": "1"}


def test_a_broken_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "gitlab-secrets.json"
    path.write_text("{not json")
    with pytest.raises(SecretsError, match="not valid JSON") as caught:
        converge(path, {})
    assert "backup" in caught.value.hint
    assert path.read_text() == "{not json"


def test_active_record_keys_are_generated_as_lists_of_one_key():
    # omnibus-gitlab's gitlab_rails.rb parse_secrets: `||= [generate_alphanumeric(32)]`
    rails = resolve_secrets({}, {})["gitlab_rails"]
    for name in ("active_record_encryption_primary_key",
                 "active_record_encryption_deterministic_key"):
        assert isinstance(rails[name], list) and len(rails[name][0]) == 32
    assert isinstance(rails["active_record_encryption_key_derivation_salt"], str)


@pytest.mark.parametrize(("legacy", "key"), [
    ({"gitlab_ci": {"db_key_base": "old-ci"}}, "db_key_base"),
    ({"gitlab_ci": {"db_key_base": "old-ci"}}, "secret_key_base"),
    ({"gitlab_rails": {"secret_token": "old-token"}}, "otp_key_base"),
    ({"gitlab_rails": {"jws_private_key": "old-jws"}}, "openid_connect_signing_key"),
])
def test_a_legacy_name_is_used_before_a_new_secret_is_made(legacy, key):
    # omnibus-gitlab's gitlab_rails.rb transform_secrets
    value = next(iter(next(iter(legacy.values())).values()))
    assert resolve_secrets(legacy, {})["gitlab_rails"][key] == value  # from gitlab.rb
    assert resolve_secrets({}, legacy)["gitlab_rails"][key] == value  # from the old file
    stored = {**legacy, "gitlab_rails": {**legacy.get("gitlab_rails", {}), key: "current"}}
    assert resolve_secrets({}, stored)["gitlab_rails"][key] == "current"


def test_gitaly_gitlab_secret_is_shells_token_unless_set():
    # omnibus-gitlab's gitaly.rb parse_secrets: gitlab_secret ||= gitlab_shell secret_token
    resolved = resolve_secrets({"gitlab_shell": {"secret_token": "shell"}}, {})
    assert resolved["gitaly"]["gitlab_secret"] == "shell"
    own = resolve_secrets({"gitaly": {"gitlab_secret": "own"}}, {})
    assert own["gitaly"]["gitlab_secret"] == "own"
    kept = resolve_secrets({}, {"gitaly": {"gitlab_secret": "stored"}})
    assert kept["gitaly"]["gitlab_secret"] == "stored"
