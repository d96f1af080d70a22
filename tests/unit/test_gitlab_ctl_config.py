"""gitlab-ctl show-config / check-config: any config file, anywhere, no installation needed."""

from __future__ import annotations

import json

from gitlab_ctl.cli import main


def test_show_config_prints_the_settings_as_json(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "redis['maxmemory'] = '100mb'\n")
    assert main(["show-config", "--config", str(config)]) == 0
    settings = json.loads(capsys.readouterr().out)
    assert settings["external_url"] == "http://gitlab.example.test"
    assert settings["redis"]["maxmemory"] == "100mb"  # gitlab.rb wins
    assert settings["redis"]["unixsocket"] == "/var/opt/gitlab/redis/redis.socket"  # default
    assert settings["gitlab_rails"]["gitlab_host"] == "gitlab.example.test"  # derived


def test_check_config_names_file_line_and_fix(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n\n"
                      "gitlab_rails['x'] = `curl evil.example.test`\n")
    assert main(["check-config", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{config}:3: shell commands (backticks) are not allowed" in error
    assert "hint:" in error


def test_yaml_config_is_accepted_and_checked(tmp_path, capsys):
    config = tmp_path / "gitlab.yml"
    config.write_text("external_url: http://gitlab.example.test\nnginx: {listen_port: 8080}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "valid (2 top-level settings)" in capsys.readouterr().out
    config.write_text("ngnix: {listen_port: 8080}\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "did you mean 'nginx'?" in capsys.readouterr().err


def test_missing_config_is_a_clear_error(tmp_path, capsys):
    assert main(["show-config", "--config", str(tmp_path / "nope.rb")]) == 2
    assert "cannot be read (No such file or directory)" in capsys.readouterr().err


def test_check_config_validates_values_and_warns_about_unused_keys(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\nredis['maxclient'] = 1\n")
    assert main(["check-config", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "valid (2 top-level settings, 1 warnings)" in captured.out
    assert f"{config}:2: redis['maxclient'] is not used by this gitlab-ctl" in captured.err
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "postgresql['port'] = 'five'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:2: postgresql['port'] = 'five' is not a port number" in \
        capsys.readouterr().err
