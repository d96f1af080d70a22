"""Settings are checked before the host is touched; errors name the gitlab.rb line."""

from __future__ import annotations

import pytest

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import ConfigError, read_config
from gitlab_ctl.config.validation import validate

URL = "external_url 'http://gitlab.example.test'\n"


def check(tmp_path, text):
    path = tmp_path / "gitlab.rb"
    path.write_text(URL + text)
    settings, lines = read_config(path, facts={"fqdn": "gitlab"})
    return validate(resolve_attributes(settings), settings, lines, path)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("gitlab_rails['initial_root_password'] = 'short'\n", 2, "minimum is 8 characters"),
    ("roles ['redis_master_role', 'nonsense_role']\n", 2,
     "invalid roles have been set in 'roles': nonsense_role"),
    ("\nredis['enable'] = 'yes'\n", 3, "must be true or false"),
    ("postgresql['port'] = '5432'\n", 2, "is not a port number"),
    ("nginx['listen_port'] = 70000\n", 2, "is not a port number"),
    ("gitlab_rails['db_adapter'] = 'mysql2'\n", 2, "not supported"),
    ("puma['worker_timeout'] = 30\ngitlab_rails['max_request_duration_seconds'] = 40\n", 3,
     "smaller than the worker timeout (30s)"),
])
def test_invalid_settings_are_refused_with_their_line(tmp_path, text, line, message):
    with pytest.raises(ConfigError) as error:
        check(tmp_path, text)
    assert error.value.where == f"{tmp_path / 'gitlab.rb'}:{line}"
    assert message in error.value.message


def test_an_unknown_key_is_an_error_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError) as error:
        check(tmp_path, "redis['maxclient'] = 10\nredis['maxclients'] = 20\n")
    assert error.value.where == f"{tmp_path / 'gitlab.rb'}:2"
    assert error.value.message == "redis['maxclient'] is not a setting of redis (omnibus-gitlab " \
                                  "has no such key either)"
    assert error.value.hint == "did you mean redis['maxclients']?"


def test_a_key_of_another_section_is_named(tmp_path):
    with pytest.raises(ConfigError) as error:
        check(tmp_path, "redis['listen_https'] = true\n")
    assert error.value.hint.startswith("'listen_https' is a setting of ")


def test_a_setting_that_has_no_effect_here_warns_once_with_its_reason(tmp_path):
    warnings = check(tmp_path, "consul['enable'] = true\nredis['master_name'] = 'm'\n")
    assert warnings == [
        f"{tmp_path / 'gitlab.rb'}:2: consul['enable'] is not applicable here: Consul (service "
        "discovery for HA) is not part of this package",
        f"{tmp_path / 'gitlab.rb'}:3: redis['master_name'] is not applicable here: only Redis "
        "Sentinel reads it, and Sentinel is not part of this package"]


def test_not_applicable_settings_of_one_section_and_reason_warn_together(tmp_path):
    """A consul block copied from omnibus-gitlab's template is one warning, not one per key."""
    keys = ["enable", "dir", "node_name", "data_dir", "http_port", "https_port", "use_tls",
            "services"]
    text = "".join(f"consul['{key}'] = nil\n" for key in keys) + "patroni['enable'] = false\n"
    warnings = check(tmp_path, text)
    assert warnings == [
        f"{tmp_path / 'gitlab.rb'}:2: 8 settings of consul are not applicable here: Consul "
        "(service discovery for HA) is not part of this package: consul['enable'] (line 2), "
        "consul['dir'] (line 3), consul['node_name'] (line 4), consul['data_dir'] "
        "(line 5), consul['http_port'] (line 6), consul['https_port'] (line 7) and 2 more",
        f"{tmp_path / 'gitlab.rb'}:10: patroni['enable'] is not applicable here: Patroni "
        "(PostgreSQL HA) is not part of this package"]


def test_a_valid_config_passes_quietly(tmp_path):
    assert check(tmp_path, "redis['maxclients'] = 20\nroles ['redis_master_role']\n") == []


