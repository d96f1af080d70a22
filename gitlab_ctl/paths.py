"""Where an installation lives. The install dir comes from the package's gitlab-ctl wrapper
(GITLAB_INSTALL_DIR); /etc/gitlab, /var/opt/gitlab and /var/log/gitlab are omnibus-gitlab's
fixed locations, overridable for tests and for hosts that relocate them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The jinja2 templates reconfigure renders, inside the package: gitlab_ctl needs no other
#: directory, in this repository or where the package installs it.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: Written only by a package build (gitlab_ctl.precompile): the templates as Python modules
#: (the settings' schema as JSON: gitlab_ctl.config.schema); without them, read from source.
COMPILED_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates_compiled"


@dataclass(frozen=True)
class Layout:
    install_dir: Path = Path("/opt/gitlab")
    etc_dir: Path = Path("/etc/gitlab")
    data_dir: Path = Path("/var/opt/gitlab")
    log_dir: Path = Path("/var/log/gitlab")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Layout:
        environ = os.environ if environ is None else environ
        names = {"install_dir": "GITLAB_INSTALL_DIR", "etc_dir": "GITLAB_ETC_DIR",
                 "data_dir": "GITLAB_DATA_DIR", "log_dir": "GITLAB_LOG_DIR"}
        return cls(**{field: Path(environ[name]) for field, name in names.items()
                      if environ.get(name)})

    @property
    def embedded(self) -> Path:
        return self.install_dir / "embedded"

    @property
    def sv_dir(self) -> Path:
        """Service definitions: run scripts, log/run, log/config."""
        return self.install_dir / "sv"

    @property
    def service_dir(self) -> Path:
        """What runsvdir supervises: one link per enabled service into sv_dir."""
        return self.install_dir / "service"

    def binary(self, relative: str) -> Path:
        """A program of the package, e.g. 'embedded/bin/redis-server'."""
        return self.install_dir / relative

    @property
    def config_file(self) -> Path:
        return self.etc_dir / "gitlab.rb"

    @property
    def secrets_file(self) -> Path:
        return self.etc_dir / "gitlab-secrets.json"

    @property
    def reconfigure_log_dir(self) -> Path:
        return self.log_dir / "reconfigure"
