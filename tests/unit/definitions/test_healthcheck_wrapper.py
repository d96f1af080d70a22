"""gitlab-healthcheck, the wrapper rendered from templates/software/gitlab-healthcheck/, run
for real: the bundled curl (here the host's) against a real HTTP server on loopback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.definitions.templating import render_step
from tests.conftest import REPO
from tests.httpserver import Behaviour, LocalServer, refused_url

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="needs curl")


def healthcheck(tmp_path: Path, url: str) -> Path:
    """The rendered wrapper, its install dir's rc file pointing at `url`, and curl."""
    install_dir = tmp_path / "opt/gitlab"
    prefix = install_dir / "embedded"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "curl").symlink_to(CURL)
    (install_dir / "etc").mkdir()
    (install_dir / "etc" / "gitlab-healthcheck-rc").write_text(f"url='{url}'\nflags=''\n")
    template = REPO / "templates/software/gitlab-healthcheck/gitlab-healthcheck.j2"
    script = install_dir / "bin" / "gitlab-healthcheck"
    script.parent.mkdir()
    script.write_text(render_step(template.read_text(), {"install_dir": install_dir,
                                                         "prefix": prefix}))
    script.chmod(0o755)
    return script


def test_a_healthy_answer_prints_the_body_and_no_progress_meter(tmp_path):
    with LocalServer(Behaviour(files={"/-/health": b"GitLab OK"})) as server:
        script = healthcheck(tmp_path, f"{server.url}/-/health")
        # a probe's output is never a terminal: curl would draw its meter on stderr
        result = subprocess.run([str(script), "--fail"], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "GitLab OK", "")


def test_a_failed_check_still_says_why(tmp_path):
    script = healthcheck(tmp_path, refused_url())
    result = subprocess.run([str(script), "--fail"], capture_output=True, text=True)
    assert result.returncode == 7  # curl's "failed to connect"
    assert result.stderr.startswith("curl: (7) Failed to connect to 127.0.0.1")
    assert "% Total" not in result.stderr
