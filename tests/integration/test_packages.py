"""Packages of a small real project, checked with the real tools: lintian, rpmlint, apt-get
in a clean Debian container, rpm into a clean root, gpg and rpm -K.

The project: the real zlib definition (fetched from Debian's archive, built in the debian-12
builder container) and `ctl`, a stand-in for GitLab's gitlab-ctl (a shell script that logs
how the maintainer scripts call it) with a gitlab.rb template.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog
from tests.conftest import REPO, Root
from tests.packaging_helpers import make_gpg_key

pytestmark = pytest.mark.integration
OMNIBUS = Path(sys.executable).parent / "omnibus"

CTL = """\
#!/bin/sh
# Stand-in for gitlab-ctl: records each call, as the real one would act on it.
mkdir -p /var/log/gitlab
echo "$* EXTERNAL_URL=${EXTERNAL_URL:-}" >> /var/log/gitlab/ctl-calls.log
"""
TEMPLATE = "# gitlab.rb\nexternal_url 'GENERATED_EXTERNAL_URL'\n"
CTL_SOFTWARE = """\
name: ctl
version: "1.0"
license: MIT
source: {path: src/ctl}
build:
  - install -D -m 0755 gitlab-ctl {{ install_dir }}/bin/gitlab-ctl
  - install -D -m 0644 gitlab.rb.template {{ install_dir }}/etc/gitlab.rb.template
  # A hard link that the payload order puts before the file it links to.
  - mkdir -p {{ install_dir }}/embedded/bin
  - ln {{ install_dir }}/bin/gitlab-ctl {{ install_dir }}/embedded/bin/a-ctl
"""
PROJECT = """\
name: gitlab-demo
description: |-
  Demonstration of an omnibus package
  A small real project: zlib built from Debian's sources, and a stand-in for gitlab-ctl that
  records how the maintainer scripts call it.
maintainer: Omnibus Tests <omnibus-tests@example.test>
homepage: https://example.test/omnibus
license: MIT
edition: ce
version: {{value: {version}}}
upgrade_stop: "{stop}"
upgrade_docs: https://example.test/upgrade-paths
ctl_commands: [gitlab-ctl]
dependencies: [zlib, ctl]
conflicts: [gitlab-demo-ee]
replaces: [gitlab-demo-ee]
runtime_dependencies:
  - {{name: libc6, when: {{format: deb}}}}
  - {{name: glibc, when: {{format: rpm}}}}
