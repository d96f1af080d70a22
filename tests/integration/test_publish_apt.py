"""The published apt repository, used by a real apt: a clean Debian 12 container installs
from it over HTTP with signature checking on, and refuses a tampered index and a repository
signed by another key."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.formats.deb import aptindex
from builder.formats.deb import repository as apt
from builder.formats.deb import writer as deb
from builder.formats.meta import Signing
from builder.package.version import PackageVersion
from builder.publish import PublishSettings
from tests.conftest import REPO
from tests.httpserver import serving_directory
from tests.packaging_helpers import EPOCH, make_gpg_key, toy_meta, toy_stage

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")  # as projects/*.yml name it

pytestmark = pytest.mark.integration
PACKAGES = "dists/bookworm/main/binary-amd64/Packages"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=120)


@pytest.fixture(scope="module")
def platform():
    return load_catalog(REPO).platforms["debian-12"]


@pytest.fixture(scope="module")
def debian_image(platform):
    return ensure_base(platform, "amd64", lambda *_args, **_kw: None)


@pytest.fixture
def signers(tmp_path):
    homes = [tmp_path / "gnupg-good", tmp_path / "gnupg-other"]
    yield [Signing(make_gpg_key(home), home) for home in homes]
    for home in homes:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


@contextmanager
def container(image: str, client_files: Path) -> Iterator[str]:
    """A clean Debian 12 container on the host's network, with our client files at /client."""
    name = docker("run", "-d", "--network", "host", "-v", f"{client_files}:/client:ro", image,
                  "sleep", "600").stdout.strip()
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def shell(name: str, script: str) -> subprocess.CompletedProcess:
    return docker("exec", name, "sh", "-c", script, check=False)


def installed(name: str) -> str:
    return shell(name, "dpkg-query -W -f '${Version}' toy").stdout


def tamper(repo: Path) -> dict[Path, bytes]:
    """Change the amd64 Packages (every compression, plain and by-hash, as a compromised
    mirror would) and return the original bytes. The forgery points the newest stanza at
    another file: one hex digit of its SHA256, so the sizes stay (apt then finds the hashes
    wrong, not just the size)."""
    dists = repo / "dists/bookworm"
    plain = (repo / PACKAGES).read_bytes()
    at = plain.rindex(b"SHA256: ") + len(b"SHA256: ")
    forged = plain[:at] + (b"1" if plain[at:at + 1] == b"0" else b"0") + plain[at + 1:]
    originals = {}
    for suffix, compress in aptindex.COMPRESSED.items():
        index = repo / f"{PACKAGES}{suffix}"
        data = index.read_bytes()
        relative = index.relative_to(dists).as_posix()
        targets = [index, *(dists / path for path in aptindex.by_hash_paths(relative, data))]
        for target in targets:
            originals[target] = target.read_bytes()
            target.write_bytes(compress(forged))
    return originals


def test_apt_installs_from_the_repository_and_refuses_tampering_and_other_keys(
        tmp_path, platform, debian_image, signers):
    stage = toy_stage(tmp_path / "tree")
    builds = {version: deb.build(stage, toy_meta(version=PackageVersion(version, "ce.0", "1.2"),
                                                 depends=()), tmp_path / "pkg")
              for version in ("1.2.3", "1.2.4", "1.2.5")}
    www = tmp_path / "www"
    with serving_directory(www) as url:
        good = PublishSettings(www / "good", platform, signers[0], EPOCH, f"{url}/good",
                               project=GITLAB)
        other = PublishSettings(www / "other", platform, signers[1], EPOCH, f"{url}/other",
                                project=GITLAB)
        apt.publish([builds["1.2.3"]], good, lambda _line: None)
        apt.publish([builds["1.2.3"], builds["1.2.5"]], other, lambda _line: None)
        with container(debian_image, good.repo_dir) as name:
            _install_first_version(name)
            later = dataclasses.replace(good, date=EPOCH + 60)
            apt.publish([builds["1.2.4"]], later, lambda _line: None)
            originals = tamper(good.repo_dir)
            _tampered_index_is_refused(name)
            for path, data in originals.items():
                path.write_bytes(data)
            _restored_index_upgrades(name)
            _other_key_is_refused(name, other.url())


def _install_first_version(name: str) -> None:
    # Only our source: the install cannot come from anywhere else.
    script = """
set -e
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
cp /client/gitlab-archive-keyring.gpg /usr/share/keyrings/
cp /client/gitlab.sources /etc/apt/sources.list.d/
apt-get update 2>&1
apt-get install -y toy 2>&1
"""
    result = shell(name, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(name) == "1.2.3-ce.0"


def _tampered_index_is_refused(name: str) -> None:
    result = shell(name, "apt-get update 2>&1")
    assert result.returncode != 0, result.stdout
    # Both are apt checking the download against the signed Release (size, then hashes).
    assert "Hash Sum mismatch" in result.stdout or "File has unexpected size" in result.stdout, \
        result.stdout
    result = shell(name, "apt-get install -y toy 2>&1")
    assert installed(name) == "1.2.3-ce.0", result.stdout
    assert "1.2.4-ce.0" not in shell(name, "apt-cache show toy 2>&1").stdout


def _restored_index_upgrades(name: str) -> None:
    """The same client and Release with the real indexes: the refusal came from the forgery."""
    result = shell(name, "apt-get update 2>&1 && apt-get install -y toy 2>&1")
    assert result.returncode == 0, result.stdout
    assert installed(name) == "1.2.4-ce.0"


def _other_key_is_refused(name: str, other_url: str) -> None:
    """A repository signed with another key, at the place the client trusts ours."""
    result = shell(name, f"sed -i 's|^URIs: .*|URIs: {other_url}|' "
                   "/etc/apt/sources.list.d/gitlab.sources && apt-get update 2>&1")
    assert result.returncode != 0, result.stdout
    assert "NO_PUBKEY" in result.stdout and "is not signed" in result.stdout, result.stdout
    shell(name, "apt-get install -y toy 2>&1")
    assert installed(name) == "1.2.4-ce.0"  # not 1.2.5, which only the other repository has
    assert "1.2.5" not in shell(name, "apt-cache policy toy").stdout
