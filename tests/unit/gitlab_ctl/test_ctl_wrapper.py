"""The shell scripts software definitions render from templates/software/: gitlab-ctl's
wrapper and runit's runsvdir-start, run for real against stand-ins."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from builder.definitions.loader import load_catalog
from builder.definitions.templating import render_step

REPO = Path(__file__).resolve().parents[3]


def render(template: str, tmp_path: Path) -> tuple[Path, Path]:
    install_dir = tmp_path / "opt/gitlab"
    prefix = install_dir / "embedded"
    script = tmp_path / Path(template).stem
    text = (REPO / "templates" / template).read_text()
    script.write_text(render_step(text, {"install_dir": install_dir, "prefix": prefix}))
    script.chmod(0o755)
    return script, prefix


def test_gitlab_ctl_wrapper_runs_the_package_with_a_clean_environment(tmp_path):
    script, prefix = render("software/gitlab-ctl/gitlab-ctl.j2", tmp_path)
    python = prefix / "bin/python3"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\necho --\nenv | sort\n')
    python.chmod(0o755)
    caller = {"PATH": os.environ["PATH"], "RUBYOPT": "-rbundler/setup", "RUBYLIB": "/x",
              "BUNDLE_GEMFILE": "/x/Gemfile", "GEM_HOME": "/x", "PYTHONHOME": "/x",
              "PYTHONSTARTUP": "/x/s.py", "PYTHONPATH": "/x", "PYTHONWARNINGS": "error",
              "KEEP_ME": "1"}
    result = subprocess.run([str(script), "show-config", "a b"], env=caller,
                            capture_output=True, text=True, check=True)
    args, _, env = result.stdout.partition("--\n")
    assert args.splitlines() == ["-P", "-s", "-m", "gitlab_ctl.cli", "show-config", "a b"]
    variables = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)
    assert variables["PYTHONPATH"] == f"{prefix}/service/gitlab-ctl"
    assert variables["GITLAB_INSTALL_DIR"] == str(tmp_path / "opt/gitlab")
    assert variables["SVWAIT"] == "30"
    assert variables["KEEP_ME"] == "1"
    for name in ("RUBYOPT", "RUBYLIB", "BUNDLE_GEMFILE", "GEM_HOME", "PYTHONHOME",
                 "PYTHONSTARTUP", "PYTHONWARNINGS"):
        assert name not in variables, name
    waited = subprocess.run([str(script)], env={**caller, "SVWAIT": "5"}, capture_output=True,
                            text=True, check=True)
    assert "SVWAIT=5" in waited.stdout.splitlines()


def test_runit_definitions_share_one_runsvdir_start(tmp_path):
    catalog = load_catalog(REPO, environ={})
    for name in ("runit", "runit-busybox"):
        software = catalog.software[name]
        assert "software/runit/runsvdir-start.j2" in software.templates
        assert any(".omnibus-templates/software/runit/runsvdir-start" in step
                   for step in software.build), name
    script, _ = render("software/runit/runsvdir-start.j2", tmp_path)
    text = script.read_text()
    assert f"runsvdir -P {tmp_path}/opt/gitlab/service" in text
    assert "ulimit -n 50000" in text and "umask 022" in text
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
