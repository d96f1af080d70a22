"""The settings' schema (gitlab_ctl/config/schema.yml) is the one declaration of gitlab.rb's
settings: its defaults fit their own types, the shipped gitlab.rb.template is generated from
it and shows exactly the applied settings, what reconfigure renders reads no setting it does
not declare, and a value of the wrong type is refused naming its gitlab.rb line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gitlab_ctl.cli import main
from gitlab_ctl.config import gitlabrb_template
from gitlab_ctl.config.gitlabrb import parse_gitlab_rb
from gitlab_ctl.config.schema import TOP_LEVEL, known_type, load_schema
from gitlab_ctl.config.setting_names import CALL_SETTINGS, HASH_SETTINGS
from gitlab_ctl.services.base import Context
from tests.conftest import REPO
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

TEMPLATE = REPO / "templates" / "software" / "gitlab-config-template" / "gitlab.rb.template.j2"
#: `# section['key'] = ...` (a sub-key counts as its key) and `# external_url '...'`
ASSIGNED = re.compile(r"^(?:# ?)?([a-z_]+)\['([a-z0-9_]+)'\]")
CALLED = re.compile(r"^(?:# ?)?([a-z_]+) ['\"\[]")
#: Settings that different test configs turn on, so that every template renders.
CONFIGS = ({}, {"external_url": "https://gitlab.example.test/sub",
                "registry_external_url": "https://registry.example.test"},
           {"redis": {"port": 6379, "password": "x"}, "gitlab_rails": {"db_password": "y"}})


def test_every_default_fits_its_own_type():
    schema = load_schema()
    assert len(schema.settings) > 200
    wrong = [setting.name for setting in schema.settings.values()
             if not known_type(setting.type) or not setting.doc
             or (setting.has_default and setting.problem(setting.default))]
    assert wrong == []


def test_sections_are_names_gitlab_rb_accepts():
    sections = {section for section, _key in load_schema().settings}
    assert sections - {TOP_LEVEL} <= HASH_SETTINGS
    assert {key for section, key in load_schema().settings if section == TOP_LEVEL} \
        <= CALL_SETTINGS


def template_settings() -> set[tuple[str, str]]:
    found = set()
    for line in TEMPLATE.read_text().splitlines():
        if match := ASSIGNED.match(line):
            found.add(match.groups())
        elif (match := CALLED.match(line)) and match.group(1) in CALL_SETTINGS:
            found.add((TOP_LEVEL, match.group(1)))
    return found


def test_the_gitlab_rb_template_is_generated_from_the_schema():
    """The committed template is what gitlabrb_template writes from schema.yml and its
    layout: regenerate it with `python3 -m gitlab_ctl.config.gitlabrb_template --write`."""
    assert TEMPLATE.read_text() == gitlabrb_template.render(
        load_schema(), gitlabrb_template.read_layout())


def test_the_gitlab_rb_template_shows_exactly_the_applied_settings():
    """Every applied setting, and none of the not-applicable ones (those only warn)."""
    shown = template_settings()
    applied = {name for name, setting in load_schema().settings.items()
               if setting.used and not setting.inferred}
    assert sorted(shown - applied) == []
    assert sorted(applied - shown) == []


def test_the_template_values_are_read_back_as_written():
    for value, kind in [(None, ""), (True, ""), (0o640, "mode"), (0, "mode"), (3, ""),
                        ("it's", ""), (["a", 1], ""), ({"k": {"n": None}}, "")]:
        text = gitlabrb_template.ruby(value, kind)
        assert parse_gitlab_rb(f"nginx['v'] = {text}\n", {})["nginx"]["v"] == value, text


class Recording(Mapping):
    """A section of the attributes that notes every key read, present or not."""

    def __init__(self, section: str, values: Mapping[str, Any], reads: set) -> None:
        self.section, self.values, self.reads = section, values, reads

    def __getitem__(self, key: str) -> Any:
        self.reads.add((self.section, key))
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.mark.parametrize("settings", CONFIGS)
def test_what_reconfigure_renders_reads_only_declared_settings(settings):
    context, reads = make_context(settings), set()
    attributes = {name: Recording(name, value, reads) if isinstance(value, dict) else value
                  for name, value in context.attributes.items()}
    recording = Context(context.layout, attributes, context.secrets, context.facts)
    assert len([f for f in service_files(recording) if f.kind == "template"]) > 20
    schema = load_schema()
    undeclared = sorted(f"{section}['{key}']" for section, key in reads
                        if schema.get(section, key) is None)
    assert undeclared == []
    assert ("redis", "maxclients") in reads and ("nginx", "listen_port") in reads


@pytest.mark.parametrize(("line", "message"), [
    ("redis['maxclients'] = 'many'", "redis['maxclients'] = 'many' must be an integer"),
    ("nginx['listen_addresses'] = '*'", "nginx['listen_addresses'] = '*' must be an array"),
    ("puma['port'] = '8080'", "puma['port'] = '8080' is not a port number"),
    ("sidekiq['metrics_enabled'] = 'yes'", "sidekiq['metrics_enabled'] = 'yes' must be true or "
                                           "false"),
    ("git_data_dir 5", "git_data_dir = 5 must be a string"),
    ("gitlab_rails['omniauth_allow_single_sign_on'] = 'saml'",
     "gitlab_rails['omniauth_allow_single_sign_on'] = 'saml' must be true or false or an array"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_its_line(tmp_path, capsys, line, message):
    config = tmp_path / "gitlab.rb"
    config.write_text(f"external_url 'http://gitlab.example.test'\n{line}\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"gitlab-ctl: error: {config}:2: {message}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["true", "false", "['saml', 'github']"])
def test_a_union_type_takes_either_form(tmp_path, value):
    config = tmp_path / "gitlab.rb"
    config.write_text(f"gitlab_rails['omniauth_allow_single_sign_on'] = {value}\n")
    assert main(["check-config", "--config", str(config)]) == 0


def test_a_declared_but_unused_setting_still_warns(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("gitlab_rails['redis_queues_password'] = 'p'\n"
                      "mattermost['enable'] = true\n")
    assert main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "gitlab_rails['redis_queues_password'] is not applicable here: Rails reads it " \
        "only with cluster nodes" in err
    # every section has a status now: a service this gitlab-ctl does not run warns too
    assert ("mattermost['enable'] is not applicable here: Mattermost is not part of this "
            "package") in err


def test_the_template_s_own_values_pass_the_checks(tmp_path, capsys):
    """Every one-line setting the template shows, uncommented, is a valid gitlab.rb."""
    lines = [line[2:] for line in TEMPLATE.read_text().splitlines()
             if ASSIGNED.match(line) and line.startswith("# ")
             and not line.rstrip().endswith(("{", "<<-'EOS'"))]
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n" + "\n".join(lines) + "\n")
    assert main(["check-config", "--config", str(config)]) == 0, capsys.readouterr().err
