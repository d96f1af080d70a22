"""The yum repository writer: metadata read back with ElementTree and checked against rpm's
own view of the packages, signatures checked with gpg, and the rules for publishing again."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import struct
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.errors import BuilderError
from builder.formats.meta import Signing
from builder.formats.rpm import writer as rpm
from builder.formats.rpm.repository import publish
from builder.package.version import PackageVersion
from builder.publish import PublishSettings
from tests.conftest import REPO
from tests.packaging_helpers import make_gpg_key, toy_meta, toy_stage

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")  # as projects/*.yml name it

DATE = 1717200000
NS = {"c": "http://linux.duke.edu/metadata/common", "rpm": "http://linux.duke.edu/metadata/rpm",
      "f": "http://linux.duke.edu/metadata/filelists", "o": "http://linux.duke.edu/metadata/other",
      "r": "http://linux.duke.edu/metadata/repo"}
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                   capture_output=True)


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    home = tmp_path_factory.mktemp("gnupg")
    yield Signing(make_gpg_key(home), home)
    stop_agent(home)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """toy 1.2.3 and 1.2.4, each for x86_64 and aarch64."""
    base = tmp_path_factory.mktemp("packages")
    stage = toy_stage(base / "tree")
    return [rpm.build(stage, toy_meta("rpm", version=PackageVersion(version, "ce.0", version),
                                      arch=arch), base / "pkg")
            for version in ("1.2.3", "1.2.4") for arch in ("x86_64", "aarch64")]


@pytest.fixture
def settings(tmp_path, signing):
    platform = load_catalog(REPO).platforms["el-9"]
    return PublishSettings(tmp_path / "repo", platform, signing, DATE,
                           base_url="http://repo.example.test/yum/", project=GITLAB)


def run(packages, settings, lines=None):
    return publish(packages, settings, (lines if lines is not None else []).append)


def query(package: Path, fmt: str) -> str:
    return subprocess.run(["rpm", "-qp", "--queryformat", fmt, str(package)], check=True,
                          capture_output=True, text=True).stdout


def repomd_records(repo: Path) -> dict[str, ElementTree.Element]:
    root = ElementTree.parse(repo / "repodata/repomd.xml").getroot()
    return {data.get("type"): data for data in root.findall("r:data", NS)}


def metadata(repo: Path, kind: str) -> ElementTree.Element:
    href = repomd_records(repo)[kind].find("r:location", NS).get("href")
    return ElementTree.fromstring(gzip.decompress((repo / href).read_bytes()))


def snapshot(repo: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(repo)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(repo.rglob("*")) if p.is_file()}


def test_packages_and_metadata_are_laid_out_as_createrepo_does(packages, settings):
    lines: list[str] = []
    result = run(packages, settings, lines)
    repo = settings.repo_dir
    assert result.repo_dir == repo == settings.repo_root / "el-9"
    assert result.added == tuple(p.name for p in packages) and result.unchanged == ()
    for package in packages:
        assert (repo / "Packages/t" / package.name).read_bytes() == package.read_bytes()
    records = repomd_records(repo)
    assert sorted(records) == ["filelists", "other", "primary"]
    for kind, record in records.items():
        href = record.find("r:location", NS).get("href")
        data = (repo / href).read_bytes()
        checksum = hashlib.sha256(data).hexdigest()
        assert href == f"repodata/{checksum}-{kind}.xml.gz"
        assert record.find("r:checksum", NS).text == checksum
        assert record.find("r:checksum", NS).get("type") == "sha256"
        assert record.find("r:open-checksum", NS).text == \
            hashlib.sha256(gzip.decompress(data)).hexdigest()
        assert int(record.find("r:size", NS).text) == len(data)
        assert int(record.find("r:open-size", NS).text) == len(gzip.decompress(data))
        assert record.find("r:timestamp", NS).text == str(DATE)
    index = ElementTree.parse(repo / "repodata/repomd.xml").getroot()
    assert index.find("r:revision", NS).text == str(DATE)
    assert any("metadata written and signed (4 packages" in line for line in lines)


def _header_range(package: Path) -> tuple[int, int]:
    """Where rpm's main header lies, worked out from the bytes as createrepo does."""
    data = package.read_bytes()
    count, size = struct.unpack(">II", data[104:112])
    start = 96 + 16 + count * 16 + size
    start += -start % 8
    count, size = struct.unpack(">II", data[start + 8:start + 16])
    return start, start + 16 + count * 16 + size


def _primary_package(primary: ElementTree.Element, package: Path) -> ElementTree.Element:
    return next(p for p in primary.findall("c:package", NS)
                if p.find("c:location", NS).get("href") == f"Packages/t/{package.name}")


