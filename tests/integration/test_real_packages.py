"""lintian and rpmlint on the real gitlab-local packages that `./dev build` wrote into pkg/
(not a stand-in): no errors, and no warnings but what the package's overrides explain.

The cold build of those packages takes 20-40 minutes, which CI has no time for: without
them every test here is skipped, saying so. `./dev build` runs the same checks on every
package it writes (tasks.py), so they run on the real artifact whenever a user builds it.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from builder.app.lint import built_packages, export_key, lintian, rpmlint
from builder.definitions.loader import load_catalog
from builder.package.healthcheck import read_elf
from tests.conftest import REPO

pytestmark = pytest.mark.integration
PROJECT, PLATFORM, ARCH = "gitlab-local", "debian-12", "amd64"
RPMLINTRC = REPO / "templates" / "package" / "rpmlintrc"
LOCAL_GNUPG = REPO / "cache" / "gnupg"
LOCAL_KEY = "local-repository@omnibus.invalid"


@pytest.fixture(scope="module")
def packages() -> dict[str, Path]:
    found = built_packages(REPO, PROJECT, PLATFORM, ARCH, ["deb", "rpm"])
    missing = [path.name for path in found.values() if not path.is_file()]
    if missing:
        pytest.skip(f"no real {PROJECT} package in pkg/ ({', '.join(missing)}): `./dev build` "
                    "makes them (20-40 minutes cold), then these tests check them")
    return found


def signing_key() -> tuple[str, str | None]:
    """The key `./dev build` signed with: $OMNIBUS_SIGN_KEY, else its local one."""
    if os.environ.get("OMNIBUS_SIGN_KEY"):
        return os.environ["OMNIBUS_SIGN_KEY"], None
    return LOCAL_KEY, str(LOCAL_GNUPG)


def test_lintian_reports_no_errors_and_no_unexplained_warnings(packages):
    report = lintian(packages["deb"])
    assert report.errors == 0 and report.warnings == 0, report.summary() + "\n" + \
        "\n".join(report.lines)
    # only lintian 2.116's reading of zstd member names is set aside, nothing else
    assert all("malformed-deb-archive" in line and ".tar.zst not " in line
               for line in report.set_aside)


def test_rpmlint_reports_no_errors_and_no_unexplained_warnings(packages):
    key, home = signing_key()
    report = rpmlint(packages["rpm"], RPMLINTRC, export_key(key, home))
    assert report.errors == 0 and report.warnings == 0, report.summary() + "\n" + report.output
    assert "0 errors, 0 warnings" in report.output


def deb_field(package: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(package), name], check=True,
                          capture_output=True, text=True).stdout.strip()


def highest_glibc(tree: Path) -> tuple[int, ...]:
    """The highest GLIBC_ version any ELF file under `tree` needs, read here file by file."""
    highest: tuple[int, ...] = ()
    for directory, _dirs, files in os.walk(tree):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                facts = read_elf(path)
                if facts is not None:
                    highest = max(highest, facts.glibc)
    return highest


def test_both_packages_need_the_c_library_their_binaries_need(packages, tmp_path):
    subprocess.run(["dpkg-deb", "--extract", str(packages["deb"]), str(tmp_path)], check=True)
    needed = ".".join(map(str, highest_glibc(tmp_path / "opt" / "gitlab")))
    platform = load_catalog(REPO).platforms[PLATFORM]
    assert tuple(map(int, needed.split("."))) <= tuple(map(int, platform.glibc.split(".")))
    depends = [d.strip() for d in deb_field(packages["deb"], "Depends").split(",")]
    assert f"libc6 (>= {needed})" in depends and "libc6" not in depends
    requires = subprocess.run(["rpm", "-qp", "--requires", str(packages["rpm"])], check=True,
                              capture_output=True, text=True).stdout.splitlines()
    assert f"libc.so.6(GLIBC_{needed})(64bit)" in requires
    assert [r for r in requires if r.startswith("libc.so.6")] == [
        f"libc.so.6(GLIBC_{needed})(64bit)"]


def test_the_packages_ship_no_bytecode_and_no_template_sources(packages):
    listing = subprocess.run(["dpkg-deb", "--contents", str(packages["deb"])], check=True,
                             capture_output=True, text=True).stdout
    assert "__pycache__" not in listing and ".pyc" not in listing
    assert "/gitlab_ctl/templates/" not in listing and ".j2" not in listing
    assert "/gitlab_ctl/templates_compiled/" in listing
    for gone in ("idlelib/", "turtledemo/", "site-packages/pkg_resources/",
                 "site-packages/_distutils_hack/", "distutils-precedence.pth", "distlib/t64.exe"):
        assert gone not in listing, gone
    rpm_files = subprocess.run(["rpm", "-qlp", str(packages["rpm"])], check=True,
                               capture_output=True, text=True).stdout
    assert "__pycache__" not in rpm_files and ".j2\n" not in rpm_files
    # no absolute link stays inside /opt/gitlab
    assert not re.search(r" -> /opt/gitlab", listing)


def test_what_is_written_beside_the_packages_is_world_readable(packages):
    out = packages["deb"].parent
    name = PROJECT
    written = [path for path in out.iterdir() if path.name.startswith(name)
               and not path.name.startswith(".")]
    metadata = json.loads(packages["deb"].with_name(packages["deb"].name
                                                    + ".metadata.json").read_text())
    assert metadata["name"] == PROJECT
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in written}
    assert {mode for mode in modes.values()} == {0o644}, modes
