"""gitlab-ctl check-config --version VER [--no-fail]: the gitlab.rb settings removed in VER or
before (omnibus-gitlab's deprecations.rb as data), each with its line; what the package's
preinst runs before an upgrade."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from gitlab_ctl.cli import main
from gitlab_ctl.config import deprecations
from tests.conftest import REPO

OMNIBUS_REPO = Path("/work/.mirror/gitlabhq+omnibus-gitlab/repo")
GITLAB_RB = """external_url 'http://gitlab.example.test'
git_data_dirs({ "default" => { "path" => "/var/opt/gitlab/git-data" } })
gitlab_shell['migration'] = { enabled: true }
gitaly['configuration'] = { git: { bin_path: '/usr/bin/git' } }
registry['notifications'] = [{ 'name' => 'hook', 'threshold' => 5 }]
mattermost['enable'] = false
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "gitlab.rb"
    path.write_text(GITLAB_RB)
    return path


def check(config: Path, *args: str) -> int:
    return main(["check-config", "--config", str(config), *args])


@pytest.mark.parametrize("args", [("--version", "18.0"), ("-v", "18.0"), ("--version=18.0",),
                                  ("-v18.0",), ("--version=18.0.0-ce.0",)])
def test_settings_removed_by_the_version_are_listed_with_their_line(config, capsys, args):
    assert check(config, *args) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"* {config}:3: gitlab_shell['migration'] has been deprecated since 17.4 and was "
        "removed in 18.0. It has been ignored since 17.3: "
        "https://gitlab.com/groups/gitlab-org/-/epics/14845",
        f"* {config}:2: git_data_dirs has been deprecated since 17.8 and was removed in 18.0. "
        "Set gitaly['configuration'][:storage] instead: https://docs.gitlab.com/omnibus/"
        "settings/configuration.html#migrating-from-git_data_dirs",
        "Deprecations found. Please correct them and try again."]


def test_no_fail_lists_them_and_exits_0(config, capsys):
    assert check(config, "--version", "19.0", "--no-fail") == 0
    out = capsys.readouterr().out
    assert f"* {config}:4: gitaly['configuration']['git']['bin_path'] has been deprecated " \
        "since 18.3 and was removed in 19.0." in out
    assert check(config, "-v", "23.0", "-n") == 0
    out = capsys.readouterr().out
    assert f"* {config}:5: registry['notifications'][{{'threshold' => ...}}] has been " \
        "deprecated since 17.1 and was removed in 23.0." in out
    assert "mattermost has been" not in out  # only mattermost['enable'] = true is removed


def test_nothing_removed_yet_passes(config, capsys):
    assert check(config, "--version", "17.11") == 0
    assert capsys.readouterr().out == f"{config}: no setting removed in 17.11 or before\n"


def test_only_the_removals_are_checked_as_omnibus_does(tmp_path, capsys):
    """gitlab_shell['migration'] is no setting of this package (plain check-config refuses
    it), yet --version reports it as removed, not as unknown."""
    path = tmp_path / "gitlab.rb"
    path.write_text("gitlab_shell['migration'] = { enabled: true }\n")
    assert check(path) == 2
    capsys.readouterr()
    assert check(path, "--version", "18.0") == 1
    assert f"* {path}:1: gitlab_shell['migration']" in capsys.readouterr().out


def test_a_key_set_inside_a_removed_hash_is_found(tmp_path, capsys):
    path = tmp_path / "gitlab.rb"
    path.write_text("external_url 'http://x.example.test'\n\nspamcheck['enable'] = true\n"
                    "mattermost['enable'] = true\n")
    assert check(path, "--version", "19.0") == 1
    out = capsys.readouterr().out
    assert f"* {path}:3: spamcheck has been deprecated since 19.0" in out
    assert f"* {path}:4: mattermost has been deprecated since 19.0" in out


def test_gitlab_omnibus_config_is_read_too(tmp_path, capsys, monkeypatch):
    path = tmp_path / "gitlab.rb"
    path.write_text("external_url 'http://x.example.test'\n")
    monkeypatch.setenv("GITLAB_OMNIBUS_CONFIG", "mattermost_external_url 'http://m.example.test'")
    assert check(path, "--version", "20.0") == 1
    assert "* GITLAB_OMNIBUS_CONFIG:1: mattermost_external_url has been deprecated since " \
        "19.0 and was removed in 20.0." in capsys.readouterr().out