def test_primary_agrees_with_rpm(packages, settings):
    run(packages, settings)
    primary = metadata(settings.repo_dir, "primary")
    assert primary.get("packages") == "4"
    hrefs = [p.find("c:location", NS).get("href") for p in primary.findall("c:package", NS)]
    assert hrefs == sorted(hrefs)  # deterministic order
    for package in packages:
        entry = _primary_package(primary, package)
        name, arch, epoch, version, release, archive, installed, build = query(
            package, "%{NAME} %{ARCH} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCHIVESIZE} "
            "%{SIZE} %{BUILDTIME}").split()
        assert entry.find("c:name", NS).text == name
        assert entry.find("c:arch", NS).text == arch
        assert entry.find("c:version", NS).attrib == {"epoch": epoch, "ver": version,
                                                      "rel": release}
        checksum = entry.find("c:checksum", NS)
        assert checksum.attrib == {"type": "sha256", "pkgid": "YES"}
        assert checksum.text == hashlib.sha256(package.read_bytes()).hexdigest()
        assert entry.find("c:size", NS).attrib == {
            "package": str(package.stat().st_size), "installed": installed, "archive": archive}
        assert entry.find("c:time", NS).attrib == {"file": str(DATE), "build": build}
        start, end = _header_range(package)
        header_range = entry.find("c:format/rpm:header-range", NS)
        assert header_range.attrib == {"start": str(start), "end": str(end)}
        data = package.read_bytes()
        assert data[start:start + 3] == b"\x8e\xad\xe8" and data[end:end + 4] == ZSTD_MAGIC


def test_primary_format_has_the_relations_and_the_primary_files(packages, settings):
    run(packages[:1], settings)
    entry = metadata(settings.repo_dir, "primary").find("c:package", NS)
    form = entry.find("c:format", NS)
    assert form.find("rpm:license", NS).text == "MIT"
    assert form.find("rpm:vendor", NS).text == "Toy Inc."
    assert form.find("rpm:sourcerpm", NS).text == query(packages[0], "%{SOURCERPM}")
    assert entry.find("c:packager", NS).text == "Toy Maintainers <toy@example.test>"
    assert entry.find("c:description", NS).text == query(packages[0], "%{DESCRIPTION}")

    def entries(kind):
        return [e.attrib for e in form.findall(f"rpm:{kind}/rpm:entry", NS)]

    assert entries("provides") == [{"name": "toy", "flags": "EQ", "epoch": "0", "ver": "1.2.3",
                                    "rel": "ce.0.el9"}]
    # rpmlib() features are rpm's own: createrepo leaves them out; scriptlet needs are "pre".
    assert entries("requires") == [{"name": "/bin/sh", "pre": "1"}, {"name": "perl"},
                                   {"name": "libc6", "flags": "GE", "epoch": "0",
                                    "ver": "2.17"}]
    assert entries("conflicts") == entries("obsoletes") == [{"name": "toy-ee"}]
    listed = query(packages[0], "[%{FILENAMES}\n]").split()
    assert [f.text for f in form.findall("c:file", NS)] == [p for p in listed if "bin/" in p]


def test_filelists_and_other_list_every_file_and_the_changelog(packages, settings):
    run(packages[:1], settings)
    files = metadata(settings.repo_dir, "filelists").find("f:package", NS)
    assert files.get("name") == "toy" and files.get("arch") == "x86_64"
    expected = [line.split(" ", 1) for line in
                query(packages[0], "[%{FILEMODES:perms} %{FILENAMES}\n]").splitlines()]
    assert [(f.get("type", ""), f.text) for f in files.findall("f:file", NS)] == \
        [("dir" if perms.startswith("d") else "", path) for perms, path in expected]
    changelog = metadata(settings.repo_dir, "other").find("o:package/o:changelog", NS)
    author, date = query(packages[0], "[%{CHANGELOGNAME}|%{CHANGELOGTIME}]").split("|")
    assert changelog.attrib == {"author": author, "date": date}
    assert changelog.text == query(packages[0], "[%{CHANGELOGTEXT}]")


