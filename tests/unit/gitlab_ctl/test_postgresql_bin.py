"""postgresql['version'] and ['auto_restart_on_version_change']: which shipped major
embedded/bin links to, and the restart of a server that runs another version.

Peer cases: expectations of omnibus-gitlab's specs, checked on real temporary directories
with fake bin trees (the programs are shell scripts that print a version). Case ids name
the spec: bin = spec/chef/cookbooks/postgresql/recipes/bin_spec.rb, postgresql and mismatch
= spec/chef/cookbooks/postgresql/recipes/postgresql_spec.rb ('postgresql' and 'postgres
when version mismatches occur'), pg_version = spec/chef/cookbooks/gitlab/libraries/
pg_version_spec.rb, helper = spec/chef/cookbooks/gitlab/libraries/helpers/helper_spec.rb.
The spec's made-up majors ('reality', 'new_shiny') are numbers here. The words are ours,
the facts theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.engine.resources import ResourceError, Run, Skip, converge
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import postgresql, postgresql_bin
from gitlab_ctl.services.base import Context
from gitlab_ctl.services.pg_cluster import Cluster, PGVersion, link_programs
from tests.unit.gitlab_ctl.test_config_templates import make_context

PROGRAMS = ("pg_ctl", "postgres", "psql")
FOO = ("foo_one", "foo_two", "foo_three")  # bin_spec.rb's program names


@dataclass
class Host:
    """A fake installation under a temporary directory."""

    root: Path
    layout: Layout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = Layout(install_dir=self.root / "opt", etc_dir=self.root / "etc",
                             data_dir=self.root / "var", log_dir=self.root / "log")
        (self.layout.embedded / "bin").mkdir(parents=True)

    @property
    def pg_dir(self) -> Path:
        return self.root / "var" / "postgresql"

    def ship(self, major: int, minor: int = 4, programs: tuple[str, ...] = PROGRAMS) -> None:
        """embedded/postgresql/<major>/bin with programs that print `major.minor`."""
        bin_dir = self.layout.embedded / "postgresql" / str(major) / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in programs:
            script = bin_dir / name
            script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {major}.{minor}'\n")
            script.chmod(0o755)

    def link(self, major: int) -> None:
        link_programs(self.layout, major)

    def standalone(self, major: int) -> None:
        """A pg_ctl right in embedded/bin, as in a layout without the per-major trees."""
        script = self.layout.embedded / "bin" / "pg_ctl"
        script.write_text(f"#!/bin/sh\necho 'pg_ctl (PostgreSQL) {major}.1'\n")
        script.chmod(0o755)

    def data(self, version: str) -> None:
        (self.pg_dir / "data").mkdir(parents=True, exist_ok=True)
        (self.pg_dir / "data" / "PG_VERSION").write_text(f"{version}\n")

    def context(self, **settings: Any) -> Context:
        return make_context({"postgresql": {"dir": str(self.pg_dir), **settings}}, self.layout)

    def linked(self, name: str) -> str | None:
        """The major directory embedded/bin/<name> points into, or None."""
        link = self.layout.embedded / "bin" / name
        return link.readlink().parent.parent.name if link.is_symlink() else None


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def link(context: Context) -> Run:
    run = Run()
    converge([postgresql_bin.link_step(context)], run)
    return run


def version_check(context: Context, monkeypatch, running: str | None, up: bool = True) -> Run:
    """The version step against a server runit runs (`up`) that answers `running`."""
    monkeypatch.setattr(postgresql_bin.runit, "is_running", lambda _layout, _name: up)

    def query(sql: str) -> str:
        assert sql == "SHOW server_version"
        if running is None:
            raise Skip("no answer")
        return running
    run = Run()
    converge([postgresql_bin.version_step(context, query)], run)
    return run


def not_shipped(run: Run) -> list[str]:
    return [w for w in run.warnings if "We do not ship client binaries" in w]


# --- peer cases: linking -----------------------------------------------------------------

def test_bin_doesnt_link_any_files_by_default(host):
    # bin: no PG_VERSION, no database version, psql 10 without a tree to link from
    host.standalone(10)
    run = link(host.context())
    assert run.changed == [] and host.linked("pg_ctl") is None


def test_bin_version_set_doesnt_print_a_warning(host):
    host.ship(999, programs=FOO)
    assert not_shipped(link(host.context(version="999"))) == []


@pytest.mark.parametrize("program", FOO, ids=[f"bin-links-the-specified-version-{p}"
                                               for p in FOO])
def test_bin_links_the_specified_version(host, program):
    host.ship(10)  # what psql runs: only the pin leads to 999
    host.link(10)
    host.ship(999, programs=FOO)
    link(host.context(version="999"))
    link_path = host.layout.embedded / "bin" / program
    assert link_path.readlink() == host.layout.embedded / "postgresql/999/bin" / program


def test_bin_invalid_version_prints_a_warning(host):
    host.ship(10)
    host.link(10)
    run = link(host.context(version="888"))
    assert not_shipped(run) == ["postgresql: We do not ship client binaries for PostgreSQL "
                                "888, defaulting to 10"]


def test_bin_creates_gitlab_psql_rc(host):
    context = make_context()
    rc = next(r for r in postgresql.configure(context)
              if str(getattr(r, "path", "")).endswith("etc/gitlab-psql-rc"))
    assert rc.content.startswith("psql_user='gitlab-psql'\npsql_group='gitlab-psql'\n"
                                 "psql_host='/var/opt/gitlab/postgresql'\npsql_port='5432'\n")


def test_postgresql_includes_the_bin_recipe():
    # postgresql: the bin recipe comes first (initdb runs the program it links)
    first = postgresql.configure(make_context())[:2]
    assert [step.id for step in first] == ["link[postgresql binaries]", "version[postgresql]"]


@pytest.mark.parametrize("program", FOO, ids=[
    f"mismatch-data-and-binary-differ-corrects-symlinks-{p}" for p in FOO])
def test_mismatch_data_and_binary_versions_differ(host, program):
    host.ship(17, programs=(*FOO, "pg_ctl"))  # 'expectation': what psql runs
    host.ship(15, programs=(*FOO, "pg_ctl"))  # 'reality': the data's
    host.link(17)
    host.data("15")
    link(host.context())
    assert host.linked(program) == "15"


@pytest.mark.parametrize("program", FOO, ids=[
    f"mismatch-older-data-no-longer-used-links-the-new-{p}" for p in FOO])
def test_mismatch_older_data_no_longer_shipped(host, program):
    host.ship(17, programs=(*FOO, "pg_ctl"))  # 'new_shiny'
    host.link(17)
    host.data("12")  # 'ancient_history': not shipped any more
    (host.layout.embedded / "bin" / program).unlink()
    link(host.context())
    assert host.linked(program) == "17"


def test_mismatch_expected_version_missing_throws_an_error(host):
    host.data("11")  # 'how_it_started', and nothing to fall back to
    with pytest.raises(ResourceError, match="Could not find PostgreSQL binaries"):
        link(host.context())


# --- peer cases: the restart warning ------------------------------------------------------

RESTART_CASES = [
    # (id, auto_restart, server up, running version, installed major, warned)
    ("postgresql-does-not-warn-restart-needed-by-default", True, True, "16.0", 15, False),
    ("mismatch-data-binary-differ-does-not-warn-by-default", True, True, "17.4", 15, False),
    ("mismatch-running-installed-differ-by-default-no-warning", True, True, "15.3", 15, False),
    ("mismatch-auto-restart-false-warns-restart-needed", False, True, "15.3", 15, True),
    ("mismatch-auto-restart-false-no-warning-when-stopped", False, False, "15.3", 15, False),
]


@pytest.mark.parametrize("auto, up, running, installed, warned",
                         [case[1:] for case in RESTART_CASES],
                         ids=[case[0] for case in RESTART_CASES])
def test_restart_warning_matches_omnibus_gitlab(host, monkeypatch, auto, up, running,
                                                installed, warned):
    host.ship(installed)
    host.link(installed)
    host.data(str(installed))
    run = version_check(host.context(auto_restart_on_version_change=auto), monkeypatch,
                        running, up)
    assert (postgresql_bin.RESTART_WARNING in run.warnings) is warned


# --- peer cases: versions ----------------------------------------------------------------

PG_VERSION_CASES = [
    ("pg_version-10-major", "10", "major", 10), ("pg_version-10-minor-nil", "10", "minor", None),
    ("pg_version-12-major", "12", "major", 12), ("pg_version-12-minor-nil", "12", "minor", None),
    ("pg_version-10.5-major", "10.5", "major", 10), ("pg_version-10.5-minor", "10.5", "minor", 5),
    ("pg_version-12.122-major", "12.122", "major", 12),
    ("pg_version-12.122-minor", "12.122", "minor", 122),
    ("pg_version-ignores-patch-10.5.3-major", "10.5.3", "major", 10),
    ("pg_version-ignores-patch-10.5.3-minor", "10.5.3", "minor", 5),
    ("pg_version-ignores-patch-12.122.3-major", "12.122.3", "major", 12),
    ("pg_version-ignores-patch-12.122.3-minor", "12.122.3", "minor", 122),
]


@pytest.mark.parametrize("text, part, expected", [c[1:] for c in PG_VERSION_CASES],
                         ids=[c[0] for c in PG_VERSION_CASES])
def test_pg_version_parts_match_omnibus_gitlab(text, part, expected):
    assert getattr(PGVersion.parse(text), part) == expected


def test_pg_version_parse_nil_is_nil():
    assert PGVersion.parse(None) is None


def test_helper_database_version_reads_pg_version(host):
    host.data("111.222")
    cluster = Cluster(host.layout, {"dir": str(host.pg_dir)})
    assert str(cluster.data_version()) == "111.222"


# --- ours: what the specs do not cover ---------------------------------------------------

def test_pinned_major_is_linked_before_there_is_data(host):
    host.ship(15)
    host.ship(17)
    host.link(17)
    link(host.context(version=15))
    assert {host.linked(p) for p in PROGRAMS} == {"15"}


def test_links_already_right_change_nothing(host):
    host.ship(15)
    host.link(15)
    host.data("15")
    assert link(host.context(version="15")).changed == []
    assert link(host.context()).changed == []


def test_pinned_major_other_than_the_data_is_refused_before_any_change(host):
    host.ship(15)
    host.ship(17)
    host.link(17)
    host.data("17")
    with pytest.raises(ResourceError) as error:
        link(host.context(version="15"))
    assert "postgresql['version']" in str(error.value) and "pg-upgrade" in error.value.hint
    assert host.linked("psql") == "17"


def test_pin_not_shipped_falls_back_to_the_data_major(host):
    host.ship(15)
    host.ship(17)
    host.link(17)
    host.data("15")
    run = link(host.context(version="16"))
    assert host.linked("psql") == "15"
    assert not_shipped(run)[0].endswith("PostgreSQL 16, defaulting to 15")


def test_a_major_before_17_gets_the_deprecation_note(host):
    host.ship(15)
    host.link(15)
    assert postgresql_bin.DEPRECATED_NOTE in link(host.context(version="15")).warnings
    host.ship(17)
    assert postgresql_bin.DEPRECATED_NOTE not in link(host.context(version="17")).warnings


def test_a_running_server_of_another_version_is_restarted(host, monkeypatch):
    host.ship(15, minor=8)
    host.link(15)
    host.data("15")
    run = version_check(host.context(), monkeypatch, "15.4 (Debian 15.4-1)")
    assert ("restart", "postgresql") in run.notifications and run.warnings == []


@pytest.mark.parametrize("running, up", [("15.8", True), (None, True), ("15.4", False)],
                         ids=["same-version", "not-answering", "stopped"])
def test_no_restart_without_a_difference_or_a_running_server(host, monkeypatch, running, up):
    host.ship(15, minor=8)
    host.link(15)
    host.data("15")
    run = version_check(host.context(), monkeypatch, running, up)
    assert run.notifications == {} and run.changed == []


# --- every key declared applied reaches what reconfigure does ------------------------------

def outcome(host: Host, monkeypatch, settings: dict, data: str | None) -> tuple:
    """The links, the restarts asked for and the warnings of both steps on one host:
    embedded/bin on 15 (17.5 also shipped), a server that answers 17.3, data of `data`."""
    host.ship(15)
    host.ship(17, minor=5)
    host.link(15)
    if data:
        host.data(data)
    context = host.context(**settings)
    run = link(context)
    versions = version_check(context, monkeypatch, "17.3")
    return (tuple(host.linked(p) for p in PROGRAMS), dict(versions.notifications),
            tuple(run.warnings + versions.warnings))


#: key -> (a value unlike the default, the data directory's major it shows on)
APPLIED = {"version": ("17", None), "auto_restart_on_version_change": (False, "17")}


@pytest.mark.parametrize("key", sorted(APPLIED))
def test_every_applied_key_changes_the_outcome(tmp_path, monkeypatch, key):
    value, data = APPLIED[key]
    before = outcome(Host(tmp_path / "before"), monkeypatch, {}, data)
    after = outcome(Host(tmp_path / "after"), monkeypatch, {key: value}, data)
    assert before != after


def test_the_applied_keys_are_the_schema_ones():
    from gitlab_ctl.config.schema import load_schema
    declared = {key for (section, key), setting in load_schema().settings.items()
                if section == "postgresql" and setting.used and key in APPLIED}
    assert declared == set(APPLIED)
