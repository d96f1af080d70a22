"""The GitLab application's configuration as a user checks it: where each file goes, who may
read it, what it says for a given external_url, that secrets stay in sensitive files, and
that one reconfigure plan never writes a path two ways."""

from __future__ import annotations

import os
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from gitlab_ctl.commands.reconfigure import plan
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Directory, File, KeptFile, Link, Run, Step
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import SERVICES, common, puma, tomlwriter
from gitlab_ctl.services.base import Facts
from tests.unit.gitlab_ctl.test_config_templates import fixed_secrets, make_context, service_files

ETC = Path("/var/opt/gitlab/gitlab-rails/etc")


def files(settings: dict | None = None) -> dict[Path, File]:
    return {f.path: f for f in service_files(make_context(settings))}


def resources(name: str, settings: dict | None = None) -> list:
    context = make_context(settings)
    return SERVICES[name].configure(context) + SERVICES[name].runit_resources(context)


def load(settings: dict | None, path: Path) -> dict:
    return yaml.safe_load(files(settings)[path].content)


def test_default_role_runs_the_application_but_not_the_registry():
    attributes = resolve_attributes({"external_url": "http://gitlab.example.test"})
    for section in ("gitlab_rails", "gitlab_shell", "gitaly", "puma", "sidekiq",
                    "gitlab_workhorse"):
        assert attributes[section]["enable"] is True, section
    assert attributes["registry"]["enable"] is False
    # gitaly is in omnibus-gitlab's rails group (services.rb), which the default role
    # leaves out when gitlab_rails['enable'] = false
    off = resolve_attributes({"gitlab_rails": {"enable": False}})
    assert (off["puma"]["enable"], off["sidekiq"]["enable"], off["gitaly"]["enable"],
            off["redis"]["enable"]) == (False, False, False, True)


def test_services_are_converged_in_omnibus_order():
    assert list(SERVICES) == ["postgresql", "redis", "gitlab-rails", "gitlab-shell",
                              "gitlab-sshd", "gitaly", "puma", "sidekiq", "gitlab-workhorse",
                              "mailroom", "storage-check", "registry", "gitlab-pages",
                              "gitlab-kas", "nginx", "logrotate",
                              "crond", "prometheus", "alertmanager", "node-exporter",
                              "redis-exporter", "postgres-exporter", "gitlab-exporter",
                              "gitlab-backup-cli"]


def test_database_yml_connects_over_the_postgresql_socket_and_ci_shares_main():
    production = load(None, ETC / "database.yml")["production"]
    assert list(production) == ["main", "ci"]
    main = production["main"]
    assert (main["adapter"], main["database"], main["username"], main["host"], main["port"]) \
        == ("postgresql", "gitlabhq_production", "gitlab", "/var/opt/gitlab/postgresql", 5432)
    assert main["database_tasks"] is True
    assert production["ci"] == {**main, "database_tasks": False}


@pytest.mark.parametrize(("url", "host", "port", "https", "relative"), [
    ("http://gitlab.example.test", "gitlab.example.test", 80, False, None),
    ("https://gitlab.example.test", "gitlab.example.test", 443, True, None),
    ("https://example.test:8443/gitlab/", "example.test", 8443, True, "/gitlab"),
])
def test_gitlab_yml_follows_external_url(url, host, port, https, relative):
    gitlab = load({"external_url": url}, ETC / "gitlab.yml")["production"]["gitlab"]
    assert (gitlab["host"], gitlab["port"], gitlab["https"]) == (host, port, https)
    assert gitlab.get("relative_url_root") == relative
    assert gitlab["email_from"] == f"gitlab@{host}"


def test_a_relative_url_reaches_workhorse_gitlab_shell_and_the_rails_environment():
    settings = {"external_url": "https://example.test/gitlab"}
    written = files(settings)
    run = written[Path("/opt/gitlab/sv/gitlab-workhorse/run")].content
    assert "-authBackend http://localhost:8080/gitlab " in run
    shell = yaml.safe_load(written[Path("/var/opt/gitlab/gitlab-shell/config.yml")].content)
    assert shell["gitlab_relative_url_root"] == "/gitlab"
    env = {r.path.name: r.content for r in resources("gitlab-rails", settings)
           if isinstance(r, File) and r.path.parent.name == "env"}
    assert env["RAILS_RELATIVE_URL_ROOT"] == "/gitlab"
    gitaly = tomllib.loads(written[Path("/var/opt/gitlab/gitaly/config.toml")].content)
    assert gitaly["gitlab"]["relative_url_root"] == "/gitlab"


