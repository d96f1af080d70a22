"""gitlab-ctl pg-upgrade / revert-pg-upgrade pieces, and the preinst's PostgreSQL check.

Peer expectations: each case id names the omnibus-gitlab spec it comes from:
  cmd-*  spec/chef/gitlab-ctl-commands/pg_upgrade_command_spec.rb
  lib-*  spec/chef/gitlab-ctl-commands/lib/gitlab_ctl_pg_upgrade_spec.rb
The preinst's message is omnibus-gitlab's config/templates/package-scripts/preinst.erb.
The whole upgrade with two real majors is tests/integration/test_pg_upgrade.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.formats import FORMATS
from builder.formats.scripts import render_scripts
from builder.package.version import PackageVersion
from gitlab_ctl.commands import pg_upgrade, pg_upgrade_options
from gitlab_ctl.commands.table import COMMANDS, build_parser
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import pg_cluster
from gitlab_ctl.services.pg_cluster import Cluster, PGVersion
from tests.conftest import REPO


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(Layout()).parse_args(["pg-upgrade", *argv])


def cluster(tmp_path: Path, **pg) -> Cluster:
    section = {"dir": str(tmp_path / "postgresql"), "username": "gitlab-psql",
               "group": "gitlab-psql", "port": 5432, **pg}
    return Cluster(Layout(install_dir=tmp_path / "opt"), section, None, 123)


# --- options (parse_options) -------------------------------------------------------------

OPTION_CASES = [
    ("lib-parse_options-defaults-skip-multi-node-false", (), "skip_multi_node", False),
    ("lib-parse_options-accepts-skip-multi-node", ("--skip-multi-node",), "skip_multi_node",
     True),
    ("lib-parse_options-leaves-others-unchanged-wait", ("-w", "--skip-disk-check",
                                                        "--skip-multi-node"), "wait", False),
    ("lib-parse_options-leaves-others-unchanged-disk", ("-w", "--skip-disk-check",
                                                        "--skip-multi-node"),
     "skip_disk_check", True),
    ("lib-parse_options-leaves-others-unchanged-multi", ("-w", "--skip-disk-check",
                                                         "--skip-multi-node"),
     "skip_multi_node", True),
]


@pytest.mark.parametrize(("case", "argv", "option", "expected"), OPTION_CASES,
                         ids=[case[0] for case in OPTION_CASES])
def test_options_as_omnibus_parses_them(case, argv, option, expected):
    assert getattr(parse(*argv), option) == expected


def test_both_commands_are_registered_with_omnibus_options():
    assert {"pg-upgrade", "revert-pg-upgrade"} <= set(COMMANDS)  # cmd-appends-a-pg-upgrade
    args = parse("-V", "17", "-T", "1m30s", "-t", "/scratch", "-s")
    assert (args.target_version, args.timeout, args.tmp_dir, args.skip_unregister) == (
        "17", 90_000, Path("/scratch"), True)
    assert parse().wait is True and parse().timeout is None


@pytest.mark.parametrize("flag", ["--leader", "--replica", "--standby-leader"])
def test_patroni_switches_are_refused_with_exit_2(flag, tmp_path):
    layout = Layout(install_dir=tmp_path, etc_dir=tmp_path)
    with pytest.raises(GitlabCtlError, match="needs Patroni, not part of this package") as err:
        pg_upgrade.Upgrade(layout, parse(flag), print, lambda: 0)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(("text", "millis"), [("5ms", 5), ("4s", 4000), ("1d2h3m4s5ms",
                                              93_784_005), ("250", 250), ("1.5s", 1500)])
def test_timeouts_take_omnibus_durations(text, millis):
    assert pg_upgrade_options.parse_duration(text) == millis


def test_a_bad_duration_is_refused():
    with pytest.raises(argparse.ArgumentTypeError, match="invalid value for duration"):
        pg_upgrade_options.parse_duration("soon")


# --- the cluster (GitlabCtl::PgUpgrade) ----------------------------------------------------

def test_lib_should_use_the_specified_timeout(tmp_path):
    assert cluster(tmp_path).timeout == 123


def test_lib_tmp_data_dir_is_data_dir_without_tmp_dir(tmp_path):
    found = cluster(tmp_path)
    assert found.tmp_data_dir == found.data_dir
    assert found.major_dir(15) == found.data_dir.with_name("data.15")


@pytest.mark.parametrize("case", ["lib-explicit-data-directory-randomdir",
                                  "lib-data-dir-from-dir-parentdir"])
def test_data_dir_is_dir_slash_data(case, tmp_path):
    parent = case.rsplit("-", 1)[1]
    assert cluster(tmp_path, dir=parent).data_dir == Path(parent) / "data"


def test_lib_should_use_the_configured_port(tmp_path, monkeypatch):
    found, calls = cluster(tmp_path, port="1959"), []
    monkeypatch.setattr(found, "run", lambda argv, **_kw: calls.append(argv) or "1")
    found.query("SELECT 1")
    assert calls[0][calls[0].index("-p") + 1] == "1959"


def test_lib_should_return_the_appropriate_data_version(tmp_path):
    found = cluster(tmp_path)
    found.data_dir.mkdir(parents=True)
    (found.data_dir / "PG_VERSION").write_text("99.99\n")
    assert found.data_version() == PGVersion(99, 99)


def test_lib_run_pg_command_runs_as_the_configured_user(tmp_path, monkeypatch):
    seen = {}

    def run(argv, **kwargs):
        seen.update(argv=argv, timeout=kwargs["timeout"])
        return subprocess.CompletedProcess(argv, 0, "out", "")

    monkeypatch.setattr(pg_cluster.subprocess, "run", run)
    assert cluster(tmp_path, username="arbitrary-user-name").run(["fake", "command"]) == "out"
    assert seen["argv"][1:5] == ["-u", "arbitrary-user-name:gitlab-psql", "-U",
                                 "arbitrary-user-name:gitlab-psql"]
    assert seen["argv"][-2:] == ["fake", "command"] and seen["timeout"] == 123


@pytest.mark.parametrize(("case", "free_mib", "needed", "expected"), [
    ("lib-not-enough-available-disk-space", 220000, 440000, False),
    ("lib-enough-available-disk-space", 250000, 100000, True),
])
def test_free_space(case, free_mib, needed, expected, tmp_path, monkeypatch):
    usage = type("Usage", (), {"free": free_mib * 1024 * 1024})
    monkeypatch.setattr(pg_cluster.shutil, "disk_usage", lambda _path: usage)
    assert cluster(tmp_path).enough_free_space(tmp_path, needed) is expected


@pytest.mark.parametrize(("case", "exists", "expected"), [
    ("lib-pg_upgrade_disabled-file-exists", True, True),
    ("lib-pg_upgrade_disabled-file-missing", False, False),
])
def test_pg_upgrade_disabled(case, exists, expected, tmp_path):
    marker = tmp_path / "disable-postgresql-upgrade"
    if exists:
        marker.write_text("")
    assert pg_cluster.pg_upgrade_disabled(marker) is expected


@pytest.mark.parametrize(("case", "state", "expected"), [
    ("lib-upgrade_artifact_exists-no-directory", None, False),
    ("lib-upgrade_artifact_exists-empty-directory", "empty", False),
    ("lib-upgrade_artifact_exists-directory-with-data", "data", True),
])
def test_upgrade_artifact_exists(case, state, expected, tmp_path):
    target = tmp_path / "future_data_dir"
    if state:
        target.mkdir()
    if state == "data":
        (target / "PG_VERSION").write_text("17\n")
    assert pg_cluster.upgrade_artifact_exists(target) is expected


def controldata(tmp_path, monkeypatch, output: str) -> tuple[Cluster, list]:
    found, calls = cluster(tmp_path), []

    def run(argv, **_kwargs):
        calls.append(argv)
        return output

    monkeypatch.setattr(found, "run", run)
    return found, calls


@pytest.mark.parametrize(("case", "line", "expected"), [
    ("lib-data_checksums_enabled-non-zero-version", "1", True),
    ("lib-data_checksums_enabled-version-0", "0", False),
])
def test_data_checksums_enabled(case, line, expected, tmp_path, monkeypatch):
    found, _ = controldata(tmp_path, monkeypatch,
                           f"Data page checksum version:            {line}\n")
    assert found.data_checksums_enabled(PGVersion(17)) is expected


def test_lib_pg_controldata_runs_against_the_old_data_directory(tmp_path, monkeypatch):
    found, calls = controldata(tmp_path, monkeypatch, "Data page checksum version:  0\n")
    found.data_checksums_enabled(PGVersion(17, 10))
    assert calls == [[str(tmp_path / "opt/embedded/postgresql/17/bin/pg_controldata"), "-D",
                      str(found.data_dir)]]


def test_lib_unparsable_controldata_raises_instead_of_defaulting(tmp_path, monkeypatch):
    found, _ = controldata(tmp_path, monkeypatch, "unexpected pg_controldata output\n")
    with pytest.raises(GitlabCtlError, match="unable to determine data checksum status"):
        found.data_checksums_enabled(PGVersion(17))


@pytest.mark.parametrize(("case", "enabled", "target", "flag"), [
    ("cmd-initdb_checksum_flag-enables-checksums", True, "18.4", "--data-checksums"),
    ("cmd-initdb_checksum_flag-disables-for-pg18", False, "18.4", "--no-data-checksums"),
    ("cmd-initdb_checksum_flag-no-flag-before-pg18", False, "17.10", ""),
])
def test_initdb_checksum_flag(case, enabled, target, flag):
    assert pg_cluster.checksum_flag(enabled, PGVersion.parse(target)) == flag


@pytest.mark.parametrize(("text", "version"), [
    ("pg_ctl (PostgreSQL) 15.18", PGVersion(15, 18)),
    ("pg_ctl (PostgreSQL) 17.5 (Debian 17.5-1)", PGVersion(17, 5)),
    ("17", PGVersion(17)),
])
def test_versions_parse_upstream_and_distribution_builds(text, version):
    match = pg_cluster.PG_CTL_VERSION.search(text)
    assert PGVersion.parse(match.group(1) if match else text) == version


def test_supported_versions_come_from_the_manifest_else_the_installed_majors(tmp_path):
    layout = Layout(install_dir=tmp_path)
    for major in (15, 17):
        (tmp_path / "embedded" / "postgresql" / str(major) / "bin").mkdir(parents=True)
    assert pg_cluster.supported_versions(layout) == [PGVersion(15), PGVersion(17)]
    manifest = {"software": {"postgresql-15": {"described_version": "15.18"},
                             "postgresql-17-debian": {"described_version": "17.5"},
                             "postgres-exporter": {"described_version": "0.17.1"}}}
    (tmp_path / "version-manifest.json").write_text(json.dumps(manifest))
    assert pg_cluster.supported_versions(layout) == [PGVersion(15, 18), PGVersion(17, 5)]
    assert pg_cluster.default_version(layout) == PGVersion(17, 5)
    manifest["software"]["postgresql"] = {"described_version": "16.9"}
    (tmp_path / "version-manifest.json").write_text(json.dumps(manifest))
    assert pg_cluster.default_version(layout) == PGVersion(16, 9)  # omnibus: 'postgresql'


# --- the preinst's check -----------------------------------------------------------------

VERSION = PackageVersion("17.5.0", "ce.0", "17.5")


@pytest.fixture(scope="module")
def project():
    return load_catalog(REPO).projects["gitlab-local"]


def run_preinst(project, tmp_path: Path, majors: tuple[int, ...], data_major: str | None,
                *args: str) -> subprocess.CompletedProcess:
    """The rendered preinst, run by sh, with an installed package whose gitlab-psql-rc points
    at a fake data directory holding PG_VERSION."""
    install_dir = tmp_path / "opt" / "gitlab"
    (install_dir / "etc").mkdir(parents=True)
    pg_dir = tmp_path / "postgresql"
    (install_dir / "etc" / "gitlab-psql-rc").write_text(f"psql_host='{pg_dir}'\n")
    if data_major is not None:
        (pg_dir / "data").mkdir(parents=True)
        (pg_dir / "data" / "PG_VERSION").write_text(f"{data_major}\n")
    local = dataclasses.replace(project, install_dir=str(install_dir), upgrade_stop=None)
    script = tmp_path / "preinst"
    script.write_text(render_scripts(REPO, local, VERSION, FORMATS["deb"], majors)["preinst"])
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True)


def test_preinst_refuses_data_older_than_every_shipped_major(project, tmp_path):
    result = run_preinst(project, tmp_path, (17,), "15", "upgrade", "17.4.0-ce.0")
    assert result.returncode == 1
    assert ("Your version of PostgreSQL is no longer supported. Please upgrade your "
            "PostgreSQL version to 17.") in result.stdout
    assert "Upgrade failed. Retry the upgrade after upgrading your PostgreSQL version." \
        in result.stdout


def test_preinst_refuses_a_major_the_package_does_not_run(project, tmp_path):
    result = run_preinst(project, tmp_path, (15, 17), "18", "upgrade", "17.4.0-ce.0")
    assert result.returncode == 1
    assert "is PostgreSQL 18, which this version does not run (it runs: 15 17)" in result.stdout


@pytest.mark.parametrize(("majors", "data", "args"), [
    ((15, 17), "15", ("upgrade", "17.4.0-ce.0")), ((15,), "15", ("upgrade", "17.4.0-ce.0")),
    ((17,), "15", ("install",)), ((17,), None, ("upgrade", "17.4.0-ce.0"))])
def test_preinst_lets_shipped_majors_first_installs_and_no_database_pass(project, tmp_path,
                                                                        majors, data, args):
    result = run_preinst(project, tmp_path, majors, data, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    if data is None:
        assert "This node does not appear to be running a database" in result.stdout


def test_a_package_without_postgresql_has_no_check(project):
    text = render_scripts(REPO, project, VERSION, FORMATS["deb"])["preinst"]
    assert "pg_check" not in text
