"""The names clients see (apt's Origin and client files, yum's .repo, the image's labels)
are the project's `names:` in projects/NAME.yml: the engine names no project."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.definitions.model import ProjectNames
from builder.errors import DefinitionError
from builder.formats.meta import Signing
from builder.formats.rpm.repository import repo_snippet
from builder.publish import PublishSettings
from tests.conftest import REPO

GITLAB = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")


def test_this_repository_names_its_projects_gitlab():
    catalog = load_catalog(REPO)
    gitlab = [p for p in catalog.projects.values() if p.name.startswith("gitlab-")]
    assert len(gitlab) == 4 and {project.names for project in gitlab} == {GITLAB}
    # toolchain-proof is no GitLab package: it is called by its own name
    assert catalog.names_of("toolchain-proof") == ProjectNames.of("toolchain-proof")


def test_without_names_a_project_is_called_by_its_name(root):
    root.diamond()
    catalog = load_catalog(root.path)
    assert catalog.names_of("demo") == ProjectNames("demo", "demo", "omnibus.demo")
    assert catalog.names_of("undefined") == ProjectNames.of("undefined")


def test_names_default_from_the_repository_and_are_read_strictly(root):
    root.diamond()
    project = root.path / "projects" / "demo.yml"
    text = project.read_text()
    project.write_text(text + "names: {repository: acme}\n")
    assert load_catalog(root.path).projects["demo"].names == ProjectNames("acme", "acme",
                                                                          "omnibus.acme")
    project.write_text(text + "names: {repository: acme, origin: Acme}\n")
    with pytest.raises(DefinitionError, match="origin"):
        load_catalog(root.path)


def test_the_yum_snippet_carries_the_project_names(tmp_path):
    platform = load_catalog(REPO).platforms["el-9"]
    settings = PublishSettings(tmp_path, platform, Signing("key"), 0, "http://example.test/",
                               project=GITLAB)
    assert repo_snippet(settings).splitlines()[:2] == ["[gitlab-el-9]",
                                                       "name=GitLab packages for el-9"]
    acme = dataclasses.replace(settings, project=ProjectNames("acme", "Acme", "com.acme"))
    assert repo_snippet(acme).splitlines()[:2] == ["[acme-el-9]", "name=Acme packages for el-9"]


def test_a_repository_of_no_project_gets_generic_names():
    platform = load_catalog(REPO).platforms["el-9"]
    settings = PublishSettings(Path("/tmp"), platform, Signing("key"), 0)
    assert settings.names == ProjectNames("omnibus", "omnibus", "omnibus.omnibus")
