"""A package's version and iteration, in omnibus-gitlab's scheme.

  release    17.5.0-ce.0      version from the project, iteration `<edition>.<n>`
  nightly    17.5.0+rnightly.<pipeline>.<sha8>-0
  branch     17.5.0+rfbranch.<pipeline>.<sha8>-0

`ee` sorts after `ce`, so at the same version EE is an upgrade of CE. A `-` inside the version
becomes `~` in both formats (dpkg and rpm both sort `~` before anything, as a prerelease).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import Project
from builder.errors import BuilderError, UsageError

BUILD_KINDS = ("release", "nightly", "branch")
SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")
SUFFIX = {"nightly": "rnightly", "branch": "rfbranch"}


@dataclass(frozen=True)
class BuildIdentity:
    """What kind of build this is, and for CI builds which pipeline and commit made it."""

    kind: str = "release"
    pipeline: str = ""
    commit: str = ""

    @classmethod
    def from_environment(cls, kind: str | None, environ: Mapping[str, str]) -> BuildIdentity:
        """CI sets NIGHTLY for schedules; CI_PIPELINE_ID and CI_COMMIT_SHA name the build."""
        if kind is None:
            kind = "nightly" if environ.get("NIGHTLY", "").lower() in ("1", "true") else "release"
        if kind not in BUILD_KINDS:
            raise UsageError(f"unknown build kind '{kind}'",
                             hint=f"one of {', '.join(BUILD_KINDS)}")
        return cls(kind, environ.get("CI_PIPELINE_ID", ""), environ.get("CI_COMMIT_SHA", ""))


@dataclass(frozen=True)
class PackageVersion:
    version: str
    iteration: str
    #: MAJOR.MINOR of the version, for the preinst's upgrade-stop check.
    major_minor: str

    @property
    def full(self) -> str:
        return f"{self.version}-{self.iteration}"


def project_version(project: Project, root: Path) -> str:
    """The project's MAJOR.MINOR.PATCH from its literal, its VERSION file or `git describe`."""
    source = project.version
    if source.value is not None:
        text, origin = source.value, f"{project.file}: version.value"
    elif source.file is not None:
        path = root / source.file
        try:
            text = path.read_text().strip()
        except OSError as error:
            raise BuilderError(f"{project.file}: version file {path} is unreadable: {error}",
                               hint="create it with the version, e.g. 17.5.0") from error
        origin = str(path)
    else:
        text, origin = _git_describe(root), f"git describe --tags in {root}"
    match = SEMVER.match(text)
    if match is None:
        raise BuilderError(f"{origin}: '{text}' does not start with MAJOR.MINOR.PATCH",
                           hint="set a version such as 17.5.0 (GitLab's 'master' VERSION "
                           "files are resolved by the CI facts step, not here)")
    return match.group(0)


def _git_describe(root: Path) -> str:
    result = subprocess.run(["git", "-C", str(root), "describe", "--tags"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BuilderError(f"git describe --tags failed in {root}: {result.stderr.strip()}",
                           hint="tag a release (git tag 17.5.0+ce.0) or use version.value")
    return result.stdout.strip()


def package_version(project: Project, root: Path, build: BuildIdentity) -> PackageVersion:
    semver = project_version(project, root)
    major_minor = ".".join(semver.split(".")[:2])
    if build.kind == "release":
        return PackageVersion(semver, f"{project.edition}.{project.iteration}", major_minor)
    if not build.pipeline.isdigit() or not re.fullmatch(r"[0-9a-f]{8,40}", build.commit):
        raise UsageError(
            f"a {build.kind} build needs a numeric pipeline id and a commit sha "
            f"(got '{build.pipeline}' and '{build.commit}')",
            hint="set CI_PIPELINE_ID and CI_COMMIT_SHA (GitLab CI does), or pass "
            "--pipeline-id and --commit",
        )
    fips = ".fips" if project.edition == "fips" else ""
    version = f"{semver}+{SUFFIX[build.kind]}{fips}.{build.pipeline}.{build.commit[:8]}"
    return PackageVersion(version.replace("-", "~"), "0", major_minor)