def test_repomd_is_signed_and_the_client_files_point_at_the_repository(packages, settings,
                                                                       signing, tmp_path):
    result = run(packages[:1], settings)
    repodata = settings.repo_dir / "repodata"
    verified = subprocess.run(["gpg", "--homedir", str(signing.gnupg_home), "--verify",
                               str(repodata / "repomd.xml.asc"), str(repodata / "repomd.xml")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    key, snippet = result.client_files
    assert key.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    keyring = tmp_path / "keyring.gpg"
    subprocess.run(["gpg", "--homedir", str(tmp_path), "--dearmor", "--output", str(keyring),
                    str(key)], check=True, capture_output=True)
    with_client_key = subprocess.run(["gpgv", "--keyring", str(keyring),
                                      str(repodata / "repomd.xml.asc"),
                                      str(repodata / "repomd.xml")], capture_output=True)
    assert with_client_key.returncode == 0, with_client_key.stderr
    lines = snippet.read_text().splitlines()
    url = "http://repo.example.test/yum/el-9"
    for line in (f"baseurl={url}", "gpgcheck=1", "repo_gpgcheck=1", f"gpgkey={url}/gpg.key",
                 "enabled=1"):
        assert line in lines
    assert snippet.name.endswith(".repo") and lines[0].startswith("[")


def test_rpm_packages_of_a_deb_platform_get_their_own_repository(packages, signing, tmp_path):
    debian = load_catalog(REPO).platforms["debian-12"]
    settings = PublishSettings(tmp_path / "repo", debian, signing, DATE,
                               base_url="http://repo.example.test/", package_format="rpm",
                               project=GITLAB)
    result = run(packages[:1], settings)
    assert result.repo_dir == tmp_path / "repo" / "debian-12-rpm"
    assert (result.repo_dir / "repodata" / "repomd.xml.asc").is_file()
    snippet = (result.repo_dir / "gitlab.repo").read_text().splitlines()
    assert snippet[0] == "[gitlab-debian-12-rpm]"
    assert "baseurl=http://repo.example.test/debian-12-rpm" in snippet
    assert not (tmp_path / "repo" / "debian-12").exists()


def test_publishing_the_same_files_again_changes_nothing(packages, settings):
    run(packages, settings)
    before = snapshot(settings.repo_dir)
    lines: list[str] = []
    again = run(packages[:2], dataclasses.replace(settings, date=DATE + 3600), lines)
    assert again.added == () and again.unchanged == tuple(p.name for p in packages[:2])
    assert snapshot(settings.repo_dir) == before  # nothing rewritten, nothing re-signed
    assert any("already published" in line for line in lines)


def test_a_different_file_with_the_same_nevra_is_refused(packages, settings, tmp_path):
    run(packages[:1], settings)
    before = snapshot(settings.repo_dir)
    rebuilt = rpm.build(toy_stage(tmp_path / "tree"), toy_meta("rpm", arch="x86_64",
                                                                summary="Changed"),
                        tmp_path / "rebuilt")
    assert rebuilt.name == packages[0].name and rebuilt.read_bytes() != packages[0].read_bytes()
    with pytest.raises(BuilderError) as refused:
        run([packages[1], rebuilt], settings)
    message = str(refused.value)
    assert str(rebuilt) in message and f"Packages/t/{packages[0].name}" in message
    assert "toy-1.2.3-ce.0.el9.x86_64" in message and "new iteration" in refused.value.hint
    assert snapshot(settings.repo_dir) == before


def test_another_package_under_a_published_file_name_is_refused(packages, settings, tmp_path):
    run(packages[:1], settings)
    impostor = tmp_path / "impostor" / packages[0].name
    impostor.parent.mkdir()
    shutil.copy(packages[2], impostor)  # toy 1.2.4 under 1.2.3's file name
    with pytest.raises(BuilderError) as refused:
        run([impostor], settings)
    assert "toy-1.2.3-ce.0.el9.x86_64" in str(refused.value)
    assert "toy-1.2.4-ce.0.el9.x86_64" in str(refused.value)


def test_the_previous_generation_is_kept_and_older_ones_pruned(packages, settings):
    generations = []
    for number, package in enumerate(packages[:3]):
        run([package], dataclasses.replace(settings, date=DATE + number))
        generations.append({r.find("r:location", NS).get("href")
                            for r in repomd_records(settings.repo_dir).values()})
    present = {str(p.relative_to(settings.repo_dir))
               for p in (settings.repo_dir / "repodata").glob("*.xml.gz")}
    assert present == generations[1] | generations[2]
    assert not present & (generations[0] - generations[1] - generations[2])
    assert metadata(settings.repo_dir, "primary").get("packages") == "3"


def test_metadata_is_deterministic(packages, settings, tmp_path):
    run(packages, settings)
    other = dataclasses.replace(settings, repo_root=tmp_path / "other")
    run(list(reversed(packages)), other)
    for name in ("repodata/repomd.xml", *(r.find("r:location", NS).get("href")
                                          for r in repomd_records(settings.repo_dir).values())):
        assert (settings.repo_dir / name).read_bytes() == (other.repo_dir / name).read_bytes()


def test_a_stale_signature_is_made_again(packages, settings, signing):
    """A crash between the renames of repomd.xml and its signature leaves them apart: the
    next publish notices and signs again, even with nothing to add."""
    run(packages[:1], settings)
    repodata = settings.repo_dir / "repodata"
    (repodata / "repomd.xml.asc").write_bytes(b"-----BEGIN PGP SIGNATURE-----\nstale\n")
    lines: list[str] = []
    run(packages[:1], settings, lines)
    assert any("metadata written and signed" in line for line in lines)
    verified = subprocess.run(["gpg", "--homedir", str(signing.gnupg_home), "--verify",
                               str(repodata / "repomd.xml.asc"), str(repodata / "repomd.xml")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr


def test_what_is_not_an_rpm_is_refused_before_anything_is_written(packages, settings,
                                                                  tmp_path):
    bogus = tmp_path / "bogus-1.0-1.x86_64.rpm"
    bogus.write_bytes(b"not an rpm at all" * 10)
    with pytest.raises(BuilderError) as refused:
        run([packages[0], bogus], settings)
    assert str(bogus) in str(refused.value) and "rpm lead" in str(refused.value)
    assert not settings.repo_dir.exists()
