"""`omnibus image package`: which package it takes, and its refusals before docker runs;
the tag and labels it gives (the image itself: tests/integration/test_image.py)."""

from __future__ import annotations

import json

import pytest

from builder.cli.main import main
from builder.image.allinone import image_tag, read_package


def package_with_sidecar(directory, name="demo", version="1.2.3", iteration="ce.0",
                         arch="amd64", platform="debian-12"):
    deb = directory / f"{name}_{version}-{iteration}_{arch}.deb"
    deb.write_bytes(b"not really a deb")
    (directory / f"{deb.name}.metadata.json").write_text(json.dumps(
        {"basename": deb.name, "name": name, "version": version, "iteration": iteration,
         "arch": arch, "platform": platform}))
    return deb


@pytest.fixture
def demo(root):
    root.software("zlib")
    root.project("demo", ["zlib"])
    return root


@pytest.mark.parametrize(("arguments", "message"), [
    (["demo", "MISSING"], "no such package file"),
    (["other", "DEB"], "is a package of demo, not of other"),
    (["demo", "--platform", "el-9"], "el-9 makes rpm packages"),
    (["demo", "--arch", "armhf"], "does not support arch 'armhf'"),
    (["demo", "--from", "EMPTY"], "no .deb of demo for debian-12/amd64"),
    (["nope"], "unknown project 'nope'"),
])
def test_bad_arguments_are_refused_before_docker_runs(demo, tmp_path, capsys, arguments,
                                                      message):
    (tmp_path / "empty").mkdir()
    deb = package_with_sidecar(tmp_path)
    other = demo.path / "projects" / "other.yml"
    other.write_text((demo.path / "projects" / "demo.yml").read_text().replace(
        "name: demo", "name: other"))
    swapped = [{"MISSING": str(tmp_path / "missing.deb"), "DEB": str(deb),
                "EMPTY": str(tmp_path / "empty")}.get(arg, arg) for arg in arguments]
    assert main(["image", "package", *swapped, "--root", str(demo.path)]) == 2
    assert message in capsys.readouterr().err


def test_the_tag_and_the_sbom_come_from_the_package_and_its_sidecars(tmp_path):
    deb = package_with_sidecar(tmp_path, version="1.2.3+rnightly.7.abcdef12", iteration="0")
    (tmp_path / "demo_1.2.3+rnightly.7.abcdef12-0.spdx.json").write_text("{}")
    package = read_package(deb)
    assert package.version == "1.2.3+rnightly.7.abcdef12-0"
    assert package.sbom == tmp_path / "demo_1.2.3+rnightly.7.abcdef12-0.spdx.json"
    assert image_tag(package, "arm64") == "demo:1.2.3-rnightly.7.abcdef12-0-arm64"
