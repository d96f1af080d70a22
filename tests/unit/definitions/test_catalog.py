"""The real catalog: every definition loads strictly, the GitLab projects resolve without a
cycle, and each project's component set equals omnibus-gitlab's, except for the differences
explained below, one by one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builder.definitions.loader import load_catalog
from builder.definitions.model import GitSource, PathSource
from builder.resolve.graph import resolve

REPO = Path(__file__).resolve().parents[3]
REFERENCE = yaml.safe_load((REPO / "tests/data/omnibus-gitlab-components.yml").read_text())

#: In omnibus-gitlab's builds, not in ours; why.
NOT_OURS = {
    # reconfigure is gitlab_ctl/ (Python, shipped with the package) instead of a Chef run, so
    # Chef, its cookbooks, omnibus-ctl and the gems that only Chef and omnibus-ctl use go
    "chef-gem": "reconfigure is Python (gitlab_ctl/), not Chef",
    "inspec-gem": "reconfigure is Python (gitlab_ctl/), not Chef",
    "omnibus-gitlab-gems": "its gems (chef, ohai, acme-client, license_finder) serve Chef only",
    "gitlab-cookbooks": "reconfigure is Python (gitlab_ctl/), not Chef",
    "chef-acme": "a Chef cookbook",
    "compat_resource": "a Chef cookbook",
    "omnibus-ctl": "gitlab-ctl is Python (gitlab_ctl/)",
    "gitlab-ctl-ee": "omnibus-ctl plugins; EE commands are part of gitlab_ctl/",
    "rb-readline": "only chef-gem depends on it",
    "libarchive": "only omnibus-gitlab-gems depends on it",
    # written by the packager itself, not built
    "package-scripts": "maintainer scripts come from templates/package/ at packaging time",
    "version-manifest": "version-manifest.json/.txt are written into the stage at packaging time",
}

#: In our builds, not in omnibus-gitlab's; why.
ONLY_OURS = {
    # gitlab-ctl (ours too, but in place of omnibus-gitlab's: gitlab_ctl/ and its templates
    # on the embedded Python) renders configs with Jinja2 and reads YAML with PyYAML, where
    # omnibus-gitlab's gitlab-ctl runs Chef on the embedded Ruby
    "python-jinja2": "gitlab-ctl's template engine (omnibus-gitlab's reconfigure is Chef/ERB)",
    "python-markupsafe": "Jinja2 depends on it",
    "python-pyyaml": "gitlab-ctl reads YAML (defaults, configs) with it",
    "python-acme-tiny": "gitlab-ctl's ACME client for Let's Encrypt (omnibus-gitlab's is the "
                        "acme Chef cookbook on Ruby)",
    "python-flit-core": "the build backend of python-docutils and python-jinja2, built from "
                        "source: omnibus-gitlab's pip downloads it during the build, ours build "
                        "offline",
    "python-setuptools": "git-filter-repo builds from its sdist with setuptools (omnibus-gitlab "
                         "pip-installs a wheel), and so do gitlab-ctl's PyYAML and MarkupSafe; "
                         "in EE, patroni needs it in both",
    "gitlab-rails-assets": "the compiled front-end assets as an artifact of their own, keyed "
                           "by the Rails commit and shared by every platform (omnibus-gitlab "
                           "copies them in gitlab-rails' build from its fetch-assets job)",
}


def component_set(catalog, project: str, platform: str) -> set[str]:
    graph = resolve(catalog, catalog.projects[project], catalog.platforms[platform], "amd64")
    return set(graph.software)


@pytest.fixture(scope="module")
def catalog():
    # versions of GitLab's components come from the files at the root, not the environment
    return load_catalog(REPO, environ={})


def test_every_definition_loads_and_names_its_license_and_source(catalog):
    assert len(catalog.software) >= 90
    for software in catalog.software.values():
        assert software.license, software.name
        assert software.build or software.templates, f"{software.name} builds nothing"


@pytest.mark.parametrize(("project", "platform"), [
    ("gitlab-ce", "debian-12"), ("gitlab-ee", "debian-12"), ("gitlab-fips", "ubuntu-22.04"),
])
def test_component_set_matches_omnibus_gitlab_except_the_explained(catalog, project, platform):
    ours = component_set(catalog, project, platform)
    reference = set(REFERENCE[project])
    assert reference - ours == set(NOT_OURS) & reference
    assert ours - reference == set(ONLY_OURS) & (ours - reference)
    assert not (ours - reference) - set(ONLY_OURS)


def test_editions_differ_as_omnibus_gitlab_says(catalog):
    ce = component_set(catalog, "gitlab-ce", "debian-12")
    ee = component_set(catalog, "gitlab-ee", "debian-12")
    fips = component_set(catalog, "gitlab-fips", "el-9")
    assert {"consul", "patroni", "pgbouncer", "gitlab-elasticsearch-indexer"} <= ee - ce
    assert {"openssl", "curl", "libgcrypt"} <= ee - fips
    assert "ruby-grpc" in fips - ee
    assert "gitlab-selinux" in fips and "gitlab-selinux" not in ee


@pytest.mark.parametrize("project", ["gitlab-ce", "gitlab-ee", "gitlab-fips", "gitlab-local"])
def test_every_project_resolves_on_every_platform_it_builds_for(catalog, project):
    edition = catalog.projects[project].edition
    resolved = 0
    for platform in catalog.platforms.values():
        if edition in platform.editions:
            for arch in platform.arches:
                resolve(catalog, catalog.projects[project], platform, arch)
                resolved += 1
    assert resolved > 0


def test_gitlab_components_take_versions_from_root_files(catalog, tmp_path):
    files = {"gitlab-rails": "VERSION", "gitaly": "GITALY_SERVER_VERSION",
             "gitlab-shell": "GITLAB_SHELL_VERSION", "gitlab-pages": "GITLAB_PAGES_VERSION",
             "gitlab-kas": "GITLAB_KAS_VERSION",
             "gitlab-elasticsearch-indexer": "GITLAB_ELASTICSEARCH_INDEXER_VERSION"}
    for name, file in files.items():
        software = catalog.software[name]
        assert software.version_from.file == file
        assert software.version == (REPO / file).read_text().strip()
        assert isinstance(software.source, GitSource)
    pinned = load_catalog(REPO, environ={"GITALY_SERVER_VERSION": "18.6.2"}).software["gitaly"]
    assert (pinned.version, pinned.source.ref) == ("18.6.2", "v18.6.2")


def test_gitlab_local_builds_only_from_reachable_kinds_of_source(catalog):
    graph = resolve(catalog, catalog.projects["gitlab-local"], catalog.platforms["debian-12"],
                    "amd64")
    for software in graph.software.values():
        source = software.source
        assert not isinstance(source, GitSource), f"{software.name}: git is not reachable here"
        if isinstance(source, PathSource):  # directories of this repository
            assert all((REPO / entry).is_dir() for entry in source.entries), software.name
        elif source is not None:
            assert source.debian or source.pypi, (
                f"{software.name}: neither Debian's archive nor the package index carries it")
        assert not software.network, f"{software.name} needs the network to build"


@pytest.mark.parametrize(("project", "platform"), [
    ("gitlab-ce", "debian-12"), ("gitlab-ee", "el-9"), ("gitlab-fips", "el-9"),
    ("gitlab-local", "debian-12"),
])
def test_every_bundled_license_passes_the_policy(catalog, project, platform):
    from builder.package.licensepolicy import license_status, load_policy

    graph = resolve(catalog, catalog.projects[project], catalog.platforms[platform], "amd64")
    status = license_status(graph, load_policy(REPO))
    assert {n: s["reason"] for n, s in status.items() if s["status"] == "violation"} == {}
