"""Peer tests: expectations of omnibus-gitlab's spec/chef/cookbooks/gitlab/recipes/
gitlab-rails/database_yml_spec.rb, checked against what our reconfigure renders in
database.yml for the same gitlab.rb input. Each case id names the spec context it comes
from; the words are ours, the facts theirs. Also: every gitlab_rails db_* key schema.yml
declares applied reaches database.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.services import gitlab_rails
from tests.unit.gitlab_ctl.test_config_templates import make_context

DATABASE_YML = Path("/var/opt/gitlab/gitlab-rails/etc/database.yml")
#: database_yml_spec.rb's default_database_settings (database_tasks aside).
DEFAULTS = {
    "adapter": "postgresql", "application_name": None, "collation": None,
    "connect_timeout": None, "database": "gitlabhq_production", "encoding": "unicode",
    "host": "/var/opt/gitlab/postgresql", "keepalives": None, "keepalives_count": None,
    "keepalives_idle": None, "keepalives_interval": None, "load_balancing": {"hosts": []},
    "password": None, "port": 5432, "prepared_statements": False, "socket": None,
    "sslca": None, "sslcompression": 0, "sslmode": None, "sslrootcert": None,
    "statement_limit": 1000, "tcp_user_timeout": None, "username": "gitlab",
    "variables": {"statement_timeout": None}}
SPLIT = {"main": {"db_connect_timeout": 30},
         "ci": {"db_host": "the-ci-host", "enable": True, "db_connect_timeout": 50,
                "db_database_tasks": False},
         "embedding": {"db_host": "the-embedding-host", "enable": True,
                       "db_load_balancing": {}, "db_database_tasks": True},
         "sec": {"db_host": "the-sec-host", "enable": True, "db_connect_timeout": 50,
                 "db_database_tasks": False}}
EXPLICIT_TASKS = {"main": {"db_connect_timeout": 30, "db_database_tasks": True},
                  "ci": {"enable": True, "db_host": "patroni-ci", "db_connect_timeout": 50,
                         "db_database_tasks": False}}


def content(rails: dict[str, Any]) -> str:
    files = {f.path: f for f in gitlab_rails.config_files(make_context({"gitlab_rails": rails}))}
    return files[DATABASE_YML].content


def production(rails: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(content(rails))["production"]


def dig(tree: Any, path: str) -> Any:
    for key in path.split("."):
        tree = tree[key]
    return tree


# (spec context, gitlab.rb gitlab_rails, dotted path in production, expected)
CASES = [
    ("default-main", {}, "main", {**DEFAULTS, "database_tasks": True}),
    ("default-ci", {}, "ci", {**DEFAULTS, "database_tasks": False}),
    ("top-level-db-database", {"db_database": "foobar"}, "main.database", "foobar"),
    ("top-level-db-database-tasks", {"db_database": "foobar"}, "main.database_tasks", True),
    ("overwritten-main-database", {"db_database": "foobar", "db_database_tasks": True,
                                   "databases": {"main": {"enable": True,
                                                          "db_database_tasks": False}}},
     "main.database", "foobar"),
    ("overwritten-main-tasks", {"db_database": "foobar", "db_database_tasks": True,
                                "databases": {"main": {"enable": True,
                                                       "db_database_tasks": False}}},
     "main.database_tasks", False),
    ("main-via-databases", {"databases": {"main": {"enable": True, "db_database": "foobar"}}},
     "main.database", "foobar"),
    ("same-database-as-main", {"databases": {"ci": {"enable": True}}}, "ci",
     {**DEFAULTS, "database_tasks": False}),
    ("different-database-ci", {"databases": {"ci": {"enable": True,
                                                    "db_database": "gitlabhq_production_ci"}}},
     "ci", {**DEFAULTS, "database": "gitlabhq_production_ci", "database_tasks": True}),
    ("different-database-main", {"databases": {"ci": {"enable": True,
                                                      "db_database": "gitlabhq_production_ci"}}},
     "main", {**DEFAULTS, "database_tasks": True}),
    ("explicit-tasks-main-timeout", {"databases": EXPLICIT_TASKS}, "main.connect_timeout", 30),
    ("explicit-tasks-main-tasks", {"databases": EXPLICIT_TASKS}, "main.database_tasks", True),
    ("explicit-tasks-ci-timeout", {"databases": EXPLICIT_TASKS}, "ci.connect_timeout", 50),
    ("explicit-tasks-ci-tasks", {"databases": EXPLICIT_TASKS}, "ci.database_tasks", False),
    ("split-main-timeout", {"databases": SPLIT}, "main.connect_timeout", 30),
    ("split-main-tasks", {"databases": SPLIT}, "main.database_tasks", True),
    ("split-ci-host", {"databases": SPLIT}, "ci.host", "the-ci-host"),
    ("split-ci-timeout", {"databases": SPLIT}, "ci.connect_timeout", 50),
    ("split-ci-tasks", {"databases": SPLIT}, "ci.database_tasks", False),
    ("split-embedding-host", {"databases": SPLIT}, "embedding.host", "the-embedding-host"),
    ("split-embedding-timeout", {"databases": SPLIT}, "embedding.connect_timeout", 30),
    ("split-embedding-load-balancing", {"databases": SPLIT}, "embedding.load_balancing", {}),
    ("split-embedding-tasks", {"databases": SPLIT}, "embedding.database_tasks", True),
    ("split-sec-host", {"databases": SPLIT}, "sec.host", "the-sec-host"),
    ("split-sec-timeout", {"databases": SPLIT}, "sec.connect_timeout", 50),
    ("split-sec-tasks", {"databases": SPLIT}, "sec.database_tasks", False),
]


@pytest.mark.parametrize(("rails", "path", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_database_yml_matches_omnibus_gitlab_specs(rails, path, expected):
    assert dig(production(rails), path) == expected


def test_main_comes_first():
    # database_yml_spec.rb: 'renders database.yml with main stanza first'
    assert "\nproduction:\n  main:\n" in content({"databases": {"ci": {"enable": True}}})


def test_split_main_keeps_load_balancing():
    # database_yml_spec.rb: main `to have_key(:load_balancing)` with split databases
    assert "load_balancing" in production({"databases": SPLIT})["main"]


@pytest.mark.parametrize(("case", "databases"), [
    ("ci-disabled", {"ci": {"enable": False}}),
    ("additional-not-enabled", {"main": {"db_connect_timeout": 30},
                                "ci": {"db_connect_timeout": 50}}),
])
def test_a_database_not_enabled_is_left_out(case, databases):
    # database_yml_spec.rb: 'renders database.yml without ci database'
    assert list(production({"databases": databases})) == ["main"]


def test_an_unknown_enabled_database_is_refused_and_a_disabled_one_ignored():
    # database_yml_spec.rb 'with invalid additional database specified': omnibus-gitlab warns
    # and ignores `foobar`; reconfigure refuses it, naming it, and says nothing of `johndoe`.
    databases = {"foobar": {"enable": True, "db_database": "gitlabhq_foobar"},
                 "johndoe": {"db_database": "gitlabhq_johndoe"},
                 "ci": {"enable": True, "db_database": "gitlabhq_ci"}}
    with pytest.raises(ConfigError, match="databases'\\]\\['foobar'\\]") as raised:
        production({"databases": databases})
    assert "johndoe" not in str(raised.value)
    assert list(production({"databases": {"johndoe": databases["johndoe"]}})) == ["main", "ci"]


def test_client_certificate_needs_both_cert_and_key():
    # database.yml.erb writes sslcert and sslkey only when both are set
    assert "sslcert" not in production({"db_sslcert": "/c.crt"})["main"]
    main = production({"db_sslcert": "/c.crt", "db_sslkey": "/c.key"})["main"]
    assert (main["sslcert"], main["sslkey"]) == ("/c.crt", "/c.key")


def test_either_ca_name_fills_both():
    for key in ("db_sslrootcert", "db_sslca"):
        main = production({key: "/ca.crt"})["main"]
        assert (main["sslrootcert"], main["sslca"]) == ("/ca.crt", "/ca.crt")


#: Keys that need a partner to be written (database.yml.erb: sslcert needs sslkey).
PARTNERS = {"db_sslcert": {"db_sslkey": "/partner.key"},
            "db_sslkey": {"db_sslcert": "/partner.crt"}}
#: A distinctive value per schema type (booleans flip their default).
PROBES: dict[str, Any] = {"string": "probe-value", "text": "probe-value", "integer": 4242,
                          "port": 4242, "number": 42.5}
SPECIAL_PROBES: dict[str, Any] = {
    "databases": {"ci": {"enable": True, "db_database": "probe_ci"}},
    "db_load_balancing": {"hosts": ["probe.example.test"]}}


def applied_db_keys() -> list[str]:
    schema = load_schema()
    return sorted(key for key in schema.keys("gitlab_rails")
                  if (key.startswith("db_") or key == "databases")
                  and schema.settings[("gitlab_rails", key)].used)


def probe_value(key: str) -> Any:
    setting = load_schema().settings[("gitlab_rails", key)]
    if key in SPECIAL_PROBES:
        return SPECIAL_PROBES[key]
    if setting.type == "boolean":
        return not setting.default
    return PROBES[setting.type]


@pytest.mark.parametrize("key", applied_db_keys())
def test_every_applied_database_key_reaches_database_yml(key):
    base = PARTNERS.get(key, {})
    assert content({**base, key: probe_value(key)}) != content(base), key
