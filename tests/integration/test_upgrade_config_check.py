"""The package scripts' config check, through real upgrades with apt and with dnf: a gitlab.rb
setting that the new version no longer reads (git_data_dirs, removed in GitLab 18.0) stops
the upgrade from 17.11.0 to 18.0.0 before any file changes, naming the line; the old version
keeps running. With /etc/gitlab/skip-fail-config-check the upgrade goes through (and still
lists the setting).

The packages are the lifecycle project's (tests/integration/conftest.py: our gitlab-ctl and
maintainer scripts; Debian 12's PostgreSQL, Redis, nginx and runit standing in for the
bundled builds, see test_lifecycle.py), packaged as 17.11.0 and 18.0.0, .deb and .rpm, from
the one build. No rpm distribution's image can be made here: the rpm is installed with
Debian's rpm and dnf in the Debian 12 container, where a stand-in rpm made with rpmbuild
declares the Debian packages apt installed, which rpm's database does not list.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from builder.app.lint import lintian, rpmlint
from tests.conftest import REPO
from tests.integration.conftest import LIFECYCLE_PROJECT as PROJECT
from tests.integration.conftest import NEW as LIFECYCLE_NEW
from tests.integration.conftest import OLD as LIFECYCLE_OLD
from tests.integration.runtime_host import debian_image
from tests.rpm_on_debian import HOST_PROVIDES_RPM, build_host_provides

pytestmark = pytest.mark.integration

OLD, NEW = "17.11.0", "18.0.0"
EXTERNAL_URL = "http://gitlab.example.test"
REMOVED_SETTING = 'git_data_dirs({ "default" => { "path" => "/var/opt/gitlab/git-data" } })'
#: Files the refused upgrade must leave as they were: the manifest and a gitlab-ctl module.
WATCHED = ("/opt/gitlab/version-manifest.json",
           "/opt/gitlab/embedded/service/gitlab-ctl/gitlab_ctl/commands/table.py")
#: A directory of the package, given away before the upgrades: the deb's postinst makes it
#: root's again, as omnibus-gitlab's does.
CHOWNED = "/opt/gitlab/embedded/service/gitlab-ctl/gitlab_ctl/commands"
DNF = "dnf -y --releasever=12 --setopt=install_weak_deps=False"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          **kwargs)


def sh(container: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """`script` in the container; stdout holds its stdout and stderr, in order."""
    result = docker("exec", container, "sh", "-c", f"({script}) 2>&1", check=False,
                    timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{script!r} exited {result.returncode}:\n{result.stdout}")
    return result


@pytest.fixture(scope="module")
def packages(lifecycle_build) -> dict[str, Path]:
    return {f"{name}.{fmt}": lifecycle_build.package(version, fmt,
                                                     lifecycle_build.base / f"{version}-{fmt}")
            for name, version in (("old", OLD), ("new", NEW)) for fmt in ("deb", "rpm")}


@pytest.fixture(scope="module")
def host_image(packages) -> str:
    """Debian 12 with what the packages depend on, and Debian's rpm and dnf: made once."""
    depends = subprocess.run(["dpkg-deb", "-f", str(packages["old.deb"]), "Depends"],
                             capture_output=True, text=True, check=True).stdout
    names = sorted({re.split(r"[\s(]", item.strip())[0] for item in depends.split(",")})
    return debian_image("gitlab-ctl-test/debian-12-upgrades",
                        " ".join([*names, "rpm", "dnf"]), keep_policy=False)


def start(image: str, packages: dict[str, Path], fmt: str):
    name = docker("run", "-d", "--hostname", "gitlab", image, "sleep", "infinity"
                  ).stdout.strip()
    for version in ("old", "new"):
        docker("cp", str(packages[f"{version}.{fmt}"]), f"{name}:/tmp/{version}.{fmt}")
    return name


def install_old_with_a_removed_setting(container: str, install: str) -> int:
    """Install the old package, add the removed setting to gitlab.rb and reconfigure (the
    old version runs with it); the setting's line number."""
    sh(container, f"EXTERNAL_URL={EXTERNAL_URL} {install}")
    line = int(sh(container, "wc -l < /etc/gitlab/gitlab.rb").stdout) + 1
    sh(container, f"echo '{REMOVED_SETTING}' >> /etc/gitlab/gitlab.rb && "
                  f"chown nobody {CHOWNED} && gitlab-ctl reconfigure")
    return line


def snapshot(container: str) -> dict[str, str]:
    """The watched files' checksums and the services' pids."""
    sums = sh(container, "sha256sum " + " ".join(WATCHED)).stdout
    status = sh(container, "gitlab-ctl status").stdout
    return {"sums": sums,
            "pids": " ".join(re.findall(r"^run: \S+ \(pid \d+\)", status, re.MULTILINE))}


