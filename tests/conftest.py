"""Shared fixtures: small definition roots written as real files, as a user would write them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PLATFORM = """\
family: {family}
distro: {distro}
version: "12"
base_image: "debian:bookworm"
package_format: {format}
compression: {{type: xz, level: 6}}
glibc: "2.36"
editions: [ce, ee, fips]
arches:
  amd64: {{package_arch: amd64, docker_platform: linux/amd64, gnu_triplet: x86_64-linux-gnu}}
  arm64: {{package_arch: arm64, docker_platform: linux/arm64, gnu_triplet: aarch64-linux-gnu}}
package_install: "apt-get install -y {{packages}}"
cflags: "-O2"
"""


def software_yaml(name: str, deps: list[str] | None = None, version: str = "1.0",
                  extra: str = "") -> str:
    text = f'name: {name}\nversion: "{version}"\nlicense: MIT\n'
    if deps:
        text += "dependencies:\n" + "".join(f"  - {d}\n" for d in deps)
    text += 'build:\n  - make -j{{ jobs }} PREFIX={{ prefix }}\n  - make install\n'
    return text + textwrap.dedent(extra)


def project_yaml(name: str, deps: list[str], edition: str = "ce", extra: str = "") -> str:
    text = (f"name: {name}\ndescription: Test project\nmaintainer: Test <t@example.test>\n"
            f"homepage: https://example.test/\nlicense: MIT\nedition: {edition}\n"
            "version: {value: 1.2.3}\ndependencies:\n" + "".join(f"  - {d}\n" for d in deps))
    return text + textwrap.dedent(extra)


class Root:
    """A definitions root under a temporary directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for kind in ("software", "projects", "platforms"):
            (path / kind).mkdir(parents=True, exist_ok=True)
        # The real maintainer scripts: every project packages with them unless it says otherwise.
        shutil.copytree(REPO / "templates" / "package", path / "templates" / "package",
                        dirs_exist_ok=True)
        shutil.copytree(REPO / "licenses", path / "licenses", dirs_exist_ok=True)
        self.platform("debian-12")
        self.platform("el-9", family="rhel", distro="almalinux", format="rpm")

    def copy_catalog(self) -> None:
        """The repository's real software, platforms and templates, and the version files
        GitLab's components read at the root."""
        for name in ("software", "platforms", "templates"):
            shutil.rmtree(self.path / name, ignore_errors=True)
            shutil.copytree(REPO / name, self.path / name)
        for version_file in REPO.glob("*VERSION"):
            shutil.copy(version_file, self.path)

    def write(self, relative: str, text: str) -> Path:
        file = self.path / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        return file

    def platform(self, name: str, family: str = "debian", distro: str = "debian",
                 format: str = "deb") -> Path:
        return self.write(f"platforms/{name}.yml",
                          PLATFORM.format(family=family, distro=distro, format=format))

    def software(self, name: str, deps: list[str] | None = None, version: str = "1.0",
                 extra: str = "") -> Path:
        return self.write(f"software/{name}.yml", software_yaml(name, deps, version, extra))

    def project(self, name: str, deps: list[str], edition: str = "ce", extra: str = "") -> Path:
        return self.write(f"projects/{name}.yml", project_yaml(name, deps, edition, extra))

    def diamond(self) -> None:
        """app -> (libA, libB) -> zlib, plus an unrelated leaf; project 'demo' wants app + leaf."""
        self.software("zlib")
        self.software("liba", ["zlib"])
        self.software("libb", ["zlib"])
        self.software("app", ["liba", "libb"])
        self.software("leaf")
        self.project("demo", ["app", "leaf"])


@pytest.fixture
def root(tmp_path: Path) -> Root:
    return Root(tmp_path / "defs")