exclusions: [embedded/include, embedded/share/man, "embedded/lib/*.a"]
"""


def omnibus(root: Path, cache: Path, *args: str, env: dict | None = None):
    return subprocess.run([str(OMNIBUS), *args, "--root", str(root), "--cache-dir", str(cache)],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **(env or {})})


def set_version(root: Root, version: str, stop: str) -> None:
    root.write("projects/gitlab-demo.yml", PROJECT.format(version=version, stop=stop))


def package(root: Root, cache: Path, out: Path, *extra: str, env: dict | None = None):
    result = omnibus(root.path, cache, "package", "gitlab-demo", "--format", "deb,rpm",
                     "--out", str(out), *extra, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return {p.suffix: p for p in out.iterdir() if p.suffix in (".deb", ".rpm")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The project built once; packages of 17.5.0 (stop 17.2) and 18.0.0 (stop 17.11)."""
    base = tmp_path_factory.mktemp("packages")
    root = Root(base / "defs")
    shutil.copy(REPO / "software" / "zlib.yml", root.path / "software")
    shutil.copy(REPO / "platforms" / "debian-12.yml", root.path / "platforms")
    shutil.copy(REPO / "Dockerfile.builder", root.path)
    root.write("src/ctl/gitlab-ctl", CTL)
    root.write("src/ctl/gitlab.rb.template", TEMPLATE)
    root.write("software/ctl.yml", CTL_SOFTWARE)
    set_version(root, "17.5.0", "17.2")
    cache = base / "cache"
    result = omnibus(root.path, cache, "build", "gitlab-demo", "--mirror", "debian",
                     "--format", "deb,rpm", "--out", str(base / "v1"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote gitlab-demo_17.5.0-ce.0_amd64.deb" in result.stdout + result.stderr
    v1 = {p.suffix: p for p in (base / "v1").iterdir() if p.suffix in (".deb", ".rpm")}
    set_version(root, "18.0.0", "17.11")
    v2 = package(root, cache, base / "v2")
    set_version(root, "17.5.0", "17.2")
    stage = cache / "stage" / "gitlab-demo" / "debian-12" / "amd64"
    return {"root": root, "cache": cache, "base": base, "v1": v1, "v2": v2, "stage": stage}


def stage_listing(stage: Path) -> set[str]:
    """`path type mode` of everything under the stage's /opt/gitlab, owners root."""
    found = set()
    for directory, dirs, files in os.walk(stage / "opt/gitlab"):
        for name in dirs + files:
            path = Path(directory, name)
            info = path.lstat()
            kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
            mode = "777" if kind == "l" else f"{info.st_mode & 0o7777:o}"
            found.add(f"/{path.relative_to(stage)} {kind} {mode} root root")
    return found


def listing_command(top: str) -> str:
    return f"find {top} -mindepth 1 -printf '%p %y %m %u %g\\n'"


def test_packages_have_sidecars_and_metadata(built):
    deb = built["v1"][".deb"]
    assert deb.name == "gitlab-demo_17.5.0-ce.0_amd64.deb"
    assert built["v1"][".rpm"].name == "gitlab-demo-17.5.0-ce.0.x86_64.rpm"
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    assert deb.with_name(deb.name + ".sha256").read_text() == f"{digest}  {deb.name}\n"
    assert deb.with_name(deb.name + ".size").read_text() == f"{deb.stat().st_size}\n"
    metadata = json.loads(deb.with_name(deb.name + ".metadata.json").read_text())
    assert (metadata["sha256"], metadata["version"], metadata["iteration"]) == (
        digest, "17.5.0", "ce.0")
    assert metadata["version_manifest"]["software"]["zlib"]["locked_version"] == "1.3.1"
    assert metadata["version_manifest"]["build_version"] == "17.5.0"


def test_lintian_reports_no_errors_and_no_unexplained_warnings(built, tmp_path):
    # Debian 12's lintian cannot open zstd members (dpkg 1.21 can: the install tests use the
    # zstd package), so it checks the same stage packaged with xz.
    xz = package(built["root"], built["cache"], tmp_path / "xz", "--compression", "xz:6")
    result = subprocess.run(["lintian", "--no-cfg", "--fail-on", "error,warning",
                             str(xz[".deb"])], capture_output=True, text=True)
    complaints = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_rpmlint_reports_no_errors_and_no_unexplained_warnings(built, tmp_path):
    # rpmlint wants a signature by a key rpm trusts: sign with a throwaway key and trust it
    # in a private rpm database (HOME's .rpmmacros points rpm there), not the machine's.
    home = tmp_path / "gnupg"
    key = make_gpg_key(home)
    signed = package(built["root"], built["cache"], tmp_path / "signed", "--sign-key", key,
                     env={"GNUPGHOME": str(home)})
    (tmp_path / ".rpmmacros").write_text(f"%_dbpath {tmp_path / 'rpmdb'}\n")
    public = tmp_path / "key.asc"
    public.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export",
                                       key], check=True, capture_output=True).stdout)
    environment = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(["rpmkeys", "--import", str(public)], check=True, env=environment)
    # The rpmlintrc is written for the real package (tests/integration/test_real_packages.py
    # checks that every filter in it is used there): most of its filters have nothing to
    # match in this small one.
    result = subprocess.run(["rpmlint", "--ignore-unused-rpmlintrc", "--rpmlintrc",
                             str(REPO / "templates/package/rpmlintrc"), str(signed[".rpm"])],
                            capture_output=True, text=True, env=environment)
    assert "0 errors, 0 warnings" in result.stdout, result.stdout + result.stderr


