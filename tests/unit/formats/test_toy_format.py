"""A package format is one folder: the toy format (tests/unit/formats/toyformat/), once in
the registry, is written by `package_project` exactly as deb and rpm are, found beside the
packages by its extension, and refused by `publish` for want of a repository. And everything
that lists formats follows the registry."""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile

import pytest

from builder.app.package import PackageSettings, package_project
from builder.ci.pipeline import generate_pipeline
from builder.cli.args import _formats
from builder.compile.artifacts import store
from builder.compile.cache import ArtifactCache
from builder.definitions.loader import load_catalog
from builder.definitions.model import PACKAGE_FORMATS
from builder.errors import UsageError
from builder.formats import FORMATS, format_named
from builder.package.version import BuildIdentity
from builder.publish import publisher
from builder.publish.packages import packages_for
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from tests.conftest import REPO
from tests.packaging_helpers import EPOCH
from tests.unit.formats import toyformat

PROJECT = """\
name: demo
description: |-
  Demonstration package
  One script, packaged in a toy format.
maintainer: Test <t@example.test>
homepage: https://example.test/
license: MIT
edition: ce
version: {value: 1.2.3}
install_dir: /opt/demo
dependencies: [hello]
"""


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(FORMATS, toyformat.FORMAT.name, toyformat.FORMAT)
    return toyformat.FORMAT


@pytest.fixture
def demo(root, tmp_path):
    """A built project: its one artifact in the cache, its scripts' template in place."""
    root.write("software/hello.yml", 'name: hello\nversion: "1.0"\nlicense: MIT\n'
               "build:\n  - make install\n")
    root.write("projects/demo.yml", PROJECT)
    root.write("templates/package/postinst.j2", "#!/bin/sh\necho {{ name }} as {{ format }}\n")
    shutil.copy(REPO / "platforms" / "debian-12.yml", root.path / "platforms")
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    keys = compute_keys(graph, root.path)
    cache = ArtifactCache(tmp_path / "cache")
    upper = tmp_path / "upper"
    (upper / "bin").mkdir(parents=True)
    (upper / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    (upper / "bin" / "hello").chmod(0o755)
    store(cache, keys["hello"].key, upper, {"name": "hello"}, EPOCH)
    return graph, keys, cache


def test_a_format_in_one_folder_is_written_by_package_project(toy, demo, root, tmp_path):
    graph, keys, cache = demo
    settings = PackageSettings(root.path, cache.root, tmp_path / "pkg", ("toy",),
                               BuildIdentity(), EPOCH, threads=1)
    [package] = package_project(graph, keys, {}, settings)
    assert package.name == "demo-1.2.3-ce.0.x86_64.tar.gz"  # its file name, its arch name
    with tarfile.open(package) as tar:
        assert tar.extractfile("./.toy/postinst").read() == b"#!/bin/sh\necho demo as toy\n"
        assert tar.extractfile("./.toy/VERSION").read() == b"demo 1.2.3-ce.0\n"
        names = tar.getnames()
    assert {"./opt/demo/bin/hello", "./opt/demo/version-manifest.json"} <= set(names)
    metadata = json.loads(package.with_name(package.name + ".metadata.json").read_text())
    assert metadata["arch"] == "x86_64" and metadata["basename"] == package.name
    assert packages_for(settings.out_dir, "demo", graph.platform, "toy") == [package]
    # again: up to date, nothing written
    assert package_project(graph, keys, {}, settings) == [package]


def test_a_format_without_a_repository_is_not_published(toy):
    with pytest.raises(UsageError, match="no repository") as error:
        publisher("toy")
    assert error.value.hint == "formats with a repository: deb, rpm"


def test_the_cli_takes_the_formats_of_the_registry(toy):
    assert _formats("rpm,toy") == ("rpm", "toy")
    with pytest.raises(argparse.ArgumentTypeError, match="formats are deb, rpm and toy"):
        _formats("tgz")


def test_the_registry_is_the_folders_of_builder_formats():
    assert tuple(FORMATS) == PACKAGE_FORMATS == ("deb", "rpm")
    assert {name: f.extension for name, f in FORMATS.items()} == {"deb": ".deb", "rpm": ".rpm"}
    assert FORMATS["rpm"].scripts == ("preinst", "postinst", "prerm", "postrm", "posttrans")
    with pytest.raises(UsageError, match="'tgz' is not a package format"):
        format_named("tgz")


def test_ci_publish_jobs_take_kind_and_extension_from_the_registry():
    pipeline = generate_pipeline(load_catalog(REPO), ["gitlab-ce"])
    publish = {name: job for name, job in pipeline.items() if name.startswith("publish:")}
    assert "publish:gitlab-ce:debian-12:apt" in publish
    assert "publish:gitlab-ce:el-9:yum" in publish
    assert "/*/*.rpm --platform el-9" in publish["publish:gitlab-ce:el-9:yum"]["script"][0]
