"""Versions read from files at the root (GitLab's components), overridable by environment."""

from __future__ import annotations

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError

GITALY = """\
name: gitaly
version: {file: GITALY_SERVER_VERSION, env: GITALY_SERVER_VERSION, tag_prefix: v}
license: MIT
source: {git: https://gitlab.example.test/gitaly.git}
build: [make install]
"""


@pytest.mark.parametrize(("written", "environment", "version", "ref"), [
    ("17.5.0\n", {}, "17.5.0", "v17.5.0"),
    ("17.5.0-rc42\n", {}, "17.5.0-rc42", "v17.5.0-rc42"),
    ("master\n", {}, "master", "master"),
    ("17.5.0\n", {"GITALY_SERVER_VERSION": "4b1dc4ee6d622a09fff9c6777191209750fb5e5a"},
     "4b1dc4ee6d622a09fff9c6777191209750fb5e5a", "4b1dc4ee6d622a09fff9c6777191209750fb5e5a"),
    ("master\n", {"GITALY_SERVER_VERSION": "17.6.1"}, "17.6.1", "v17.6.1"),
])
def test_version_and_ref_come_from_the_file_or_the_environment(root, written, environment,
                                                               version, ref):
    root.write("software/gitaly.yml", GITALY)
    root.write("GITALY_SERVER_VERSION", written)
    gitaly = load_catalog(root.path, environment).software["gitaly"]
    assert (gitaly.version, gitaly.source.ref) == (version, ref)


def test_explicit_ref_is_kept(root):
    root.write("software/gitaly.yml", GITALY.replace(
        "gitaly.git}", "gitaly.git, ref: stable}"))
    root.write("GITALY_SERVER_VERSION", "17.5.0\n")
    assert load_catalog(root.path, {}).software["gitaly"].source.ref == "stable"


def test_missing_version_file_names_the_file_and_the_variable(root):
    root.write("software/gitaly.yml", GITALY)
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path, {})
    assert "GITALY_SERVER_VERSION" in caught.value.message
    assert "set GITALY_SERVER_VERSION" in caught.value.hint


def test_empty_version_file_is_refused(root):
    root.write("software/gitaly.yml", GITALY)
    root.write("GITALY_SERVER_VERSION", "\n")
    with pytest.raises(DefinitionError, match="does not start with a version"):
        load_catalog(root.path, {})


def test_git_source_needs_a_ref_when_the_version_is_literal(root):
    root.software("app", extra="source: {git: https://git.example.test/app.git}\n")
    with pytest.raises(DefinitionError, match="ref"):
        load_catalog(root.path, {})


def test_version_file_must_be_at_the_root(root):
    root.write("software/gitaly.yml", GITALY.replace("file: GITALY", "file: ../GITALY"))
    with pytest.raises(DefinitionError, match="not a file name"):
        load_catalog(root.path, {})
