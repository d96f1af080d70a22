"""Fixtures the gitlab-ctl unit tests share."""

from __future__ import annotations

import pytest

from gitlab_ctl.paths import Layout


@pytest.fixture
def tmp_layout(tmp_path, monkeypatch) -> Layout:
    """An installation's four directories under tmp_path, as GITLAB_*_DIR name them for
    every gitlab-ctl code path (nothing is created)."""
    for name, sub in (("GITLAB_INSTALL_DIR", "opt/gitlab"), ("GITLAB_ETC_DIR", "etc/gitlab"),
                      ("GITLAB_DATA_DIR", "var/opt/gitlab"), ("GITLAB_LOG_DIR", "var/log/gitlab")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    return Layout.from_environ()
