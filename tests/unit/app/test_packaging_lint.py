"""builder.app.lint: lintian and rpmlint run on packages, their findings counted by tag, and what
is about the tools' environment (not the package) set aside by name only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.app.lint import LintReport, export_key, lintian, remembered, rpmlint
from builder.formats.deb import writer as deb
from builder.formats.meta import Signing
from builder.formats.rpm import writer as rpm
from tests.conftest import REPO
from tests.packaging_helpers import make_gpg_key, toy_meta, toy_stage

RPMLINTRC = REPO / "templates" / "package" / "rpmlintrc"


def test_reports_count_by_severity_and_tag():
    report = LintReport("lintian", Path("toy.deb"), 1.2, [
        "E: toy: dir-or-file-in-opt [opt/toy/]", "E: toy: dir-or-file-in-opt [opt/toy/bin/]",
        "W: toy: unknown-field License", "E: toy: no-changelog usr/share/doc/toy/x (non-native)"])
    assert report.errors == 3 and report.warnings == 1
    assert report.tags == {("E", "dir-or-file-in-opt"): 2, ("W", "unknown-field"): 1,
                           ("E", "no-changelog"): 1}
    assert report.summary() == ("lintian: 3 errors, 1 warnings on toy.deb (1 s): "
                                "dir-or-file-in-opt 2 (E), no-changelog 1 (E), "
                                "unknown-field 1 (W)")
    rpm_report = LintReport("rpmlint", Path("toy.rpm"), 0.4, [
        "toy.x86_64: E: zero-length /opt/toy/x", "toy.x86_64: W: file-not-in-%lang /opt/x.mo"])
    assert rpm_report.tags == {("E", "zero-length"): 1, ("W", "file-not-in-%lang"): 1}


@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed")
def test_lintian_runs_on_the_zstd_deb_and_sets_aside_only_its_zstd_limit(tmp_path):
    package = deb.build(toy_stage(tmp_path / "tree"), toy_meta(), tmp_path / "pkg")
    report = lintian(package)
    assert [line.split(" member ")[1] for line in report.set_aside] == [
        "control.tar.zst not control.tar.(gz|xz)", "data.tar.zst not data.tar.(gz|xz|bz2|lzma)"]
    assert not any("malformed-deb-archive" in line for line in report.lines)
    # the rest of the package is checked: the toy has no overrides, so /opt is reported
    assert report.tags[("E", "dir-or-file-in-opt")] > 0


@pytest.mark.skipif(shutil.which("rpmlint") is None, reason="rpmlint is not installed")
def test_rpmlint_checks_the_signature_with_the_key_that_made_it(tmp_path):
    home = tmp_path / "gnupg"
    key = make_gpg_key(home)
    signed = rpm.build(toy_stage(tmp_path / "tree"),
                       toy_meta("rpm", signing=Signing(key, home)), tmp_path / "pkg")
    unknown = rpmlint(signed, RPMLINTRC)
    assert ("E", "unknown-key") in unknown.tags
    trusted = rpmlint(signed, RPMLINTRC, export_key(key, str(home)))
    assert ("E", "unknown-key") not in trusted.tags
    assert trusted.set_aside == [] and "packages and 0 specfiles checked" in trusted.output


def test_a_verdict_is_kept_for_the_same_bytes_tool_and_settings(tmp_path):
    package = tmp_path / "toy.deb"
    package.write_bytes(b"package")
    runs = []

    def run():
        runs.append(1)
        return LintReport("lintian", package, 50.0, ["W: toy: unknown-field License"])

    first = remembered(run, tmp_path / "cache", "lintian", package)
    again = remembered(run, tmp_path / "cache", "lintian", package)
    assert len(runs) == 1 and not first.cached and again.cached
    assert again.tags == first.tags and "kept from its last run" in again.summary()
    remembered(run, tmp_path / "cache", "lintian", package, "other settings")
    package.write_bytes(b"another package")
    remembered(run, tmp_path / "cache", "lintian", package)
    assert len(runs) == 3


def test_dev_build_fails_on_lint_errors_and_prints_the_summary(monkeypatch, tmp_path, capsys):
    from invoke import Exit

    import builder.app.lint
    import tasks

    packages = {"deb": tmp_path / "toy.deb", "rpm": tmp_path / "toy.rpm"}
    monkeypatch.setattr(builder.app.lint, "built_packages", lambda *args: packages)
    monkeypatch.setattr(builder.app.lint, "export_key", lambda *args: b"key")
    monkeypatch.setattr(builder.app.lint, "remembered", lambda run, *args: run())
    monkeypatch.setattr(tasks, "signing_env", lambda: {"OMNIBUS_SIGN_KEY": "k"})
    found = {"deb": [], "rpm": []}
    monkeypatch.setattr(builder.app.lint, "lintian", lambda deb: LintReport(
        "lintian", deb, 50.0, found["deb"]))
    monkeypatch.setattr(builder.app.lint, "rpmlint", lambda rpm, rc, key: LintReport(
        "rpmlint", rpm, 12.0, found["rpm"]))
    summary = tasks.lint_packages("toy", "debian-12", "amd64", ["deb", "rpm"])
    assert summary == ["lintian: 0 errors, 0 warnings on toy.deb (50 s)",
                       "rpmlint: 0 errors, 0 warnings on toy.rpm (12 s)"]
    found["rpm"] = ["toy.x86_64: E: zero-length /opt/toy/x"]
    with pytest.raises(Exit, match="rpmlint found errors"):
        tasks.lint_packages("toy", "debian-12", "amd64", ["deb", "rpm"])
    assert "toy.x86_64: E: zero-length /opt/toy/x" in capsys.readouterr().out
