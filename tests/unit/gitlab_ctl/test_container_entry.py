"""The container entrypoint's decisions that need no running services: the config it starts
from, and when a start on existing volumes is an upgrade (the image test runs the rest)."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from gitlab_ctl.commands.container import ensure_config, prepare_upgrade, record_version
from gitlab_ctl.paths import Layout


@pytest.fixture
def layout(tmp_path):
    layout = Layout(tmp_path / "opt", tmp_path / "etc", tmp_path / "data", tmp_path / "log")
    (layout.install_dir / "etc").mkdir(parents=True)
    (layout.install_dir / "etc" / "gitlab.rb.template").write_text("# external_url 'x'\n")
    return layout


def install(layout: Layout, version: str, stop: str = "") -> None:
    (layout.install_dir / "version-manifest.json").write_text(
        json.dumps({"build_version": version, "upgrade_stop": stop}))


def test_an_empty_config_volume_gets_the_template(layout):
    said = []
    ensure_config(layout, said.append)
    assert layout.config_file.read_text() == "# external_url 'x'\n"
    assert layout.config_file.stat().st_mode & 0o777 == 0o600
    layout.config_file.write_text("external_url 'http://mine.example.test'\n")
    ensure_config(layout, said.append)  # an existing gitlab.rb is the administrator's
    assert layout.config_file.read_text() == "external_url 'http://mine.example.test'\n"
    assert len(said) == 1 and "created from the package's template" in said[0]


def test_first_start_and_restart_are_not_upgrades(layout):
    install(layout, "19.3.0")
    ensure_config(layout, print)
    said = []
    assert prepare_upgrade(layout, said.append) == 0
    record_version(layout)
    assert prepare_upgrade(layout, said.append) == 0
    assert said == [] and not (layout.etc_dir / "config_backup").exists()


def test_a_newer_image_on_the_volumes_backs_up_etc_first(layout):
    install(layout, "19.3.0")
    ensure_config(layout, print)
    record_version(layout)
    install(layout, "19.4.1")
    said = []
    assert prepare_upgrade(layout, said.append) == 0
    assert "Upgrading GitLab from 19.3.0 to 19.4.1" in said[0]
    archives = list((layout.etc_dir / "config_backup").glob("gitlab_config_*.tar"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        assert any(name.endswith("gitlab.rb") for name in archive.getnames())
    record_version(layout)
    assert (layout.data_dir / "container-version").read_text() == "19.4.1\n"


def test_skipping_a_required_upgrade_stop_is_refused(layout, monkeypatch):
    monkeypatch.delenv("MIN_VERSION", raising=False)
    install(layout, "17.0.0")
    ensure_config(layout, print)
    record_version(layout)
    install(layout, "20.0.0")
    said = []
    assert prepare_upgrade(layout, said.append) == 1
    assert any("upgrade to the latest 19.2.x version first" in line for line in said)
    assert (layout.data_dir / "container-version").read_text() == "17.0.0\n"


def test_the_package_s_own_upgrade_stop_decides(layout, monkeypatch):
    monkeypatch.delenv("MIN_VERSION", raising=False)
    install(layout, "1.0.0", stop="0.9")
    ensure_config(layout, print)
    record_version(layout)
    install(layout, "1.1.0", stop="1.0")
    assert prepare_upgrade(layout, print) == 0  # 1.0 is the stop: allowed
    record_version(layout)
    install(layout, "2.0.0", stop="1.5")
    said = []
    assert prepare_upgrade(layout, said.append) == 1  # 1.1 skips the 1.5 stop
    assert any("latest 1.5.x version first" in line for line in said)


@pytest.mark.parametrize("bootstrapped", [False, True])
def test_skip_reconfigure_needs_bootstrapped_volumes(layout, monkeypatch, bootstrapped):
    """omnibus-gitlab skips reconfigure only where a reconfigure once finished: a first start
    with GITLAB_SKIP_RECONFIGURE=true still configures."""
    from gitlab_ctl.commands import container

    layout.data_dir.mkdir(parents=True)
    if bootstrapped:
        (layout.data_dir / "bootstrapped").write_text("")
    started, ran = [], []
    monkeypatch.setattr(container, "start_runsvdir", lambda layout: started.append(True))
    said: list[str] = []
    code = container.configure(layout, {"GITLAB_SKIP_RECONFIGURE": "true",
                                        "GITLAB_SKIP_PG_UPGRADE": "true"}, said.append,
                               lambda: ran.append(True) or 0)
    assert code == 0
    assert (started, ran) == (([True], []) if bootstrapped else ([], [True]))
    assert ("Skipped reconfigure because GITLAB_SKIP_RECONFIGURE is set." in said) == \
        bootstrapped
    assert said[-1] == "Skipping the PostgreSQL upgrade check (GITLAB_SKIP_PG_UPGRADE=true)"


def test_a_failed_pg_upgrade_says_how_to_skip_it(layout, monkeypatch):
    from gitlab_ctl.commands import container

    monkeypatch.setattr(container.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a[0], 1, "Upgrading PostgreSQL to 16\n", "pg_upgrade failed\n"))
    monkeypatch.setattr(container, "pg_upgrade_not_due", lambda layout: "")
    said: list[str] = []
    assert container.configure(layout, {}, said.append, lambda: 0) == 1
    assert said[:3] == ["Configuring GitLab...", "Upgrading PostgreSQL to 16",
                        "pg_upgrade failed"]
    assert said[-1] == "-e GITLAB_SKIP_PG_UPGRADE=true"


def test_an_earlier_images_placeholder_url_is_commented_out(layout):
    """gitlab.rb now wins over GITLAB_OMNIBUS_CONFIG: the template's placeholder, which
    earlier images left uncommented in the gitlab.rb they made, would refuse the start."""
    layout.etc_dir.mkdir()
    layout.config_file.write_text("external_url 'GENERATED_EXTERNAL_URL'\nredis['a'] = 1\n")
    said: list[str] = []
    ensure_config(layout, said.append)
    assert layout.config_file.read_text() == \
        "# external_url 'GENERATED_EXTERNAL_URL'\nredis['a'] = 1\n"
    assert "commented out" in said[0]
    ensure_config(layout, said.append)
    assert len(said) == 1


def test_no_pg_upgrade_without_a_newer_default(layout):
    """The stand-in package's manifest names no PostgreSQL: nothing to upgrade to, said."""
    from gitlab_ctl.commands import container

    said: list[str] = []
    assert container.configure(layout, {}, said.append, lambda: 0) == 0
    assert said[-1] == ("No PostgreSQL upgrade: this package's version manifest names no "
                        "PostgreSQL version")
