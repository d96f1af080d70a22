"""Maintainer scripts: golden renderings, shell syntax, and the upgrade-stop check run by sh."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from builder.loader import load_catalog
from builder.packagefiles import SCRIPTS, render_scripts
from builder.version import PackageVersion
from tests.conftest import REPO
from tests.packaging_helpers import check_golden

VERSION = PackageVersion("17.5.0", "ce.0", "17.5")


@pytest.fixture(scope="module")
def project():
    return load_catalog(REPO).projects["gitlab-local"]


@pytest.mark.parametrize("package_format", ["deb", "rpm"])
def test_scripts_are_golden_and_valid_sh(project, package_format, tmp_path):
    scripts = render_scripts(REPO, project, VERSION, package_format)
    assert sorted(scripts) == sorted(SCRIPTS[package_format])
    for name, text in scripts.items():
        check_golden(f"gitlab-local.{package_format}.{name}", text)
        path = tmp_path / name
        path.write_text(text)
        subprocess.run(["sh", "-n", str(path)], check=True)
        assert text.startswith("#!/bin/sh\n")


def run_preinst(project, tmp_path: Path, package_format: str, old_version: str | None,
                *args: str) -> subprocess.CompletedProcess:
    install_dir = tmp_path / "opt" / "gitlab"
    install_dir.mkdir(parents=True, exist_ok=True)
    if old_version is not None:
        manifest = {"manifest_format": 2, "build_version": old_version, "software": {}}
        (install_dir / "version-manifest.json").write_text(json.dumps(manifest, indent=2))
    local = dataclasses.replace(project, install_dir=str(install_dir), upgrade_stop="17.2")
    script = tmp_path / "preinst"
    script.write_text(render_scripts(REPO, local, VERSION, package_format)["preinst"])
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True)


@pytest.mark.parametrize(("package_format", "args"), [("deb", ("upgrade", "16.11.0-ce.0")),
                                                      ("rpm", ("2",))])
def test_an_upgrade_skipping_the_stop_is_refused(project, tmp_path, package_format, args):
    result = run_preinst(project, tmp_path, package_format, "16.11.3", *args)
    assert result.returncode == 1
    assert "It is required to upgrade to the latest 17.2.x version first before proceeding " \
        "to 17.5.0." in result.stdout
    assert "Installed: 16.11.3" in result.stdout


@pytest.mark.parametrize("old", ["17.2.0", "17.4.1", "17.10.0"])
def test_upgrades_from_the_stop_or_later_pass(project, tmp_path, old):
    result = run_preinst(project, tmp_path, "deb", old, "upgrade", f"{old}-ce.0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dpkg_old_version_is_used_without_a_manifest(project, tmp_path):
    result = run_preinst(project, tmp_path, "deb", None, "upgrade", "17.1.9-ce.0")
    assert result.returncode == 1
    assert "Installed: 17.1.9-ce.0" in result.stdout


def test_a_first_install_is_never_refused(project, tmp_path):
    assert run_preinst(project, tmp_path, "deb", "1.0.0", "install").returncode == 0
    assert run_preinst(project, tmp_path, "rpm", "1.0.0", "1").returncode == 0
