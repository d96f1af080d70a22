"""Package versions in omnibus-gitlab's scheme."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.definitions.model import Project, ProjectVersion
from builder.errors import BuilderError, UsageError
from builder.package.version import BuildIdentity, package_version


def project(edition="ce", iteration=0, **version) -> Project:
    return Project(name="gitlab-ce", description="d", maintainer="m", homepage="h",
                   license="MIT", file=Path("projects/gitlab-ce.yml"), edition=edition,
                   iteration=iteration, version=ProjectVersion(**(version or {"value": "17.5.0"})))


def test_release_versions_carry_the_edition_in_the_iteration(tmp_path):
    ce = package_version(project(), tmp_path, BuildIdentity())
    assert (ce.version, ce.iteration, ce.full, ce.major_minor) == (
        "17.5.0", "ce.0", "17.5.0-ce.0", "17.5")
    ee = package_version(project("ee", 2), tmp_path, BuildIdentity())
    assert ee.full == "17.5.0-ee.2"


def test_nightly_and_branch_versions_name_the_pipeline_and_commit(tmp_path):
    sha = "b2b5f05e0123456789abcdef0123456789abcdef"
    nightly = package_version(project(), tmp_path, BuildIdentity("nightly", "159756", sha))
    assert nightly.full == "17.5.0+rnightly.159756.b2b5f05e-0"
    branch = package_version(project("fips"), tmp_path, BuildIdentity("branch", "159743", sha))
    assert branch.full == "17.5.0+rfbranch.fips.159743.b2b5f05e-0"


def test_nightly_comes_from_the_environment():
    build = BuildIdentity.from_environment(None, {"NIGHTLY": "true", "CI_PIPELINE_ID": "7",
                                                  "CI_COMMIT_SHA": "abcdef12"})
    assert (build.kind, build.pipeline, build.commit) == ("nightly", "7", "abcdef12")
    assert BuildIdentity.from_environment(None, {}).kind == "release"


def test_nightly_without_a_pipeline_is_refused(tmp_path):
    with pytest.raises(UsageError) as error:
        package_version(project(), tmp_path, BuildIdentity("nightly"))
    assert "CI_PIPELINE_ID" in error.value.hint


def test_version_file_and_its_errors(tmp_path):
    (tmp_path / "VERSION").write_text("17.6.1-rc42\n")
    version = package_version(project(file="VERSION"), tmp_path, BuildIdentity())
    assert version.full == "17.6.1-ce.0"
    (tmp_path / "VERSION").write_text("master\n")
    with pytest.raises(BuilderError) as error:
        package_version(project(file="VERSION"), tmp_path, BuildIdentity())
    assert "'master' does not start with MAJOR.MINOR.PATCH" in error.value.message
    with pytest.raises(BuilderError) as error:
        package_version(project(file="MISSING"), tmp_path, BuildIdentity())
    assert "MISSING" in error.value.message
