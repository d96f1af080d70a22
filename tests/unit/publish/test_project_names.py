"""The names clients see (apt's Origin and client files, yum's .repo, the image's labels)
are the project's, from templates/<package_scripts>/names.yml: the engine names no project."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError
from builder.formats.meta import Signing
from builder.formats.names import ProjectNames, default_names, project_names, read_names
from builder.formats.rpm.repository import repo_snippet
from builder.publish import PublishSettings
from tests.conftest import REPO


def test_this_repository_names_its_projects_gitlab():
    catalog = load_catalog(REPO)
    expected = ProjectNames("gitlab", "GitLab", "com.gitlab.omnibus")
    assert {project_names(REPO, project) for project in catalog.projects.values()} == {expected}
    assert default_names(REPO) == expected


def test_without_names_a_project_is_called_by_its_name(tmp_path):
    assert read_names(tmp_path, "demo") == ProjectNames("demo", "demo", "omnibus.demo")
    (tmp_path / "names.yml").write_text("repository: acme\n")
    assert read_names(tmp_path, "demo") == ProjectNames("acme", "acme", "omnibus.acme")


def test_names_are_read_strictly(tmp_path):
    (tmp_path / "names.yml").write_text("repository: acme\norigin: Acme\n")
    with pytest.raises(DefinitionError, match="origin"):
        read_names(tmp_path, "demo")


def test_the_yum_snippet_carries_the_project_names(tmp_path):
    platform = load_catalog(REPO).platforms["el-9"]
    settings = PublishSettings(tmp_path, platform, Signing("key"), 0, "http://example.test/")
    assert repo_snippet(settings).splitlines()[:2] == ["[gitlab-el-9]",
                                                       "name=GitLab packages for el-9"]
    acme = dataclasses.replace(settings, project=ProjectNames("acme", "Acme", "com.acme"))
    assert repo_snippet(acme).splitlines()[:2] == ["[acme-el-9]", "name=Acme packages for el-9"]


def test_a_platform_outside_a_definitions_root_gets_generic_names():
    platform = dataclasses.replace(load_catalog(REPO).platforms["el-9"],
                                   file=Path("/nonexistent/platforms/el-9.yml"))
    settings = PublishSettings(Path("/tmp"), platform, Signing("key"), 0)
    assert settings.names == ProjectNames("omnibus", "omnibus", "omnibus.omnibus")