def test_the_same_stage_gives_bit_identical_packages(built, tmp_path):
    again = package(built["root"], built["cache"], tmp_path / "again")
    for suffix in (".deb", ".rpm"):
        assert again[suffix].read_bytes() == built["v1"][suffix].read_bytes(), suffix


def test_a_warm_repackage_writes_nothing_and_a_changed_package_is_rewritten(built, tmp_path):
    out = tmp_path / "warm"
    first = package(built["root"], built["cache"], out)
    stamps = {suffix: path.stat().st_mtime_ns for suffix, path in first.items()}
    again = omnibus(built["root"].path, built["cache"], "package", "gitlab-demo", "--format",
                    "deb,rpm", "--out", str(out))
    assert again.returncode == 0 and "up to date" in again.stdout + again.stderr
    assert {s: p.stat().st_mtime_ns for s, p in first.items()} == stamps
    deb = first[".deb"]
    deb.write_bytes(deb.read_bytes()[:-1] + b"x")  # a package damaged after it was written
    package(built["root"], built["cache"], out)
    assert deb.read_bytes() == built["v1"][".deb"].read_bytes()
    recompressed = omnibus(built["root"].path, built["cache"], "package", "gitlab-demo",
                           "--format", "deb", "--out", str(out), "--compression", "gzip:6")
    assert "up to date" not in recompressed.stdout + recompressed.stderr


def test_signatures_verify_with_rpm_and_gpg(built, tmp_path):
    home = tmp_path / "gnupg"
    key = make_gpg_key(home)
    signed = package(built["root"], built["cache"], tmp_path / "signed", "--sign-key", key,
                     env={"GNUPGHOME": str(home)})
    public = tmp_path / "key.asc"
    public.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export",
                                       key], check=True, capture_output=True).stdout)
    rpmdb = ["--dbpath", str(tmp_path / "rpmdb")]
    subprocess.run(["rpmkeys", *rpmdb, "--import", str(public)], check=True)
    checked = subprocess.run(["rpmkeys", *rpmdb, "-Kv", str(signed[".rpm"])],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "Header V4 RSA/SHA256 Signature" in checked.stdout, \
        checked.stdout + checked.stderr
    unknown = subprocess.run(["rpmkeys", "--dbpath", str(tmp_path / "empty"), "-K",
                              str(signed[".rpm"])], capture_output=True, text=True)
    assert unknown.returncode != 0  # signed by a key rpm was not told to trust
    parts = tmp_path / "parts"
    parts.mkdir()
    subprocess.run(["ar", "x", str(signed[".deb"])], cwd=parts, check=True)
    names = subprocess.run(["ar", "t", str(signed[".deb"])], capture_output=True, text=True,
                           check=True).stdout.split()
    assert names == ["debian-binary", "control.tar.zst", "data.tar.zst", "_gpgorigin"]
    signed_data = b"".join((parts / name).read_bytes() for name in names[:3])
    verified = subprocess.run(["gpg", "--homedir", str(home), "--verify",
                               str(parts / "_gpgorigin"), "-"], input=signed_data,
                              capture_output=True)
    assert verified.returncode == 0, verified.stderr
    # The signature's time is fixed (SOURCE_DATE_EPOCH, or the key's creation if later), so a
    # signed package is as reproducible as an unsigned one.
    again = package(built["root"], built["cache"], tmp_path / "signed-again", "--sign-key", key,
                    env={"GNUPGHOME": str(home)})
    for suffix in (".deb", ".rpm"):
        assert again[suffix].read_bytes() == signed[suffix].read_bytes(), suffix


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          **kwargs)


