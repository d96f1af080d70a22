"""Defaults, gitlab.rb on top, values derived from external_url, and the default services."""

from __future__ import annotations

import pytest

from gitlab_ctl.config.attributes import parse_external_url, resolve_attributes
from gitlab_ctl.config.reader import ConfigError


@pytest.mark.parametrize(("url", "host", "port", "https", "relative"), [
    ("http://gitlab.example.test", "gitlab.example.test", 80, False, None),
    ("https://gitlab.example.test/", "gitlab.example.test", 443, True, None),
    ("http://gitlab.example.test:8181", "gitlab.example.test", 8181, False, None),
    ("https://example.test/gitlab/", "example.test", 443, True, "/gitlab"),
])
def test_external_url_gives_host_port_https_and_relative_url(url, host, port, https, relative):
    assert parse_external_url(url) == {"gitlab_host": host, "gitlab_port": port,
                                       "gitlab_https": https, "gitlab_relative_url": relative}


@pytest.mark.parametrize("url", ["gitlab.example.test", "ftp://gitlab.example.test",
                                 "http://", "http://gitlab.example.test:http"])
def test_a_bad_external_url_is_refused_with_omnibus_words(url):
    with pytest.raises(ConfigError) as caught:
        parse_external_url(url)
    assert "external_url" in caught.value.where and "e.g. external_url" in caught.value.hint


def test_an_unsupported_scheme_is_named():
    with pytest.raises(ConfigError, match="Unsupported external URL scheme: ftp"):
        parse_external_url("ftp://gitlab.example.test")


def test_gitlab_rb_wins_and_derived_values_fill_only_gaps():
    attributes = resolve_attributes({
        "external_url": "https://gitlab.example.test",
        "nginx": {"listen_port": 8080, "listen_https": False},
        "redis": {"maxmemory": "1gb"},
    })
    assert (attributes["nginx"]["listen_port"], attributes["nginx"]["listen_https"]) == (
        8080, False)
    assert attributes["gitlab_rails"]["gitlab_port"] == 443
    assert attributes["redis"]["maxmemory"] == "1gb"
    assert attributes["redis"]["maxmemory_policy"] == "noeviction"


def test_default_services_run_unless_a_role_or_an_explicit_enable_says_otherwise():
    plain = resolve_attributes({"external_url": "http://gitlab.example.test"})
    assert all(plain[s]["enable"] for s in ("postgresql", "redis", "nginx", "logrotate"))
    assert plain["registry"]["enable"] is False
    explicit = resolve_attributes({"redis": {"enable": False}})
    assert explicit["redis"]["enable"] is False and explicit["nginx"]["enable"] is True
    role = resolve_attributes({"redis_master_role": {"enable": True}})
    assert role["postgresql"]["enable"] is False