def env_config(tmp_path, file_text: str, env_text: str):
    path = tmp_path / "gitlab.rb"
    path.write_text(file_text)
    return read_config(path, facts={"fqdn": "gitlab"},
                       environ={"GITLAB_OMNIBUS_CONFIG": env_text})


def test_gitlab_rb_applies_after_gitlab_omnibus_config(tmp_path):
    """omnibus-gitlab's image evals GITLAB_OMNIBUS_CONFIG, then from_file gitlab.rb: for
    the same key gitlab.rb wins; a key only the variable sets stays."""
    settings, lines = env_config(
        tmp_path, URL + "gitlab_rails['time_zone'] = 'UTC'\nredis['maxclients'] = 10\n",
        "external_url 'http://other.example.test'; redis['maxclients'] = 20\n"
        "gitlab_rails['gitlab_email_from'] = 'gitlab@example.test'\n")
    assert settings["external_url"] == URL.split("'")[1]
    assert settings["redis"] == {"maxclients": 10}
    # The two sources' keys of one section merge, as Ruby running one after the other would.
    assert settings["gitlab_rails"] == {"time_zone": "UTC",
                                        "gitlab_email_from": "gitlab@example.test"}
    assert lines[("redis", "maxclients")] == f"{tmp_path / 'gitlab.rb'}:3"
    assert lines[("gitlab_rails", "gitlab_email_from")] == "GITLAB_OMNIBUS_CONFIG:2"
    assert lines[("gitlab_rails", "time_zone")] == f"{tmp_path / 'gitlab.rb'}:2"


def test_the_image_defaults_come_first(tmp_path):
    """GITLAB_IMAGE_CONFIG (the image's omnibus Docker defaults) sits below both."""
    defaults = tmp_path / "image.rb"
    defaults.write_text("postgresql['shared_buffers'] = '256MB'\nredis['maxclients'] = 5\n"
                        "node_exporter['enable'] = false\n")
    path = tmp_path / "gitlab.rb"
    path.write_text(URL + "redis['maxclients'] = 10\n")
    settings, lines = read_config(path, facts={"fqdn": "gitlab"}, environ={
        "GITLAB_IMAGE_CONFIG": str(defaults),
        "GITLAB_OMNIBUS_CONFIG": "postgresql['shared_buffers'] = '1GB'"})
    assert settings["postgresql"] == {"shared_buffers": "1GB"}
    assert settings["redis"] == {"maxclients": 10}
    assert settings["node_exporter"] == {"enable": False}
    assert lines[("node_exporter", "enable")] == f"{defaults}:3"


def test_a_yaml_config_also_wins_over_the_variable(tmp_path):
    path = tmp_path / "gitlab.yml"
    path.write_text("external_url: http://gitlab.example.test\nredis:\n  maxclients: 10\n")
    settings, _ = read_config(path, facts={"fqdn": "gitlab"}, environ={
        "GITLAB_OMNIBUS_CONFIG": "redis['maxclients'] = 20; redis['tcp_timeout'] = 5"})
    assert settings["redis"] == {"maxclients": 10, "tcp_timeout": 5}


def test_hostile_gitlab_omnibus_config_is_refused_naming_its_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        env_config(tmp_path, URL, "external_url 'http://gitlab.example.test'\n"
                   "system('touch /tmp/pwned')\n")
    assert error.value.where == "GITLAB_OMNIBUS_CONFIG:2"
    assert "unknown setting 'system'" in error.value.message


def test_invalid_values_from_the_environment_name_it(tmp_path):
    settings, lines = env_config(tmp_path, URL, "nginx['listen_port'] = 70000\n"
                                 "redis['master_name'] = 'm'\n")
    with pytest.raises(ConfigError) as error:
        validate(resolve_attributes(settings), settings, lines, tmp_path / "gitlab.rb")
    assert error.value.where == "GITLAB_OMNIBUS_CONFIG:1"
    del settings["nginx"]
    warnings = validate(resolve_attributes(settings), settings, lines, tmp_path / "gitlab.rb")
    assert warnings and warnings[0].startswith("GITLAB_OMNIBUS_CONFIG:2: redis['master_name']")
