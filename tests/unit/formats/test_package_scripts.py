"""Maintainer scripts: golden renderings, shell syntax, and the upgrade-stop check run by sh."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.formats import FORMATS
from builder.formats.scripts import render_scripts, template_environment
from builder.package.version import PackageVersion
from tests.conftest import REPO
from tests.packaging_helpers import check_golden

VERSION = PackageVersion("17.5.0", "ce.0", "17.5")


@pytest.fixture(scope="module")
def project():
    return load_catalog(REPO).projects["gitlab-local"]


@pytest.mark.parametrize("package_format", ["deb", "rpm"])
def test_scripts_are_golden_and_valid_sh(project, package_format, tmp_path):
    scripts = render_scripts(REPO, project, VERSION, FORMATS[package_format])
    assert sorted(scripts) == sorted(FORMATS[package_format].scripts)
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
    script.write_text(render_scripts(REPO, local, VERSION, FORMATS[package_format])["preinst"])
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


def python_tree(tmp_path: Path) -> Path:
    """An install dir with an embedded python3 (this interpreter) and modules to compile."""
    install_dir = tmp_path / "opt" / "gitlab"
    (install_dir / "embedded" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, install_dir / "embedded" / "bin" / "python3")
    lib = install_dir / "embedded" / "lib" / "python3.13"
    (lib / "site-packages" / "pkg").mkdir(parents=True)
    (lib / "base64.py").write_text("def encode():\n    return 1\n")
    (lib / "site-packages" / "pkg" / "__init__.py").write_text("")
    ctl = install_dir / "embedded" / "service" / "gitlab-ctl" / "gitlab_ctl"
    ctl.mkdir(parents=True)
    (ctl / "cli.py").write_text("print('hi')\n")
    # a cache of a module the new version no longer has, and one written outside the trees
    (lib / "__pycache__").mkdir()
    (lib / "__pycache__" / "gone.cpython-313.pyc").write_bytes(b"stale")
    (install_dir / "embedded" / "share" / "__pycache__").mkdir(parents=True)
    return install_dir


def caches(install_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(install_dir)) for p in install_dir.rglob("*.pyc"))


def run_script(project, tmp_path: Path, package_format: str, name: str, install_dir: Path,
               *args: str) -> subprocess.CompletedProcess:
    local = dataclasses.replace(project, install_dir=str(install_dir), ctl_commands=())
    script = tmp_path / name
    script.write_text(render_scripts(REPO, local, VERSION, FORMATS[package_format])[name])
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True)


def compile_caches(project, tmp_path: Path, package_format: str, name: str,
                   install_dir: Path) -> subprocess.CompletedProcess:
    """The script's compile_python_caches (its own text, found in the rendered script), run
    alone: the whole postinst would also link /usr/bin and write /etc/gitlab."""
    environment = template_environment(REPO / "templates" / project.package_scripts)
    functions = environment.get_template("python_caches.sh.j2").render(compile_caches=True)
    local = dataclasses.replace(project, install_dir=str(install_dir))
    assert functions in render_scripts(REPO, local, VERSION, FORMATS[package_format])[name]
    script = tmp_path / f"{name}-compile"
    script.write_text(f"set -e\nDEST_DIR={install_dir}\nnotify() {{ echo \"$*\"; }}\n"
                      f"{functions}compile_python_caches\n")
    return subprocess.run(["sh", str(script)], capture_output=True, text=True)


@pytest.mark.parametrize(("package_format", "name"), [("deb", "postinst"), ("rpm", "posttrans")])
def test_the_scripts_compile_the_python_trees_with_hash_checked_caches(project, tmp_path,
                                                                       package_format, name):
    install_dir = python_tree(tmp_path)
    result = compile_caches(project, tmp_path, package_format, name, install_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    tag = sys.implementation.cache_tag
    assert caches(install_dir) == [
        f"embedded/lib/python3.13/__pycache__/base64.{tag}.pyc",
        f"embedded/lib/python3.13/site-packages/pkg/__pycache__/__init__.{tag}.pyc",
        f"embedded/service/gitlab-ctl/gitlab_ctl/__pycache__/cli.{tag}.pyc"]
    for cache in caches(install_dir):  # flags: hash-based, checked against the source
        assert (install_dir / cache).read_bytes()[4] == 0b11
    assert not (install_dir / "embedded" / "share" / "__pycache__").exists()


@pytest.mark.parametrize(("package_format", "args"), [("deb", ("remove",)),
                                                      ("deb", ("upgrade", "17.5.1-ce.0")),
                                                      ("rpm", ("0",)), ("rpm", ("1",))])
def test_prerm_removes_the_compiled_caches_on_removal_and_upgrade(project, tmp_path,
                                                                  package_format, args):
    install_dir = python_tree(tmp_path)
    compile_caches(project, tmp_path, "deb", "postinst", install_dir)
    assert caches(install_dir)
    result = run_script(project, tmp_path, package_format, "prerm", install_dir, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(install_dir.rglob("__pycache__")) == []
    assert (install_dir / "embedded" / "lib" / "python3.13" / "base64.py").is_file()


def test_a_package_without_python_compiles_nothing(project, tmp_path):
    install_dir = tmp_path / "opt" / "gitlab"
    install_dir.mkdir(parents=True)
    result = compile_caches(project, tmp_path, "deb", "postinst", install_dir)
    assert result.returncode == 0 and result.stdout == ""


#: A stand-in for the installed gitlab-ctl: logs its arguments; `check-config --version`
#: exits CHECK_EXIT; its --help says --no-fail only when NEW is set (a current gitlab-ctl).
FAKE_CTL = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "check-config --help") echo "usage: gitlab-ctl check-config [--strict]"
                         [ -z "$NEW" ] || echo "  -n, --no-fail"; exit 0 ;;
  check-config*) echo "* gitlab.rb:2: git_data_dirs was removed"; exit "$CHECK_EXIT" ;;
esac
"""


