"""`omnibus publish`: which packages it takes, and its refusals before anything is written."""

from __future__ import annotations

import json

import pytest

from builder.cli.main import main
from builder.definitions.loader import load_catalog
from builder.publish.packages import packages_for


def sidecar(directory, basename, name, platform):
    (directory / basename).write_bytes(b"package")
    (directory / f"{basename}.metadata.json").write_text(json.dumps(
        {"basename": basename, "name": name, "platform": platform}))


def test_packages_are_chosen_by_their_metadata(root, tmp_path):
    platform = load_catalog(root.path).platforms["debian-12"]
    sidecar(tmp_path, "demo_1.0-0_amd64.deb", "demo", "debian-12")
    sidecar(tmp_path, "demo_1.1-0_arm64.deb", "demo", "debian-12")
    sidecar(tmp_path, "demo_1.0-0_amd64-el.deb", "demo", "el-9")
    sidecar(tmp_path, "other_1.0-0_amd64.deb", "other", "debian-12")
    sidecar(tmp_path, "demo-1.0-0.el9.x86_64.rpm", "demo", "debian-12")
    assert [p.name for p in packages_for(tmp_path, "demo", platform, "deb")] == [
        "demo_1.0-0_amd64.deb", "demo_1.1-0_arm64.deb"]
    assert [p.name for p in packages_for(tmp_path, "demo", platform, "rpm")] == [
        "demo-1.0-0.el9.x86_64.rpm"]


def test_publishing_without_a_key_is_refused_and_writes_nothing(root, tmp_path, capsys,
                                                                monkeypatch):
    monkeypatch.delenv("OMNIBUS_SIGN_KEY", raising=False)
    root.software("zlib")
    root.project("demo", ["zlib"])
    assert main(["publish", "demo", "--root", str(root.path), "--repo",
                 str(tmp_path / "repo")]) == 2
    assert "repositories are always signed" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(("files", "message"), [
    (["missing.deb"], "no such package file"),
    (["x.rpm"], "debian-12's deb repository takes .deb files"),
])
def test_bad_package_arguments_are_refused(root, tmp_path, capsys, files, message):
    root.software("zlib")
    root.project("demo", ["zlib"])
    (tmp_path / "x.rpm").write_bytes(b"rpm")
    paths = [str(tmp_path / name) for name in files]
    assert main(["publish", "demo", *paths, "--root", str(root.path), "--repo",
                 str(tmp_path / "repo"), "--sign-key", "nobody"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()


def test_nothing_to_publish_says_how_to_build_it(root, tmp_path, capsys):
    root.software("zlib")
    root.project("demo", ["zlib"])
    assert main(["publish", "demo", "--root", str(root.path), "--repo", str(tmp_path / "r"),
                 "--from", str(tmp_path), "--sign-key", "nobody"]) == 2
    error = capsys.readouterr().err
    assert "no deb package of demo for debian-12" in error and "omnibus build demo" in error


def test_a_key_gpg_does_not_have_is_refused_before_anything_is_written(root, tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "empty-gnupg"))
    (tmp_path / "empty-gnupg").mkdir(mode=0o700)
    root.software("zlib")
    root.project("demo", ["zlib"])
    package = tmp_path / "demo_1.0-0_amd64.deb"
    package.write_bytes(b"not read: the key check comes first")
    assert main(["publish", "demo", str(package), "--root", str(root.path), "--repo",
                 str(tmp_path / "repo"), "--sign-key", "nobody@example.test"]) == 1
    assert "gpg cannot export the public key 'nobody@example.test'" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()
