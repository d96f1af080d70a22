"""Vendored dependencies and toolchain files: read strictly, placed exactly, keyed by bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile

import pytest

from builder.definitions.loader import load_catalog
from builder.definitions.model import Vendored
from builder.errors import DefinitionError, FetchError
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from builder.sources import vendored
from builder.sources.downloads import Checksum, DownloadCache
from builder.sources.registries import apt_mirrors
from builder.sources.toolchains import _unpack
from builder.sources.unpack_deb import data_archive

MODULES = """\
modules:
  - module: example.test/lib
    version: v1.2.0
    debian: {package: golang-example-lib, version: "1.2.0-1"}
    sha256: %s
    strip: lib-1.2.0
"""


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def go_root(root, digest: str):
    root.write("software/app/go-modules.yml", MODULES % digest)
    root.write("software/app/modules.txt", "# example.test/lib v1.2.0\n## explicit\n")
    root.software("app", extra="vendored:\n  go_modules: software/app/go-modules.yml\n"
                               "  go_modules_txt: software/app/modules.txt\n")
    root.project("demo", ["app"])


def test_go_modules_are_placed_under_vendor_with_their_modules_txt(root, tmp_path):
    data = tarball({"lib-1.2.0/lib.go": b"package lib\n", "lib-1.2.0/go.mod": b"module x\n"})
    digest = hashlib.sha256(data).hexdigest()
    go_root(root, digest)
    cache_dir = tmp_path / "cache"
    candidate = tmp_path / "candidate"
    candidate.write_bytes(data)
    DownloadCache(cache_dir / "downloads").store(Checksum("sha256", digest), "lib.tar.gz",
                                                  candidate, "app", "test")
    software = load_catalog(root.path).software["app"]
    source = tmp_path / "src"
    source.mkdir()
    vendored.place_vendored(software, root.path, cache_dir, source)
    assert (source / "vendor/example.test/lib/lib.go").read_text() == "package lib\n"
    assert (source / "vendor/modules.txt").read_text().startswith("# example.test/lib v1.2.0")


def test_a_module_not_fetched_or_with_a_wrong_top_directory_is_named(root, tmp_path):
    data = tarball({"other/lib.go": b"package lib\n"})
    digest = hashlib.sha256(data).hexdigest()
    go_root(root, digest)
    software = load_catalog(root.path).software["app"]
    (tmp_path / "src").mkdir()
    with pytest.raises(FetchError) as missing:
        vendored.place_vendored(software, root.path, tmp_path / "cache", tmp_path / "src")
    assert "Go module example.test/lib v1.2.0 is not in the download cache" in missing.value.message
    candidate = tmp_path / "candidate"
    candidate.write_bytes(data)
    DownloadCache(tmp_path / "cache/downloads").store(Checksum("sha256", digest), "lib.tar.gz",
                                                       candidate, "app", "test")
    with pytest.raises(FetchError) as wrong:
        vendored.place_vendored(software, root.path, tmp_path / "cache", tmp_path / "src")
    assert "has no 'lib-1.2.0'" in wrong.value.message and "strip" in wrong.value.hint


def test_the_module_list_is_read_strictly(root):
    go_root(root, "not-a-digest")
    software = load_catalog(root.path).software["app"]
    with pytest.raises(DefinitionError) as caught:
        vendored.go_modules(root.path, software.vendored)
    assert caught.value.problem == "is not 64 hex digits"
    assert caught.value.location.file.name == "go-modules.yml"
    assert (caught.value.location.line, caught.value.location.key) == (5, "modules[0].sha256")


@pytest.mark.parametrize(("block", "problem"), [
    ("  go_modules: software/app/go-modules.yml\n", "go_modules and go_modules_txt go together"),
    ("  yarn_lock: ../yarn.lock\n", "'../yarn.lock' must be a path in the definitions root"),
    ("  yarn_lock: software/app/missing.lock\n", "names software/app/missing.lock, which does "
                                                 "not exist"),
    ("  npm: x\n", "unknown key"),
])
def test_bad_vendored_blocks_name_the_key(root, block, problem):
    root.write("software/app/go-modules.yml", MODULES % ("a" * 64))
    root.software("app", extra=f"vendored:\n{block}")
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    assert problem in caught.value.problem


def test_the_files_that_pin_vendored_packages_are_in_the_key(root):
    go_root(root, "a" * 64)
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    before = compute_keys(graph, root.path)["app"].key
    go_root(root, "b" * 64)
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    assert compute_keys(graph, root.path)["app"].key != before


def test_yarn_packages_are_checked_and_copied_into_the_offline_mirror(root, tmp_path):
    data = b"a tarball of left-pad"
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    root.write("software/app/yarn.lock", f'''# yarn lockfile v1


left-pad@^1.3.0:
  version "1.3.0"
  resolved "@@NPM_REGISTRY@@/left-pad/-/left-pad-1.3.0.tgz"
  integrity {integrity}
''')
    software_vendored = Vendored(yarn_lock="software/app/yarn.lock")
    cache_dir = tmp_path / "cache"
    (cache_dir / vendored.NPM_CACHE).mkdir(parents=True)
    (cache_dir / vendored.NPM_CACHE / "left-pad-1.3.0.tgz").write_bytes(data)
    root.software("app", extra="vendored:\n  yarn_lock: software/app/yarn.lock\n")
    software = load_catalog(root.path).software["app"]
    assert software.vendored == software_vendored
    source = tmp_path / "src"
    source.mkdir()
    vendored.place_vendored(software, root.path, cache_dir, source)
    assert (source / vendored.YARN_MIRROR / "left-pad-1.3.0.tgz").read_bytes() == data
    (cache_dir / vendored.NPM_CACHE / "left-pad-1.3.0.tgz").write_bytes(b"tampered")
    with pytest.raises(FetchError):
        vendored.place_vendored(software, root.path, cache_dir, tmp_path / "again")


def test_apt_mirrors_are_the_deb_entries_apt_reads(tmp_path):
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(
        "deb [arch=amd64] http://one.example.test/debian bookworm main\n"
        "deb-src http://src.example.test/debian bookworm main\n")
    (etc / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://two.example.test/debian\nSuites: bookworm\nComponents: main\n"
        "\nTypes: deb\nURIs: http://off.example.test/\nSuites: x\nComponents: main\n"
        "Enabled: no\n")
    assert sorted(apt_mirrors(etc)) == ["http://one.example.test/debian",
                                        "http://two.example.test/debian"]


def test_a_debian_package_unpacks_without_dpkg_and_links_into_root_are_inlined(tmp_path):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text("Package: t\nVersion: 1\nArchitecture: all\n"
                                         "Maintainer: t <t@example.test>\nDescription: t\n")
    (tree / "usr/share/tool/src").mkdir(parents=True)
    (tree / "usr/share/tool/src/main.txt").write_text("source\n")
    (tree / "usr/lib/tool/bin").mkdir(parents=True)
    (tree / "usr/lib/tool/bin/tool").write_text("#!/bin/sh\n")
    (tree / "usr/lib/tool/src").symlink_to("../../share/tool/src")
    deb = tmp_path / "t.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zxz", str(tree), str(deb)], check=True,
                   capture_output=True)
    assert data_archive(deb, tmp_path / "data").read_bytes()[:6] == b"\xfd7zXZ\x00"
    target = tmp_path / "unpacked"
    _unpack([deb], target, "usr/lib/tool")
    src = target / "usr/lib/tool/src"
    assert not src.is_symlink() and (src / "main.txt").read_text() == "source\n"
    with pytest.raises(Exception, match="not a Debian package"):
        data_archive(tmp_path / "data", tmp_path / "other")