def test_rails_files_are_where_omnibus_puts_them_with_its_owners_and_modes():
    written = files()
    for name in ("gitlab.yml", "database.yml", "secrets.yml", "resque.yml", "cable.yml",
                 "gitlab_workhorse_secret", "gitlab_shell_secret"):
        f = written[ETC / name]
        assert (f.owner, f.group, f.mode) == ("root", "git", 0o640), name
    assert written[ETC / "puma.rb"].mode == 0o644
    for path in ("/var/opt/gitlab/gitaly/config.toml", "/var/opt/gitlab/gitlab-shell/config.yml",
                 "/var/opt/gitlab/gitlab-workhorse/config.toml"):
        f = written[Path(path)]
        assert (f.owner, f.group, f.mode) == ("root", "git", 0o640), path
    assert yaml.safe_load(written[ETC / "resque.yml"].content) == {
        "production": {"url": "unix:///var/opt/gitlab/redis/redis.socket",
                       "secret_file": "/var/opt/gitlab/gitlab-rails/shared/encrypted_settings/"
                                      "redis.yml.enc"}}


def test_rails_directories_have_omnibus_owners_and_modes():
    dirs = {r.path: r for r in resources("gitlab-rails") if isinstance(r, Directory)}
    expected = {
        "/var/opt/gitlab/gitlab-rails": ("git", None, 0o755),
        "/var/opt/gitlab/gitlab-rails/etc": ("git", None, 0o700),
        "/var/opt/gitlab/gitlab-rails/sockets": ("git", "gitlab-www", 0o750),
        "/var/opt/gitlab/gitlab-rails/uploads": ("git", "git", 0o700),
        "/var/opt/gitlab/git-data/repositories": ("git", "git", 0o2770),
        "/var/opt/gitlab/backups": ("git", None, 0o700),
        "/var/log/gitlab/gitlab-rails": ("git", None, 0o700),
    }
    for path, (owner, group, mode) in expected.items():
        d = dirs[Path(path)]
        assert (d.owner, d.group, d.mode) == (owner, group, mode), path


def test_the_rails_env_dir_has_one_file_per_variable():
    env = {r.path.name: r.content for r in resources("gitlab-rails")
           if isinstance(r, File) and r.path.parent == Path("/opt/gitlab/etc/gitlab-rails/env")}
    assert env["RAILS_ENV"] == "production" and env["HOME"] == "/var/opt/gitlab"
    assert env["BUNDLE_GEMFILE"] == "/opt/gitlab/embedded/service/gitlab-rails/Gemfile"
    assert env["PATH"].startswith("/opt/gitlab/bin:/opt/gitlab/embedded/bin:")
    assert {"ICU_DATA", "SSL_CERT_DIR", "SSL_CERT_FILE", "TZ"} <= set(env)
    custom = {r.path.name: r.content for r in resources(
        "gitlab-rails", {"gitlab_rails": {"env": {"TZ": "UTC", "EXTRA": "1"}}})
        if isinstance(r, File) and r.path.parent.name == "env"}
    assert (custom["TZ"], custom["EXTRA"]) == ("UTC", "1")


def _secret_values(data) -> list[str]:
    if isinstance(data, dict):
        return [v for value in data.values() for v in _secret_values(value)]
    return [data] if isinstance(data, str) and len(data) >= 16 else []


@pytest.mark.parametrize("settings", [None, {"registry_external_url": "https://r.example.test"}])
def test_secrets_appear_only_in_sensitive_files(settings):
    secrets = _secret_values(fixed_secrets())
    written = files(settings)
    for f in written.values():
        if not f.sensitive:
            leaked = [s[:30] for s in secrets if s in f.content]
            assert leaked == [], f"{f.path} holds {leaked} but is not sensitive"
    secrets_yml = yaml.safe_load(written[ETC / "secrets.yml"].content)["production"]
    assert secrets_yml["openid_connect_signing_key"] == fixed_secrets()["gitlab_rails"][
        "openid_connect_signing_key"]
    assert isinstance(secrets_yml["active_record_encryption_primary_key"], list)
    token = fixed_secrets()["gitlab_shell"]["secret_token"]
    assert written[ETC / "gitlab_shell_secret"].content == token
    assert written[Path("/var/opt/gitlab/gitaly/.gitlab_secret")].content == token


