"""Prometheus' and Alertmanager's new configuration is checked before it replaces the live
one: promtool for prometheus.yml and the rules files, amtool for alertmanager.yml (see
gitlab_ctl/services/configcheck.py), converged on temporary directories.

Said plainly: neither promtool nor amtool is on the machine that runs the unit tests, so a
stand-in shell script takes their place here. It records the command line and the copy it
was given, and accepts or refuses with the words the real tools print. What the real tools
say about a real bad configuration is tested in
tests/integration/test_reconfigure_monitoring.py, with Debian's promtool and amtool.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.engine.resources import File, Group, ResourceError, Run, Step, User, converge
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import alertmanager, prometheus
from gitlab_ctl.services.base import Context, Facts
from tests.unit.gitlab_ctl.test_config_templates import fixed_secrets

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown of the files)")

#: the stand-in: logs "argv" and each file argument's content, then refuses when the file
#: `refuse` next to it exists, printing its content (with the copy's path for @FILE@)
STAND_IN = """#!/bin/sh
here=$(dirname "$0")
echo "$*" >> "$here/calls"
last=$(eval echo \\${$#})
for arg in "$@"; do [ -f "$arg" ] && cat "$arg" >> "$here/seen" \
  && stat -c '%a' "$(dirname "$arg")" >> "$here/modes"; done
if [ -f "$here/refuse" ]; then
  sed "s|@FILE@|$last|" "$here/refuse"; exit 1
fi
echo "  SUCCESS: $last is valid"
"""
KUBERNETES_REFUSAL = ("Checking @FILE@\n  FAILED: parsing YAML file @FILE@: yaml: unmarshal "
                      "errors:\n  line 7: field kubernetes_sd_configs not found in type "
                      "config.ScrapeConfig\n")
BAD_JOB = {"job_name": "bad", "static_configs": [{"targets": ["localhost:1"]}],
           "kubernetes_sd_configs": [{"role": "pod"}]}


@pytest.fixture
def site(tmp_path) -> dict:
    """An installation in tmp_path whose embedded promtool and amtool are the stand-in."""
    layout = Layout(install_dir=tmp_path / "opt", etc_dir=tmp_path / "etc",
                    data_dir=tmp_path / "var", log_dir=tmp_path / "log")
    bin_dir = layout.embedded / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("promtool", "amtool"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    return {"layout": layout, "bin": bin_dir, "var": tmp_path / "var"}


def context(site: dict, **prometheus_settings) -> Context:
    """Both services' settings in tmp_path, run as an account that exists (nobody)."""
    var = site["var"]
    settings = {
        "external_url": "http://gitlab.example.test",
        "prometheus": {"username": "nobody", "group": "nogroup", "home": str(var / "prometheus"),
                       "env_directory": str(var / "prometheus-env"), **prometheus_settings},
        "alertmanager": {"home": str(var / "alertmanager"),
                         "env_directory": str(var / "alertmanager-env")},
    }
    return Context(site["layout"], resolve_attributes(settings), fixed_secrets(),
                   Facts(cpus=1, memory_kb=1024 * 1024))


def planned(site: dict, service, **prometheus_settings) -> list:
    """The service's resources, the accounts left out (not what is tested here)."""
    return [r for r in service.configure(context(site, **prometheus_settings))
            if not isinstance(r, (Group, User))]


def converged(resources: list) -> Run:
    run = Run()
    converge(resources, run)
    return run


def position(resources: list, wanted) -> int:
    return next(i for i, r in enumerate(resources) if wanted(r))


def prometheus_yml(site: dict) -> Path:
    return site["var"] / "prometheus" / "prometheus.yml"


def calls(site: dict) -> list[str]:
    path = site["bin"] / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_prometheus_checks_come_before_any_file_they_guard_or_the_env_dir():
    resources = prometheus.configure(context({"layout": Layout(), "var": Path("/var/x")}))
    checks = [i for i, r in enumerate(resources) if isinstance(r, Step)
              and r.id.startswith("check[")]
    assert [resources[i].id for i in checks] == ["check[prometheus]", "check[prometheus-rules]"]
    files = [i for i, r in enumerate(resources) if isinstance(r, File)]
    assert max(checks) < min(files)  # the env dir's files too: they restart Prometheus


def test_alertmanager_check_comes_before_its_file_and_env_dir():
    resources = alertmanager.configure(context({"layout": Layout(), "var": Path("/var/x")}))
    check = position(resources, lambda r: getattr(r, "id", "") == "check[alertmanager]")
    assert check < min(i for i, r in enumerate(resources) if isinstance(r, File))


def test_a_good_configuration_is_checked_on_a_copy_then_written(site):
    run = converged(planned(site, prometheus))
    assert {"check[prometheus]", "check[prometheus-rules]"} <= set(run.changed)
    config_call, rules_call = calls(site)
    home = site["var"] / "prometheus"
    scratch_config = config_call.split()[-1]
    assert config_call.startswith("check config --syntax-only ")
    assert scratch_config.startswith(f"{site['var']}/.prometheus.check-")
    assert scratch_config.endswith("/prometheus.yml")
    assert rules_call.startswith(f"check rules {home}/.rules.check-")
    assert rules_call.endswith("/gitlab.rules " + rules_call.split()[-1])
    assert [Path(arg).name for arg in rules_call.split()[2:]] == ["gitlab.rules", "node.rules"]
    # the copy had the new content, and it is gone
    assert prometheus_yml(site).read_text() in (site["bin"] / "seen").read_text()
    assert not [p for p in site["var"].rglob("*.check-*")]


def test_an_unchanged_configuration_runs_no_check(site):
    converged(planned(site, prometheus))
    again = converged(planned(site, prometheus))
    assert again.changed == []
    assert len(calls(site)) == 2  # the first run's two checks, none since


def test_a_refused_prometheus_yml_is_not_written_and_prometheus_not_told(site):
    converged(planned(site, prometheus))
    before = prometheus_yml(site).read_text()
    (site["bin"] / "refuse").write_text(KUBERNETES_REFUSAL)
    run = Run()
    with pytest.raises(ResourceError) as failure:
        converge(planned(site, prometheus, scrape_configs=[BAD_JOB]), run)
    error = failure.value
    assert error.resource == "check[prometheus]"
    assert (f"promtool rejects the new configuration ({prometheus_yml(site)}). Nothing was "
            "written: prometheus keeps its previous configuration. promtool said:"
            ) in error.message
    assert (f"FAILED: parsing YAML file {prometheus_yml(site)}: yaml: unmarshal errors:"
            in error.message)  # the live file's name, never the copy's
    assert "line 7: field kubernetes_sd_configs not found" in error.message
    assert ".check-" not in error.message
    assert "prometheus['monitor_kubernetes'] = false" in error.hint
    assert prometheus_yml(site).read_text() == before
    assert not run.notifications and run.changed == ["check[prometheus]"]
    assert not [p for p in site["var"].rglob("*.check-*")]


def test_a_refusal_without_a_known_cause_says_to_correct_gitlab_rb(site):
    (site["bin"] / "refuse").write_text("  FAILED: parsing YAML file @FILE@: not a valid "
                                        'duration string: "banana"\n')
    with pytest.raises(ResourceError) as failure:
        converged(planned(site, prometheus))
    assert failure.value.hint == "correct gitlab.rb and run reconfigure again"
    assert 'not a valid duration string: "banana"' in failure.value.message
    assert not prometheus_yml(site).exists()  # the first configuration is checked too


def test_rules_outside_the_home_are_checked_in_a_copy_of_their_directory(site):
    rules = site["var"] / "rules-elsewhere"
    converged(planned(site, prometheus, rules_directory=str(rules)))
    assert calls(site)[1].startswith(f"check rules {site['var']}/.rules-elsewhere.check-")
    assert (rules / "gitlab.rules").exists()


def test_a_refused_rules_file_names_it(site):
    rules = site["var"] / "prometheus" / "rules"
    (site["bin"] / "refuse").write_text("  FAILED:\n@FILE@: 5:11: group \"g\", rule 1: could "
                                        "not parse expression\n")
    resources = [r for r in planned(site, prometheus)
                 if getattr(r, "id", "") != "check[prometheus]"]
    with pytest.raises(ResourceError) as failure:
        converged(resources)
    error = failure.value
    assert error.resource == "check[prometheus-rules]"
    assert (f"promtool rejects the new configuration ({rules}/gitlab.rules, "
            f"{rules}/node.rules). Nothing was written") in error.message
    assert f"{rules}/node.rules: 5:11: group" in error.message
    assert not (rules / "gitlab.rules").exists()


def test_no_promtool_no_check(site):
    (site["bin"] / "promtool").unlink()
    steps = [r for r in planned(site, prometheus) if isinstance(r, Step)
             and r.id.startswith("check[")]
    assert [step.check() for step in steps] == [None, None]


def test_a_good_alertmanager_yml_is_checked_in_a_private_copy(site):
    run = converged(planned(site, alertmanager))
    assert "check[alertmanager]" in run.changed
    (call,) = calls(site)
    assert call.startswith(f"check-config {site['var']}/.alertmanager.check-")
    assert call.endswith("/alertmanager.yml")
    # it may hold the SMTP password: the copy's directory is root's alone
    assert (site["bin"] / "modes").read_text().split() == ["700"]


def test_a_refused_alertmanager_yml_is_not_written(site):
    (site["bin"] / "refuse").write_text("Checking '@FILE@'  FAILED: undefined receiver "
                                        "\"nope\" used in route\n\namtool: error: failed to "
                                        "validate 1 file(s)\n")
    with pytest.raises(ResourceError) as failure:
        converged(planned(site, alertmanager))
    error = failure.value
    live = site["var"] / "alertmanager" / "alertmanager.yml"
    assert error.resource == "check[alertmanager]"
    assert (f"amtool rejects the new configuration ({live}). Nothing was written: "
            "alertmanager keeps its previous configuration. amtool said:") in error.message
    assert f"Checking '{live}'  FAILED: undefined receiver \"nope\" used in route" \
        in error.message
    assert not live.exists()
