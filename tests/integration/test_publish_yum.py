"""The yum repository read by the real dnf: served over HTTP on loopback, installed into an
empty root with both checks on (gpgcheck: package signatures, repo_gpgcheck: repomd.xml's
signature), then tampered with.

The toy package has maintainer scripts, so it requires /bin/sh, and an empty root has none
(rpmlib() requirements are rpm's own and need nothing). Rather than switch the scripts or the
dependency check off, the repository also carries `toy-shell`, built by our packager: the
host's dash as /bin/sh with the two libraries it loads. dnf finds the provider through the
file list in primary.xml (createrepo's rule puts every */bin/* path there), installs it
first, and rpm runs toy's scriptlets with it inside the root.
"""

from __future__ import annotations

import gzip
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.formats.meta import ExtraFile, Signing
from builder.formats.repofiles import detached_signature
from builder.formats.rpm import writer as rpm
from builder.formats.rpm.repository import publish
from builder.package.stage import make_stage
from builder.publish import PublishSettings
from tests.conftest import REPO
from tests.httpserver import serving_directory
from tests.packaging_helpers import make_gpg_key, toy_meta, toy_stage

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")  # as projects/*.yml name it

pytestmark = pytest.mark.integration
RPM_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(platform.machine(), "x86_64")
DATE = 1717200000


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    with serving_directory(root) as url:
        yield root, url


def _shell_files() -> tuple[ExtraFile, ...]:
    """The host's dash and the libraries ldd says it loads, at the same paths."""
    dash = Path(shutil.which("dash") or "/bin/dash")
    files = [ExtraFile("bin/sh", dash.read_bytes(), mode=0o755)]
    listing = subprocess.run(["ldd", str(dash)], check=True, capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            files.append(ExtraFile(path.lstrip("/"), Path(path).read_bytes(), mode=0o755))
    return tuple(files)


def _packages(tmp_path: Path, signing: Signing) -> list[Path]:
    out = tmp_path / "pkg"
    toy = rpm.build(toy_stage(tmp_path / "tree"),
                    toy_meta("rpm", arch=RPM_ARCH, depends=(), conflicts=(), replaces=(),
                             signing=signing), out)
    empty = tmp_path / "shell-layer"
    empty.mkdir()
    shell_stage = make_stage([("shell", empty, ())], "/opt/toy-shell", [],
                             tmp_path / "shell-stage")
    shell = rpm.build(shell_stage, toy_meta("rpm", name="toy-shell", arch=RPM_ARCH,
                                            depends=(), conflicts=(), replaces=(), scripts={},
                                            extra_files=_shell_files(), signing=signing), out)
    return [toy, shell]


@pytest.fixture
def published(tmp_path, server):
    served, url = server
    home = tmp_path / "gnupg"
    signing = Signing(make_gpg_key(home), home)
    platform_ = load_catalog(REPO).platforms["el-9"]
    settings = PublishSettings(served, platform_, signing, DATE, base_url=url, project=GITLAB)
    result = publish(_packages(tmp_path, signing), settings, lambda line: None)
    reposdir = tmp_path / "yum.repos.d"
    reposdir.mkdir()
    shutil.copy(result.repo_dir / "gitlab.repo", reposdir)
    (tmp_path / "dnf.conf").write_text("[main]\ngpgcheck=1\nrepo_gpgcheck=1\n"
                                       "install_weak_deps=False\n")
    yield result.repo_dir, tmp_path
    # gpg started an agent for each key home, ours and dnf's (its per-repository keyring).
    for gnupg_home in [home, tmp_path / "other-gnupg", *tmp_path.glob("*/cache/*/pubring")]:
        subprocess.run(["gpgconf", "--homedir", str(gnupg_home), "--kill", "gpg-agent"],
                       capture_output=True)


def dnf(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """dnf on its own root and cache (`name`), with nothing from the host's configuration."""
    assert shutil.which("dnf"), "dnf is not installed (Debian's dnf package; ./dev test)"
    command = ["dnf", "-y", "-c", str(tmp_path / "dnf.conf"),
               f"--installroot={tmp_path / name / 'root'}", "--releasever=9",
               f"--setopt=reposdir={tmp_path / 'yum.repos.d'}",
               f"--setopt=cachedir={tmp_path / name / 'cache'}", "--disableplugin=*", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_dnf_installs_from_the_signed_repository(published):
    _repo, tmp_path = published
    installed = dnf(tmp_path, "good", "install", "toy")
    output = installed.stdout + installed.stderr
    assert installed.returncode == 0, output
    root = tmp_path / "good" / "root"
    assert (root / "opt/toy/bin/tool").read_text() == "#!/bin/sh\necho tool\n"
    query = subprocess.run(["rpm", "--root", str(root), "-q", "toy", "toy-shell"],
                           capture_output=True, text=True)
    assert query.returncode == 0, query.stdout + query.stderr
    assert query.stdout.split() == [f"toy-1.2.3-ce.0.el9.{RPM_ARCH}",
                                    f"toy-shell-1.2.3-ce.0.el9.{RPM_ARCH}"]
    assert "postinst 1" in output  # toy's scriptlet ran, with toy-shell's /bin/sh
    # gpgcheck: dnf imported the repository's key into the root's rpmdb to check packages.
    keys = subprocess.run(["rpm", "--root", str(root), "-q", "gpg-pubkey"],
                          capture_output=True, text=True)
    assert keys.returncode == 0 and keys.stdout.startswith("gpg-pubkey-"), keys.stdout
    # filelists.xml (a path outside primary's list) and other.xml (the changelog) read back.
    owner = dnf(tmp_path, "good", "-q", "repoquery", "--whatprovides",
                "/opt/toy/share/data/table.txt")
    assert owner.stdout.split() == [f"toy-0:1.2.3-ce.0.el9.{RPM_ARCH}"], owner.stderr
    changelog = dnf(tmp_path, "good", "-q", "repoquery", "--changelogs", "toy")
    assert "- toy 1.2.3-ce.0.el9, built by omnibus" in changelog.stdout, changelog.stderr


def test_dnf_refuses_tampered_metadata(published):
    repo, tmp_path = published
    primary = next((repo / "repodata").glob("*-primary.xml.gz"))
    original = primary.read_bytes()
    primary.write_bytes(gzip.compress(gzip.decompress(original).replace(
        b"<summary>Small", b"<summary>Evil!"), mtime=0))
    refused = dnf(tmp_path, "tampered", "install", "toy")
    assert refused.returncode != 0
    assert "checksum doesn't match" in refused.stdout + refused.stderr, refused.stderr
    assert not (tmp_path / "tampered/root/opt/toy").exists()


def test_dnf_refuses_a_repomd_signed_by_another_key(published):
    repo, tmp_path = published
    other_home = tmp_path / "other-gnupg"
    other = Signing(make_gpg_key(other_home), other_home)
    index = (repo / "repodata/repomd.xml").read_bytes()
    (repo / "repodata/repomd.xml.asc").write_bytes(detached_signature(other, index))
    refused = dnf(tmp_path, "other-key", "install", "toy")
    assert refused.returncode != 0
    assert "repomd.xml GPG signature verification error" in refused.stdout + refused.stderr, \
        refused.stderr
    assert not (tmp_path / "other-key/root/opt/toy").exists()