@pytest.mark.parametrize(("cpus", "memory_gib", "workers"), [
    (2, 8, 2), (16, 8, 6), (8, 32, 8), (1, 1, 2), (4, 2, 2),
])
def test_puma_worker_count_follows_cpus_and_memory(cpus, memory_gib, workers):
    assert puma.worker_processes(Facts(cpus=cpus, memory_kb=memory_gib * 1024 * 1024)) == workers


def test_puma_rb_binds_the_socket_workhorse_uses_and_is_restarted_on_change():
    written = files()
    puma_rb = written[ETC / "puma.rb"]
    assert "bind 'unix:///var/opt/gitlab/gitlab-rails/sockets/gitlab.socket'" in puma_rb.content
    assert "workers 2\n" in puma_rb.content and ("restart", "puma") in puma_rb.notifies
    run = written[Path("/opt/gitlab/sv/gitlab-workhorse/run")].content
    assert "-authSocket /var/opt/gitlab/gitlab-rails/sockets/gitlab.socket " in run
    assert "bundle exec puma -C /var/opt/gitlab/gitlab-rails/etc/puma.rb" in \
        written[Path("/opt/gitlab/sv/puma/run")].content


def test_gitaly_serves_the_default_storage_and_calls_rails_through_workhorse():
    config = tomllib.loads(files()[Path("/var/opt/gitlab/gitaly/config.toml")].content)
    assert config["storage"] == [{"name": "default",
                                  "path": "/var/opt/gitlab/git-data/repositories"}]
    assert config["gitlab"]["url"] == \
        "http+unix://%2Fvar%2Fopt%2Fgitlab%2Fgitlab-workhorse%2Fsockets%2Fsocket"
    assert config["git"]["ignore_gitconfig"] is True
    assert config["bin_dir"] == "/opt/gitlab/embedded/bin"
    gitlab_yml = load(None, ETC / "gitlab.yml")["production"]
    assert gitlab_yml["repositories"]["storages"] == {
        "default": {"gitaly_address": "unix:/var/opt/gitlab/gitaly/gitaly.socket"}}


def test_gitaly_storages_from_gitlab_rb_replace_the_default():
    storages = [{"name": "default", "path": "/srv/git"}, {"name": "fast", "path": "/ssd/git"}]
    settings = {"gitaly": {"configuration": {"storage": storages}}}
    config = tomllib.loads(files(settings)[Path("/var/opt/gitlab/gitaly/config.toml")].content)
    assert config["storage"] == storages
    dirs = {r.path for r in resources("gitaly", settings) if isinstance(r, Directory)}
    assert {Path("/srv/git"), Path("/ssd/git")} <= dirs
    assert set(load(settings, ETC / "gitlab.yml")["production"]["repositories"]["storages"]) \
        == {"default", "fast"}


def test_registry_external_url_enables_the_registry_and_tells_rails():
    settings = {"registry_external_url": "https://registry.example.test:5050"}
    attributes = resolve_attributes({"external_url": "http://gitlab.example.test", **settings})
    assert attributes["registry"]["enable"] is True
    registry = load(settings, ETC / "gitlab.yml")["production"]["registry"]
    assert (registry["enabled"], registry["host"], registry["port"], registry["api_url"]) == (
        True, "registry.example.test", 5050, "http://127.0.0.1:5000")
    config = files(settings)[Path("/var/opt/gitlab/registry/config.yml")]
    assert (config.owner, config.mode, config.sensitive) == ("registry", 0o640, True)
    parsed = yaml.safe_load(config.content)
    assert parsed["auth"]["token"]["realm"] == "http://gitlab.example.test/jwt/auth"
    assert parsed["http"]["addr"] == "127.0.0.1:5000"
    with pytest.raises(ConfigError) as caught:
        resolve_attributes({"registry_external_url": "registry.example.test"})
    assert caught.value.where == "registry_external_url"


def _fake_package(install_dir: Path) -> None:
    for service in SERVICES.values():
        binary = install_dir / service.binary
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.touch()