def assert_refused(container: str, result: subprocess.CompletedProcess, line: int,
                   before: dict[str, str]) -> None:
    output = result.stdout
    assert result.returncode != 0, output[-4000:]
    assert (f"* /etc/gitlab/gitlab.rb:{line}: git_data_dirs has been deprecated since 17.8 "
            "and was removed in 18.0.") in output, output[-4000:]
    assert "Deprecations found. Please correct them and try again." in output
    assert "gitlab.rb needs changes before 18.0.0 (above): the upgrade was stopped." in output
    assert "Configuration backup archive complete" not in output  # stopped before the backup
    assert snapshot(container) == before  # no file changed, no service restarted
    assert sh(container, "gitlab-ctl status").returncode == 0
    assert sh(container, f"stat -c %U {CHOWNED}").stdout.strip() == "nobody"


def assert_upgraded_with_the_skip_file(container: str, upgrade: str, line: int) -> str:
    sh(container, "touch /etc/gitlab/skip-fail-config-check")
    result = sh(container, upgrade, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    # listed, not refused
    assert f"* /etc/gitlab/gitlab.rb:{line}: git_data_dirs has been deprecated" in result.stdout
    assert '"build_version": "18.0.0"' in sh(container, f"cat {WATCHED[0]}").stdout
    assert sh(container, "gitlab-ctl status").returncode == 0
    return result.stdout


def test_apt_refuses_the_upgrade_naming_the_line_and_the_old_version_keeps_running(
        host_image, packages):
    container = start(host_image, packages, "deb")
    try:
        apt = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q"
        line = install_old_with_a_removed_setting(container, f"{apt} /tmp/old.deb")
        before = snapshot(container)
        assert_refused(container, sh(container, f"{apt} /tmp/new.deb", check=False), line,
                       before)
        installed = sh(container, f"dpkg-query -W -f '${{Version}} ${{Status}}' {PROJECT}")
        assert installed.stdout == f"{OLD}-ce.0 install ok installed"
        assert_upgraded_with_the_skip_file(container, f"{apt} /tmp/new.deb", line)
        installed = sh(container, f"dpkg-query -W -f '${{Version}} ${{Status}}' {PROJECT}")
        assert installed.stdout == f"{NEW}-ce.0 install ok installed"
        # postinst: the package's directories are root's again
        assert sh(container, f"stat -c %U {CHOWNED}").stdout.strip() == "root"
    finally:
        docker("rm", "-f", container, check=False)


def test_dnf_refuses_the_upgrade_naming_the_line_and_the_old_version_keeps_running(
        host_image, packages):
    container = start(host_image, packages, "rpm")
    try:
        requires = [item.split()[0] for item in sh(
            container, "rpm -qp --requires /tmp/old.rpm /tmp/new.rpm").stdout.splitlines()
            if item]
        sh(container, f"{build_host_provides(requires)} && {DNF} install {HOST_PROVIDES_RPM}")
        line = install_old_with_a_removed_setting(container, f"{DNF} install /tmp/old.rpm")
        before = snapshot(container)
        assert_refused(container, sh(container, f"{DNF} install /tmp/new.rpm", check=False),
                       line, before)
        assert sh(container, f"rpm -q {PROJECT}").stdout.strip() == \
            f"{PROJECT}-{OLD}-ce.0.x86_64"
        assert_upgraded_with_the_skip_file(container, f"{DNF} install /tmp/new.rpm", line)
        assert sh(container, f"rpm -q {PROJECT}").stdout.strip() == \
            f"{PROJECT}-{NEW}-ce.0.x86_64"
    finally:
        docker("rm", "-f", container, check=False)


def test_lintian_and_rpmlint_pass_the_packages_with_the_new_scripts(packages):
    deb = lintian(packages["new.deb"])
    assert deb.errors == 0 and deb.warnings == 0, deb.summary() + "\n" + "\n".join(deb.lines)
    # The rpmlintrc is gitlab-local's (its filters for the real builds go unused here); the
    # lifecycle rpm is unsigned and, with Debian's programs standing in, has no binary.
    # Nothing else, and nothing about the scriptlets.
    rpm = rpmlint(packages["new.rpm"], REPO / "templates" / "package" / "rpmlintrc")
    assert {tag for _severity, tag in rpm.tags} <= {"unused-rpmlintrc-filter", "no-signature",
                                                   "no-binary"}, rpm.output


def test_the_lifecycle_pair_other_tests_install_is_unchanged(packages, lifecycle_packages):
    """This module packages other versions from the same build: test_lifecycle's 1.0.0 and
    1.1.0 are still what they were, whichever fixture ran first."""
    assert {name: path.name for name, path in lifecycle_packages.items()} == {
        "old": f"{PROJECT}_{LIFECYCLE_OLD}_amd64.deb",
        "new": f"{PROJECT}_{LIFECYCLE_NEW}_amd64.deb"}
    for name, path in lifecycle_packages.items():
        version = subprocess.run(["dpkg-deb", "-f", str(path), "Version"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        assert version == {"old": LIFECYCLE_OLD, "new": LIFECYCLE_NEW}[name]
