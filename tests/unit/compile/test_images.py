"""Builder image inputs: tags follow their inputs; bootstrap sources come from apt's own."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from builder.compile.builder_images import (
    _without_suites,
    base_sources,
    base_tag,
    builder_tag,
    install_command,
    write_image_archive,
)
from builder.definitions.loader import load_catalog
from tests.unit.sources.test_aptsources import DEB822, etc_with


def test_bootstrap_sources_follow_the_platform_release(root, tmp_path):
    etc = etc_with(tmp_path, DEB822)
    path = root.path / "platforms/debian-12.yml"
    path.write_text(path.read_text() + "bootstrap_suite: trixie\n")
    platform = load_catalog(root.path).platforms["debian-12"]
    sources = base_sources(platform, etc)
    assert "Suites: trixie trixie-updates\n" in sources
    assert "Suites: trixie-security\n" in sources
    assert "disabled.example.test" not in sources
    trimmed = _without_suites(sources, {"trixie-security"})
    assert "security" not in trimmed and "Suites: trixie trixie-updates" in trimmed
    assert base_tag(platform, "arm64", sources) != base_tag(platform, "arm64", trimmed)
    assert base_tag(platform, "arm64", sources) != base_tag(platform, "amd64", sources)


def test_builder_tag_follows_recipe_base_and_packages(root):
    root.write("Dockerfile.builder", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    platform = load_catalog(root.path).platforms["debian-12"]
    first = builder_tag(platform, "amd64", root.path, "base:1")
    assert first.startswith("omnibus-builder/debian-12:amd64-")
    assert builder_tag(platform, "amd64", root.path, "base:2") != first
    root.write("Dockerfile.builder", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n")
    assert builder_tag(platform, "amd64", root.path, "base:1") != first
    assert install_command(platform) == "apt-get install -y "  # the fixture has no packages


@pytest.mark.parametrize(("platform", "arch", "variant"), [
    ("linux/arm64", "arm64", None), ("linux/arm/v7", "arm", "v7"), ("linux/amd64", "amd64", None)])
def test_a_base_image_records_its_own_arch(tmp_path, platform, arch, variant):
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tree:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 3
        tree.addfile(info, io.BytesIO(b"gl\n"))
    write_image_archive(rootfs, "omnibus-base/x:tag", platform, tmp_path / "image.tar")
    with tarfile.open(tmp_path / "image.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["omnibus-base/x:tag"]
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        layer = archive.extractfile(manifest[0]["Layers"][0]).read()
    assert (config["os"], config["architecture"], config.get("variant")) == ("linux", arch,
                                                                             variant)
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert layer == rootfs.read_bytes()