@pytest.mark.parametrize("settings", [None, {"registry_external_url": "https://r.example.test"}])
def test_a_plan_never_writes_one_path_two_ways(tmp_path, settings):
    layout = Layout(install_dir=tmp_path / "opt", etc_dir=tmp_path / "etc",
                    data_dir=tmp_path / "var", log_dir=tmp_path / "log")
    _fake_package(layout.install_dir)
    run = Run(dry_run=True)
    planned = plan(make_context(settings, layout), run)
    assert run.notes == []  # every service is runnable here
    seen: dict[Path, set] = defaultdict(set)
    for resource in planned:
        if isinstance(resource, File):
            seen[resource.path].add(("file", resource.content, resource.owner, resource.group,
                                     resource.mode))
        elif isinstance(resource, Directory):
            seen[resource.path].add(("dir", resource.owner, resource.group, resource.mode))
        elif isinstance(resource, Link):
            seen[resource.path].add(("link", resource.target))
    conflicts = {str(path): kinds for path, kinds in seen.items() if len(kinds) > 1}
    assert conflicts == {}
    links = {r.path: r.target for r in planned if isinstance(r, Link)}
    rails_home = layout.embedded / "service" / "gitlab-rails"
    assert links[rails_home / "config" / "gitlab.yml"] == ETC / "gitlab.yml"
    assert links[rails_home / ".gitlab_workhorse_secret"] == ETC / "gitlab_workhorse_secret"


def test_without_rails_in_the_package_its_files_are_written_but_nothing_runs(tmp_path):
    layout = Layout(install_dir=tmp_path / "opt")
    run = Run(dry_run=True)
    planned = plan(make_context(None, layout), run)
    assert any(isinstance(r, File) and r.path == ETC / "gitlab.yml" for r in planned)
    assert not any(isinstance(r, Link) and "gitlab-rails" in str(r.path) for r in planned)
    assert not any(isinstance(r, Step) and r.id.startswith("runit_service[gitlab-rails]")
                   for r in planned)
    assert any(note.startswith("puma: not started") for note in run.notes)


def test_authorized_keys_is_created_once_and_its_keys_are_kept(tmp_path):
    keys = KeptFile(tmp_path / ".ssh" / "authorized_keys", owner=None, mode=0o600)
    assert keys.check() == [f"create new empty file {keys.path}"]
    keys.apply()
    assert keys.path.read_text() == "" and keys.check() is None
    keys.path.write_text("ssh-ed25519 AAAA user@example.test\n")
    os.chmod(keys.path, 0o644)
    assert keys.check() == ["change mode from '0644' to '0600'"]
    keys.apply()
    assert keys.path.read_text() == "ssh-ed25519 AAAA user@example.test\n"
    assert keys.path.stat().st_mode & 0o777 == 0o600
    shell = resources("gitlab-shell")
    kept = [r for r in shell if isinstance(r, KeptFile)]
    assert [(k.path, k.owner, k.mode) for k in kept] == [
        (Path("/var/opt/gitlab/.ssh/authorized_keys"), "git", 0o600)]
    assert not any(isinstance(r, File) and r.path.name == "authorized_keys" for r in shell)


def test_an_env_dir_drops_variables_that_are_no_longer_set(tmp_path):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "OLD").write_text("1")
    (env_dir / "KEEP").write_text("x")
    prune = common.env_dir_resources(env_dir, {"KEEP": "x"}, (("restart", "puma"),))[-1]
    assert prune.check(Run()) == [f"delete {env_dir / 'OLD'}"]
    prune.apply(Run())
    assert sorted(p.name for p in env_dir.iterdir()) == ["KEEP"] and prune.check(Run()) is None


def test_toml_writer_output_reads_back_as_written():
    data = {"name": 'quote " back \\ slash\ttab\x7f', "n": 3, "f": 0.5, "on": True,
            "list": [1, 2], "empty": [], "skip": None, "dotted.key": "x",
            "table": {"a": "b", "inner": {"c": [{"d": 1}]}},
            "items": [{"name": "one", "sub": {"x": 1}}, {"name": "two"}]}
    expected = {k: v for k, v in data.items() if v is not None}
    assert tomllib.loads(tomlwriter.dumps(data)) == expected
    with pytest.raises(tomlwriter.TomlError):
        tomlwriter.dumps({"bad": object()})
