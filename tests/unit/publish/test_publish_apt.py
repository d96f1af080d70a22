"""The apt repository publisher, on real .deb files made by our packager, checked by reading
every index back and verifying the signatures with gpgv."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.errors import BuilderError
from builder.formats.deb import aptindex, debfile
from builder.formats.deb import repository as apt
from builder.formats.deb import writer as deb
from builder.formats.meta import Signing
from builder.package.version import PackageVersion
from builder.publish import PublishSettings
from tests.conftest import REPO
from tests.packaging_helpers import EPOCH, make_gpg_key, toy_meta, toy_stage

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")  # as projects/*.yml name it

VERSIONS = ("1.2.3", "1.2.4")
ARCHES = ("amd64", "arm64")


@pytest.fixture(scope="module")
def platform():
    return load_catalog(REPO).platforms["debian-12"]


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg") / "home"
    key = make_gpg_key(home)
    yield Signing(key, home)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    return toy_stage(tmp_path_factory.mktemp("tree"))


def build_deb(stage, out: Path, version: str, arch: str = "amd64", **changes) -> Path:
    meta = toy_meta(version=PackageVersion(version, "ce.0", "1.2"), arch=arch, **changes)
    return deb.build(stage, meta, out)


@pytest.fixture(scope="module")
def debs(stage, tmp_path_factory):
    """toy 1.2.3 and 1.2.4, each for amd64 and arm64."""
    out = tmp_path_factory.mktemp("debs")
    return [build_deb(stage, out, version, arch) for version in VERSIONS for arch in ARCHES]


def settings_for(root: Path, platform, signing, date: int = EPOCH) -> PublishSettings:
    return PublishSettings(root, platform, signing, date, "http://repo.example.test/packages",
                           project=GITLAB)


@pytest.fixture
def published(tmp_path, debs, platform, signing):
    settings = settings_for(tmp_path / "repo", platform, signing)
    lines: list[str] = []
    result = apt.publish(debs, settings, lines.append)
    return settings, result, lines


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


def stanzas(path: Path) -> list[dict[str, str]]:
    return [dict(fields) for fields in debfile.paragraphs(path.read_text(), str(path))]


def release_sections(release: str) -> dict[str, list[tuple[str, int, str]]]:
    sections: dict[str, list[tuple[str, int, str]]] = {}
    current = None
    for line in release.splitlines():
        if line.startswith(" ") and current is not None:
            digest, size, name = line.split()
            sections[current].append((digest, int(size), name))
        elif line.endswith(":"):
            current = line[:-1]
            sections[current] = []
        else:
            current = None
    return sections


def gpgv(tmp_path: Path, keyring: Path, *files: Path) -> subprocess.CompletedProcess:
    home = tmp_path / "gpgv-home"
    home.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(["gpgv", "--homedir", str(home), "--keyring", str(keyring),
                           *map(str, files)], capture_output=True, text=True)


def test_pool_holds_every_version_and_arch_hard_linked(published, debs):
    settings, result, lines = published
    repo = settings.repo_dir
    assert repo == settings.repo_root / "debian-12"
    assert sorted(result.added) == sorted(p.name for p in debs) and result.unchanged == ()
    for package in debs:
        pooled = repo / "pool/main/t/toy" / package.name
        assert pooled.read_bytes() == package.read_bytes()
        assert pooled.stat().st_ino == package.stat().st_ino  # same file system: a link
    assert f"debian-12: added pool/main/t/toy/{debs[0].name}" in lines
    assert any("indexes written and signed" in line and "amd64: 2 packages" in line
               for line in lines)


def test_packages_index_has_the_control_fields_and_checksums(published, debs):
    settings, _, _ = published
    dists = settings.repo_dir / "dists/bookworm"
    for arch in ARCHES:
        directory = dists / f"main/binary-{arch}"
        found = stanzas(directory / "Packages")
        assert [(s["Package"], s["Version"], s["Architecture"]) for s in found] == \
            [("toy", f"{version}-ce.0", arch) for version in VERSIONS]
        for stanza in found:
            package = settings.repo_dir / stanza["Filename"]
            data = package.read_bytes()
            assert stanza["Filename"] == f"pool/main/t/toy/{package.name}"
            assert stanza["Size"] == str(len(data))
            assert stanza["SHA256"] == hashlib.sha256(data).hexdigest()
            assert stanza["SHA512"] == hashlib.sha512(data).hexdigest()
            assert stanza["MD5sum"] == hashlib.md5(data).hexdigest()
            assert stanza["Depends"] == "perl, libc6 (>= 2.17)"
            assert stanza["Description"].startswith("Small package made by the tests\n ")
        plain = (directory / "Packages").read_bytes()
        assert gzip.decompress((directory / "Packages.gz").read_bytes()) == plain
        assert lzma.decompress((directory / "Packages.xz").read_bytes()) == plain


def test_release_lists_every_index_with_checksums_and_by_hash_copies(published):
    settings, _, _ = published
    dists = settings.repo_dir / "dists/bookworm"
    release = (dists / "Release").read_text()
    header = dict(line.split(": ", 1) for line in release.splitlines() if ": " in line
                  and not line.startswith(" "))
    assert header["Codename"] == header["Suite"] == "bookworm"
    assert header["Date"] == "Mon, 01 Jan 2024 00:00:00 UTC"
    assert header["Architectures"] == "amd64 arm64"
    assert header["Components"] == "main" and header["Acquire-By-Hash"] == "yes"
    sections = release_sections(release)
    expected = {f"main/binary-{arch}/Packages{suffix}" for arch in ARCHES
                for suffix in ("", ".gz", ".xz")}
    for section, algorithm in aptindex.HASHES:
        assert {name for _, _, name in sections[section]} == expected
        for digest, size, name in sections[section]:
            data = (dists / name).read_bytes()
            assert (hashlib.new(algorithm, data).hexdigest(), len(data)) == (digest, size)
            by_hash = dists / name.rpartition("/")[0] / "by-hash" / section / digest
            assert by_hash.read_bytes() == data


def test_signatures_verify_with_the_published_key(published, tmp_path):
    settings, result, _ = published
    repo, dists = settings.repo_dir, settings.repo_dir / "dists/bookworm"
    keyring = repo / "gitlab-archive-keyring.gpg"
    assert {p.name for p in result.client_files} == {
        "gpg.key", "gitlab-archive-keyring.gpg", "gitlab.list", "gitlab.sources"}
    verified = gpgv(tmp_path, keyring, dists / "InRelease")
    assert verified.returncode == 0, verified.stderr
    assert "Good signature" in verified.stderr
    verified = gpgv(tmp_path, keyring, dists / "Release.gpg", dists / "Release")
    assert verified.returncode == 0, verified.stderr
    assert (dists / "Release").read_text() in (dists / "InRelease").read_text()
    assert (repo / "gpg.key").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    (tmp_path / "Release").write_bytes((dists / "Release").read_bytes() + b"X: y\n")
    assert gpgv(tmp_path, keyring, dists / "Release.gpg", tmp_path / "Release").returncode != 0


def test_client_snippets_point_at_the_repository_with_signed_by(published):
    settings, _, _ = published
    repo = settings.repo_dir
    keyring = "/usr/share/keyrings/gitlab-archive-keyring.gpg"
    url = "http://repo.example.test/packages/debian-12"
    assert (repo / "gitlab.list").read_text() == f"deb [signed-by={keyring}] {url} bookworm main\n"
    assert dict(debfile.parse_paragraph((repo / "gitlab.sources").read_text(), "sources")) == {
        "Types": "deb", "URIs": url, "Suites": "bookworm", "Components": "main",
        "Signed-By": keyring}


def test_publishing_again_changes_nothing(published, debs):
    settings, _, _ = published
    before = snapshot(settings.repo_dir)
    lines: list[str] = []
    later = dataclasses.replace(settings, date=EPOCH + 86400)
    result = apt.publish(debs, later, lines.append)
    assert result.added == () and sorted(result.unchanged) == sorted(p.name for p in debs)
    assert snapshot(settings.repo_dir) == before
    assert any("indexes unchanged" in line for line in lines)
    assert any("is already published, unchanged" in line for line in lines)


def test_another_file_of_a_published_version_is_refused_and_nothing_changes(published, stage,
                                                                             tmp_path):
    settings, _, _ = published
    other = build_deb(stage, tmp_path / "other", "1.2.3", summary="Rebuilt differently")
    before = snapshot(settings.repo_dir)
    with pytest.raises(BuilderError) as caught:
        apt.publish([other], settings, lambda _line: None)
    message = str(caught.value)
    assert str(other) in message
    assert str(settings.repo_dir / "pool/main/t/toy" / other.name) in message
    assert "never replaced" in caught.value.hint
    assert snapshot(settings.repo_dir) == before


def test_a_package_for_another_platform_arch_is_refused(stage, tmp_path, platform, signing):
    armhf = build_deb(stage, tmp_path / "pkg", "1.2.3", arch="armhf")
    settings = settings_for(tmp_path / "repo", platform, signing)
    with pytest.raises(BuilderError, match="built for armhf"):
        apt.publish([armhf], settings, lambda _line: None)
    assert not (settings.repo_dir / "pool").exists()


def test_by_hash_files_of_the_last_three_releases_are_kept(stage, tmp_path, platform, signing):
    settings = settings_for(tmp_path / "repo", platform, signing)
    dists = settings.repo_dir / "dists/bookworm"
    generations = []
    for number, patch in enumerate(range(1, 6)):
        package = build_deb(stage, tmp_path / "pkg", f"2.0.{patch}")
        apt.publish([package], dataclasses.replace(settings, date=EPOCH + number),
                    lambda _line: None)
        release = release_sections((dists / "Release").read_text())
        generations.append({f"main/binary-amd64/by-hash/{section}/{digest}"
                            for section, _ in aptindex.HASHES
                            for digest, _, _ in release[section]})
    on_disk = {str(p.relative_to(dists)) for p in dists.glob("main/*/by-hash/*/*")}
    assert on_disk == set().union(*generations[-3:])
    assert not generations[0] & on_disk and not generations[1] & on_disk
    assert len(stanzas(dists / "main/binary-amd64/Packages")) == 5


def test_a_pool_file_missing_from_the_indexes_is_indexed(published, debs, stage, tmp_path):
    """A publish that stopped after the pool copy: the next one indexes what the pool holds."""
    settings, _, _ = published
    extra = build_deb(stage, tmp_path / "pkg", "1.3.0")
    shutil.copy(extra, settings.repo_dir / "pool/main/t/toy" / extra.name)
    apt.publish([], settings, lambda _line: None)
    found = stanzas(settings.repo_dir / "dists/bookworm/main/binary-amd64/Packages")
    assert [s["Version"] for s in found] == ["1.2.3-ce.0", "1.2.4-ce.0", "1.3.0-ce.0"]


def test_an_arch_all_package_is_listed_for_every_arch(stage, tmp_path, platform, signing):
    package = build_deb(stage, tmp_path / "pkg", "1.0.0", arch="all")
    settings = settings_for(tmp_path / "repo", platform, signing)
    apt.publish([package], settings, lambda _line: None)
    dists = settings.repo_dir / "dists/bookworm"
    for arch in ARCHES:
        assert [s["Architecture"] for s in stanzas(dists / f"main/binary-{arch}/Packages")] \
            == ["all"]


@pytest.mark.parametrize("compression", ["zstd", "xz", "gzip"])
def test_control_is_read_from_every_compression(stage, tmp_path, compression):
    package = deb.build(stage, toy_meta(compression=compression), tmp_path)
    fields = dict(debfile.parse_paragraph(debfile.read_control(package), "control"))
    shown = subprocess.run(["dpkg-deb", "--field", str(package)], check=True,
                           capture_output=True, text=True).stdout
    assert fields == dict(debfile.parse_paragraph(shown, "dpkg-deb"))


def test_a_file_that_is_not_a_deb_is_refused(tmp_path):
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(BuilderError, match=r"not a readable \.deb: no ar archive header"):
        debfile.read_control(bogus)


@pytest.mark.parametrize(("older", "newer"), [
    ("1.2.3-ce.0", "1.2.10-ce.0"), ("17.5.0-ce.0", "17.5.0-ee.0"), ("1.0~rc1-1", "1.0-1"),
    ("9.9-1", "1:0.1-1"), ("1.0-1", "1.0+b1-1"), ("1.0a", "1.0b"), ("1.0", "1.0-0.1"),
])
def test_versions_sort_as_dpkg_sorts_them(older, newer):
    assert aptindex.compare_versions(older, newer) == -1
    assert aptindex.compare_versions(newer, older) == 1
    assert aptindex.compare_versions(older, older) == 0


def test_permissions_of_the_served_files(published):
    settings, _, _ = published
    for path in settings.repo_dir.rglob("*"):
        if path.is_file() and ".publish" not in path.parts:
            assert os.stat(path).st_mode & 0o444 == 0o444, path


def test_a_new_signing_key_signs_the_unchanged_indexes_again(published, debs, tmp_path):
    settings, _, _ = published
    home = tmp_path / "gnupg-new"
    rekeyed = dataclasses.replace(settings, signing=Signing(make_gpg_key(home), home))
    try:
        lines: list[str] = []
        result = apt.publish(debs, rekeyed, lines.append)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    assert result.added == () and any("signed" in line for line in lines)
    dists = settings.repo_dir / "dists/bookworm"
    verified = gpgv(tmp_path, settings.repo_dir / "gitlab-archive-keyring.gpg",
                    dists / "InRelease")
    assert verified.returncode == 0, verified.stderr
    assert rekeyed.signing.key[-16:] in verified.stderr.replace(" ", "")


def test_a_changed_index_is_newer_to_http_than_the_one_it_replaces(tmp_path):
    """Last-Modified has whole seconds: a file replaced within the same second must still
    look modified, or a client's If-Modified-Since gets 304 and misses the new index."""
    from builder.formats.repofiles import write_atomic

    path = tmp_path / "InRelease"
    write_atomic(path, b"first")
    first = int(path.stat().st_mtime)
    write_atomic(path, b"second")
    assert int(path.stat().st_mtime) > first
    before = path.stat().st_mtime
    assert write_atomic(path, b"second") is False and path.stat().st_mtime == before