def preinst_with_ctl(project, tmp_path: Path, package_format: str, args: tuple[str, ...],
                     env: dict[str, str], monkeypatch
                     ) -> tuple[subprocess.CompletedProcess, list[str]]:
    ctl = tmp_path / "opt" / "gitlab" / "bin" / "gitlab-ctl"
    ctl.parent.mkdir(parents=True)
    ctl.write_text(FAKE_CTL)
    ctl.chmod(0o755)
    (ctl.parent / "calls").touch()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = run_preinst(project, tmp_path, package_format, "17.4.0", *args)
    return result, (ctl.parent / "calls").read_text().splitlines()


UPGRADES = [("deb", ("upgrade", "17.4.0-ce.0")), ("rpm", ("2",))]


@pytest.mark.parametrize(("package_format", "args"), UPGRADES)
def test_removed_settings_stop_the_upgrade_before_the_backup(project, tmp_path, monkeypatch,
                                                             package_format, args):
    result, calls = preinst_with_ctl(project, tmp_path, package_format, args,
                                     {"NEW": "1", "CHECK_EXIT": "1"}, monkeypatch)
    assert result.returncode == 1
    assert "* gitlab.rb:2: git_data_dirs was removed" in result.stdout
    assert "gitlab.rb needs changes before 17.5.0 (above): the upgrade was stopped. " \
        "Nothing was changed." in result.stdout
    assert calls == ["check-config --help", "check-config --version=17.5"]  # no backup-etc


@pytest.mark.parametrize(("package_format", "args"), UPGRADES)
def test_a_clean_config_goes_on_to_the_backup(project, tmp_path, monkeypatch, package_format, args):
    result, calls = preinst_with_ctl(project, tmp_path, package_format, args,
                                     {"NEW": "1", "CHECK_EXIT": "0"}, monkeypatch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == ["check-config --help", "check-config --version=17.5",
                     "backup-etc --no-delete-old-backups"]


def test_a_gitlab_ctl_without_check_config_version_is_skipped_and_said(project, tmp_path,
                                                                     monkeypatch):
    result, calls = preinst_with_ctl(project, tmp_path, "deb", ("upgrade", "17.4.0-ce.0"),
                                     {"CHECK_EXIT": "1"}, monkeypatch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The installed gitlab-ctl has no 'check-config --version': skipped checking " \
        "gitlab.rb for settings removed in 17.5." in result.stdout
    assert calls == ["check-config --help", "backup-etc --no-delete-old-backups"]


def test_a_first_install_runs_no_config_check(project, tmp_path, monkeypatch):
    result, calls = preinst_with_ctl(project, tmp_path, "deb", ("install",),
                                     {"NEW": "1", "CHECK_EXIT": "1"}, monkeypatch)
    assert result.returncode == 0 and calls == []
