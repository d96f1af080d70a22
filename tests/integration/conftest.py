"""Fixtures the integration modules share: the stand-in GitLab packages that
test_lifecycle.py and test_image.py install (see test_lifecycle.py's docstring for what
they hold, and what is Debian's rather than the package's own build)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, Root

OMNIBUS = Path(sys.executable).parent / "omnibus"
DATA = REPO / "tests" / "data" / "lifecycle"
LIFECYCLE_PROJECT = "gitlab-lifecycle"
OLD, NEW = "1.0.0-ce.0", "1.1.0-ce.0"


def omnibus(root: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(OMNIBUS), *args, "--root", str(root), "--cache-dir", str(cache),
                             "--platform", "debian-12", "--arch", "amd64"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def definitions_root(path: Path) -> Root:
    """The repository's catalog and gitlab_ctl/, plus the stand-in and the project."""
    root = Root(path)
    root.copy_catalog()
    shutil.copytree(REPO / "gitlab_ctl", path / "gitlab_ctl",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "Dockerfile.builder", path)
    shutil.copytree(DATA, path, dirs_exist_ok=True)
    # gitlab-ctl's build precompiles its templates with the Python it runs on: Debian's here
    platform = path / "platforms" / "debian-12.yml"
    text = platform.read_text()
    assert "\nbuild_packages:\n" in text
    platform.write_text(text.replace("\nbuild_packages:\n",
                                     "\nbuild_packages:\n  - python3-jinja2\n  - python3-yaml\n",
                                     1))
    return root


@dataclass(frozen=True)
class LifecycleBuild:
    """The lifecycle project built once (every software in its builder container): its
    definitions root and artifact cache, from which `package` makes more versions fast."""
    base: Path
    root: Path
    cache: Path

    def package(self, version: str, package_format: str, out: Path) -> Path:
        """Package the built artifacts as `version` (MAJOR.MINOR.PATCH) into `out`."""
        project = self.root / "projects" / f"{LIFECYCLE_PROJECT}.yml"
        text, count = VERSION_LINE.subn(f"\nversion: {{value: {version}}}\n",
                                        project.read_text(), count=1)
        assert count == 1, "the project's version line moved"
        project.write_text(text)
        omnibus(self.root, self.cache, "package", LIFECYCLE_PROJECT, "--format",
                package_format, "--out", str(out))
        found = sorted(out.glob(f"{LIFECYCLE_PROJECT}[_-]{version}-*"
                                f"{'.deb' if package_format == 'deb' else '.rpm'}"))
        assert len(found) == 1, sorted(p.name for p in out.iterdir())
        return found[0]


VERSION_LINE = re.compile(r"\nversion: \{value: [^}]*\}\n")


@pytest.fixture(scope="session")
def lifecycle_build(tmp_path_factory) -> LifecycleBuild:
    """1.0.0 built, its deb in base/v1 (lifecycle_packages' "old")."""
    base = tmp_path_factory.mktemp("lifecycle")
    root = definitions_root(base / "defs")
    cache = base / "cache"
    text = (root.path / "projects" / f"{LIFECYCLE_PROJECT}.yml").read_text()
    assert "\nversion: {value: 1.0.0}\n" in text
    omnibus(root.path, cache, "build", LIFECYCLE_PROJECT, "--format", "deb", "--out",
            str(base / "v1"))
    return LifecycleBuild(base, root.path, cache)


@pytest.fixture(scope="session")
def lifecycle_packages(lifecycle_build) -> dict[str, Path]:
    """1.0.0 built (every software in its builder container), 1.1.0 packaged from the same
    artifacts."""
    base = lifecycle_build.base
    found = {"old": base / "v1" / f"{LIFECYCLE_PROJECT}_{OLD}_amd64.deb",
             "new": lifecycle_build.package("1.1.0", "deb", base / "v2")}
    assert found["new"] == base / "v2" / f"{LIFECYCLE_PROJECT}_{NEW}_amd64.deb"
    for package in found.values():
        assert package.is_file(), sorted(p.name for p in package.parent.iterdir())
    return found


@pytest.fixture(scope="session")
def images(lifecycle_packages):
    """Images of 1.0.0 and 1.1.0, each made from its .deb (shared by the image tests)."""
    from tests.integration.image_helpers import docker

    suffix = uuid.uuid4().hex[:8]
    tags = {}
    try:
        for which in ("old", "new"):
            tag = f"omnibus-image-test:{which}-{suffix}"
            made = subprocess.run([str(OMNIBUS), "image", "package", LIFECYCLE_PROJECT,
                                   str(lifecycle_packages[which]), "--tag", tag, "--root",
                                   str(REPO)], capture_output=True, text=True, timeout=1800)
            assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
            tags[which] = tag
        yield tags
    finally:
        for tag in tags.values():
            docker("rmi", "-f", tag, check=False)