@pytest.fixture(scope="module")
def debian_image():
    platform = load_catalog(REPO).platforms["debian-12"]
    return ensure_base(platform, "amd64", lambda *_args, **_kw: None)


def in_container(image: str, packages: Path, script: str) -> subprocess.CompletedProcess:
    return docker("run", "--rm", "-v", f"{packages}:/pkg:ro", image, "sh", "-c", script,
                  check=False)


def test_deb_installs_removes_and_purges_cleanly_in_a_clean_container(built, debian_image):
    deb = built["v1"][".deb"]
    script = f"""
set -e
EXTERNAL_URL=gitlab.test apt-get install -y -q /pkg/{deb.name} > /tmp/install.log 2>&1 \
  || {{ cat /tmp/install.log; exit 1; }}
echo '--- files'; {listing_command('/opt/gitlab')}
echo '--- config'; stat -c '%a %U' /etc/gitlab/gitlab.rb; cat /etc/gitlab/gitlab.rb
echo '--- link'; readlink /usr/bin/gitlab-ctl
echo '--- calls'; cat /var/log/gitlab/ctl-calls.log
apt-get remove -y -q gitlab-demo > /dev/null 2>&1
echo '--- after remove'; ls /usr/bin/gitlab-ctl 2>&1 || true; ls /opt/gitlab 2>&1 || true
stat -c '%a' /etc/gitlab/gitlab.rb
echo '--- after purge'; apt-get purge -y -q gitlab-demo 2>&1 | grep kept || true
dpkg-query -W gitlab-demo 2>&1 || true
"""
    result = in_container(debian_image, deb.parent, script)
    assert result.returncode == 0, result.stdout + result.stderr
    sections = dict(part.split("\n", 1) for part in result.stdout.split("--- ")[1:])
    assert set(sections["files"].splitlines()) == stage_listing(built["stage"])
    assert sections["config"].startswith("600 root\n")
    assert "external_url 'http://gitlab.test'" in sections["config"]
    assert sections["link"].strip() == "/opt/gitlab/bin/gitlab-ctl"
    assert sections["calls"].strip() == "upgrade EXTERNAL_URL=http://gitlab.test"
    after = sections["after remove"]
    assert "cannot access '/usr/bin/gitlab-ctl'" in after and "cannot access '/opt/gitlab'" in after
    assert after.strip().endswith("600")  # configuration survives removal
    assert "kept /etc/gitlab" in sections["after purge"]
    assert "no packages found matching gitlab-demo" in sections["after purge"]


def test_upgrade_skipping_a_stop_is_refused_and_the_old_install_is_untouched(built,
                                                                           debian_image):
    old, new = built["v1"][".deb"], built["v2"][".deb"]
    shutil.copy(new, old.parent / new.name)
    script = f"""
apt-get install -y -q /pkg/{old.name} > /dev/null 2>&1 || exit 1
apt-get install -y -q /pkg/{new.name} 2>&1; echo "exit=$?"
echo '--- state'; dpkg-query -W -f '${{Version}} ${{db:Status-Status}}\\n' gitlab-demo
dpkg --verify gitlab-demo && echo verified
"""
    try:
        result = in_container(debian_image, old.parent, script)
    finally:
        (old.parent / new.name).unlink()
    output = result.stdout
    assert "It is required to upgrade to the latest 17.11.x version first before proceeding " \
        "to 18.0.0." in output, output
    assert "exit=100" in output
    assert output.split("--- state\n")[1].splitlines()[:2] == ["17.5.0-ce.0 installed",
                                                               "verified"]


@pytest.fixture
def clean_root(debian_image, tmp_path):
    """A clean Debian root file system (not rpm-managed) with an empty rpm database."""
    root = tmp_path / "root"
    root.mkdir()
    container = docker("create", debian_image, "true").stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(root)], stdin=export.stdout, check=True)
        export.wait()
    finally:
        docker("rm", container)
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    return root