@pytest.mark.parametrize("version", ["x", "18.", "v18.0", "18.0 19"])
def test_a_bad_version_is_a_usage_error(config, capsys, version):
    assert check(config, f"--version={version}") == 2
    err = capsys.readouterr().err
    assert f"gitlab-ctl: error: --version: '{version}' is not a version" in err
    assert "hint: give MAJOR.MINOR" in err


def test_an_empty_version_means_the_installed_major_plus_one(config, tmp_path, capsys,
                                                            monkeypatch):
    install = tmp_path / "opt"
    install.mkdir()
    monkeypatch.setenv("GITLAB_INSTALL_DIR", str(install))
    assert check(config, "--version=") == 1
    err = capsys.readouterr().err
    assert f"{install}/version-manifest.json: has no readable build_version" in err
    (install / "version-manifest.json").write_text(json.dumps({"build_version": "17.11.2"}))
    assert check(config, "--version=") == 1
    assert "was removed in 18.0" in capsys.readouterr().out


def test_no_fail_without_version_is_a_usage_error(config, capsys):
    assert check(config, "--no-fail") == 2
    assert "--no-fail: applies to --version only" in capsys.readouterr().err


def test_a_missing_gitlab_rb_has_nothing_removed(tmp_path, capsys):
    assert check(tmp_path / "gitlab.rb", "--version", "18.0") == 0
    assert "does not exist: no settings to check against 18.0" in capsys.readouterr().out


def test_a_broken_gitlab_rb_is_a_config_error_naming_the_line(tmp_path, capsys):
    path = tmp_path / "gitlab.rb"
    path.write_text("external_url 'http://x.example.test'\nnginx['x' = 1\n")
    assert check(path, "--version", "18.0") == 2
    assert f"{path}:2" in capsys.readouterr().err


def test_versions_compare_by_their_numbers():
    assert deprecations.at_or_before((18, 0), "18.0")
    assert deprecations.at_or_before((18,), "18.0")
    assert deprecations.at_or_before((18, 10), "18.9")
    assert not deprecations.at_or_before((17, 11), "18.0")
    assert not deprecations.at_or_before((18, 0), "18.0.1")


def omnibus_entries() -> set[tuple[str, str, str]]:
    """(last key, deprecation, removal) of every entry in omnibus-gitlab's deprecations.rb."""
    text = subprocess.run(["git", "-C", str(OMNIBUS_REPO), "show", "HEAD:files/gitlab-cookbooks/"
                           "package/libraries/deprecations.rb"], capture_output=True,
                          text=True, check=True).stdout
    found = {(keys.split()[-1], dep, rem) for keys, dep, rem in re.findall(
        r"config_keys: %w\(([^)]*)\),\s*deprecation: '([\d.]+)',\s*removal: '([\d.]+)'", text)}
    calls = re.findall(r"messages \+= (\w+)\(incoming_version, existing_config, type, "
                       r"(?:\[[^\]]*\], '(\w+)', )?'?([\d.]+)'?, '?([\d.]+)'?\)", text)
    names = {"remove_mattermost": "mattermost", "remove_git_data_dirs": "git_data_dirs",
             "remove_gitaly_use_bundled_binaries": "use_bundled_binaries",
             "remove_gitaly_bin_path": "bin_path"}
    for function, field, dep, rem in calls:
        found.add((field or names[function], dep, rem))
    return found


@pytest.mark.skipif(not OMNIBUS_REPO.is_dir(), reason="no omnibus-gitlab snapshot here")
def test_the_data_holds_every_entry_of_omnibus_deprecations():
    ours = {(r.field if r.when == "item_has" else r.keys[-1], r.deprecation, r.removal)
            for r in deprecations.load_removals()}
    assert omnibus_entries() == ours


def test_the_data_file_is_in_the_package_source():
    assert (REPO / "gitlab_ctl" / "config" / "deprecations.json") == deprecations.DATA
    assert all(r.when in {"set", "equals", "item_has"} for r in deprecations.load_removals())
