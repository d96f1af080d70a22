"""Overrides the environment makes at load time: the sources channel (SECURITY_SOURCES,
ALTERNATIVE_SOURCES), OPENSSL_VERSION and RUBY_VERSION, on the real definitions, and the
errors of a bad value or a bad `selectable_versions`."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError, UsageError

REPO = Path(__file__).resolve().parents[3]
#: The remotes are the definitions' data; the tests name the channel each should come from.
DEFAULT, REMOTE, SECURITY = "git", "remote", "security"


def software(environ: dict[str, str], *names: str):
    catalog = load_catalog(REPO, environ=environ)
    return [catalog.software[name] for name in names]


def remote_of(name: str, channel: str) -> str:
    (written,) = software({}, name)
    return written.source.git if channel == DEFAULT else written.source.channels[channel]


@pytest.mark.parametrize(("environ", "gitaly", "nginx"), [
    ({}, DEFAULT, DEFAULT),
    ({"ALTERNATIVE_SOURCES": "true"}, DEFAULT, DEFAULT),
    ({"ALTERNATIVE_SOURCES": "false"}, REMOTE, REMOTE),
    # security where a component has a security remote (nginx has none), else the fallback
    ({"SECURITY_SOURCES": "true"}, SECURITY, DEFAULT),
    ({"SECURITY_SOURCES": "true", "ALTERNATIVE_SOURCES": "false"}, SECURITY, REMOTE),
    ({"SECURITY_SOURCES": "false", "ALTERNATIVE_SOURCES": "false"}, REMOTE, REMOTE),
])
def test_the_sources_channel_picks_each_git_remote(environ, gitaly, nginx):
    found_gitaly, found_git, found_nginx = software(environ, "gitaly", "git", "nginx")
    assert found_gitaly.source.git == remote_of("gitaly", gitaly)
    assert found_nginx.source.git == remote_of("nginx", nginx)
    assert found_git.source.git == found_gitaly.source.git  # git builds from Gitaly's repository
    assert found_nginx.source.ref == "release-1.31.0"
    assert len({remote_of("gitaly", c) for c in (DEFAULT, REMOTE, SECURITY)}) == 3


def test_a_source_without_other_channels_keeps_its_remote():
    (rubygems,) = software({"SECURITY_SOURCES": "true", "ALTERNATIVE_SOURCES": "false"},
                           "rubygems")
    assert not rubygems.source.channels
    assert rubygems.source.git == remote_of("rubygems", DEFAULT)


@pytest.mark.parametrize("name", ["SECURITY_SOURCES", "ALTERNATIVE_SOURCES"])
def test_a_channel_flag_must_be_true_or_false(name):
    with pytest.raises(UsageError) as error:
        load_catalog(REPO, environ={name: "yes"})
    assert f"{name}='yes'" in str(error.value) and "true, false" in str(error.value)


def test_openssl_defaults_to_the_pipelines_version_and_selects_the_1_1_1_line():
    (default,) = software({}, "openssl")
    assert (default.version, default.source.ref, default.license) == \
        ("3.6.3", "openssl-3.6.3", "Apache-2.0")
    (pinned,) = software({"OPENSSL_VERSION": "3.6.3"}, "openssl")
    assert pinned == default
    (line_1,) = software({"OPENSSL_VERSION": "1.1.1w"}, "openssl")
    assert (line_1.name, line_1.version, line_1.source.ref, line_1.license) == \
        ("openssl", "1.1.1w", "OpenSSL_1_1_1w", "OpenSSL")
    assert line_1.file.name == "openssl_1.yml"


def test_an_unknown_openssl_version_names_the_variable_and_the_allowed_values():
    with pytest.raises(UsageError) as error:
        load_catalog(REPO, environ={"OPENSSL_VERSION": "2.0.0"})
    assert "OPENSSL_VERSION='2.0.0'" in str(error.value)
    assert "3.6.3, 1.1.1w" in error.value.hint


@pytest.mark.parametrize(("value", "version", "sha256"), [
    ("", "3.3.12", "b06d63beae271933033e27f0a389bc582a009e7845357d44365c39de525a051b"),
    ("current", "3.3.12", "b06d63beae271933033e27f0a389bc582a009e7845357d44365c39de525a051b"),
    ("next", "3.4.10", "ecee2d072a14f2d14347dd56dfd8fe5c3130abf5117bfaacbda0f4ef9cc429ec"),
    ("3.4.9", "3.4.9", "7bb4d4f5e807cc27251d14d9d6086d182c5b25875191e44ab15b709cd7a7dd9c"),
])
def test_ruby_version_selects_a_pinned_ruby(value, version, sha256):
    (ruby,) = software({"RUBY_VERSION": value}, "ruby")
    minor = ".".join(version.split(".")[:2])
    assert (ruby.version, ruby.source.sha256) == (version, sha256)
    assert ruby.source.url == f"https://cache.ruby-lang.org/pub/ruby/{minor}/ruby-{version}.tar.gz"


def test_a_ruby_version_without_a_checksum_is_refused():
    with pytest.raises(UsageError) as error:
        load_catalog(REPO, environ={"RUBY_VERSION": "3.5.0"})
    assert "RUBY_VERSION='3.5.0'" in str(error.value)
    assert error.value.hint.startswith("use one of: current, next, 3.3.10")


def _root(tmp_path: Path, selectable: str) -> Path:
    (tmp_path / "software").mkdir()
    (tmp_path / "software/a.yml").write_text(
        'version: "1.0"\nlicense: MIT\n'
        "source: {url: https://example.test/a-1.0.tgz, sha256: " + "a" * 64 + "}\n"
        + selectable + "build: [make]\n")
    return tmp_path


@pytest.mark.parametrize(("selectable", "problem"), [
    ("selectable_versions: {env: A_VERSION, versions: {'2.0': {url: https://x/a.tgz, "
     "sha256: " + "b" * 64 + "}}}\n", "does not list the definition's own version '1.0'"),
    ("selectable_versions: {env: A_VERSION, versions: {'1.0': {ref: v1.0}}}\n",
     "needs url and one of sha256 or sha512"),
    ("selectable_versions: {env: A_VERSION, versions: {'1.0': {definition: b}}}\n",
     "names definition 'b', which does not exist"),
    ("selectable_versions: {env: A_VERSION, aliases: {next: '9'}, versions: {'1.0': "
     "{definition: a}}}\n", "'next' names '9'"),
])
def test_a_bad_selectable_versions_is_a_definition_error(tmp_path, selectable, problem):
    with pytest.raises(DefinitionError) as error:
        load_catalog(_root(tmp_path, selectable), environ={})
    assert problem in str(error.value)
    assert "a.yml" in str(error.value)