def rpm_in(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # --nodeps: the root's /bin/sh and libc come from Debian's packages, which rpm cannot see.
    nodeps = ["--nodeps"] if args[0] in ("-i", "-U", "-e", "-V") else []
    return subprocess.run(["rpm", "--root", str(root), *nodeps, *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_rpm_installs_into_a_clean_root_runs_its_scripts_and_erases(built, clean_root):
    rpm = built["v1"][".rpm"]
    installed = rpm_in(clean_root, "-i", str(rpm), env={"EXTERNAL_URL": "https://gitlab.test"})
    assert installed.returncode == 0, installed.stdout + installed.stderr
    found = subprocess.run(["chroot", str(clean_root), "sh", "-c", listing_command("/opt/gitlab")],
                           capture_output=True, text=True, check=True).stdout
    assert set(found.splitlines()) == stage_listing(built["stage"])
    config = clean_root / "etc/gitlab/gitlab.rb"
    assert config.stat().st_mode & 0o777 == 0o600
    assert "external_url 'https://gitlab.test'" in config.read_text()
    assert os.readlink(clean_root / "usr/bin/gitlab-ctl") == "/opt/gitlab/bin/gitlab-ctl"
    calls = (clean_root / "var/log/gitlab/ctl-calls.log").read_text()
    assert calls == "upgrade EXTERNAL_URL=https://gitlab.test\n"  # from %posttrans
    verified = rpm_in(clean_root, "-V", "gitlab-demo")
    assert verified.returncode == 0, verified.stdout
    erased = rpm_in(clean_root, "-e", "gitlab-demo")
    assert erased.returncode == 0, erased.stderr
    assert not (clean_root / "usr/bin/gitlab-ctl").is_symlink()
    assert not (clean_root / "opt/gitlab").exists()
    assert config.is_file()


def test_rpm_upgrade_skipping_a_stop_is_refused(built, clean_root):
    assert rpm_in(clean_root, "-i", str(built["v1"][".rpm"])).returncode == 0
    upgrade = rpm_in(clean_root, "-U", str(built["v2"][".rpm"]))
    assert upgrade.returncode != 0
    assert "It is required to upgrade to the latest 17.11.x version first" in upgrade.stdout
    query = rpm_in(clean_root, "-q", "gitlab-demo")
    assert query.stdout.strip() == "gitlab-demo-17.5.0-ce.0.x86_64"
    assert rpm_in(clean_root, "-V", "gitlab-demo").returncode == 0


def test_sbom_validates_and_licenses_ship_with_the_package(built):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    out = built["v1"][".deb"].parent
    sbom = out / "gitlab-demo_17.5.0-ce.0.spdx.json"
    problems = validate_full_spdx_document(parse_file(str(sbom)))
    assert [p.validation_message for p in problems] == []
    document = json.loads(sbom.read_text())
    zlib = next(p for p in document["packages"] if p["name"] == "zlib")
    assert zlib["versionInfo"] == "1.3.1" and zlib["licenseDeclared"] == "Zlib"
    assert zlib["checksums"][0]["algorithm"] == "SHA256"
    status = json.loads((out / "gitlab-demo_17.5.0-ce.0.license-status.json").read_text())
    assert status["zlib"] == {"license": "Zlib", "version": "1.3.1", "status": "ok",
                              "reason": "allowed: Zlib"}
    page = (out / "gitlab-demo_17.5.0-ce.0.licenses.html").read_text()
    assert "<td>zlib</td><td>1.3.1</td><td>Zlib</td><td>ok</td>" in page
    listing = subprocess.run(["dpkg-deb", "--contents", str(built["v1"][".deb"])],
                             capture_output=True, text=True, check=True).stdout
    for path in ("opt/gitlab/LICENSES/zlib-LICENSE", "opt/gitlab/LICENSE",
                 "opt/gitlab/dependency_licenses.json", "opt/gitlab/version-manifest.txt"):
        assert f"./{path}\n" in listing, path
