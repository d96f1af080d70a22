"""Where gitlab-ctl's settings come from: gitlab.rb (parsed, never run) or a YAML file."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from gitlab_ctl.gitlabrb import (
    KNOWN_SETTINGS,
    GitlabRbError,
    parse_gitlab_rb_lines,
    unknown_setting,
)

DEFAULT_CONFIG = Path("/etc/gitlab/gitlab.rb")


class ConfigError(Exception):
    """A config file that cannot be used; `where` is 'FILE' or 'FILE:LINE'."""

    def __init__(self, where: str, message: str, hint: str = "") -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message, self.hint = where, message, hint


def host_facts() -> dict[str, str]:
    """What `node['...']` answers in gitlab.rb."""
    hostname = socket.gethostname()
    return {"fqdn": socket.getfqdn() or hostname, "hostname": hostname}


def _yaml_settings(path: Path, text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), f"is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must be a mapping of settings",
                          hint="e.g. external_url: http://gitlab.example.test")
    for name in data:
        if name not in KNOWN_SETTINGS:
            error = unknown_setting(1, str(name))
            raise ConfigError(str(path), error.message, error.hint)
    return data


def load_settings(path: Path, facts: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings a config file makes; YAML for .yml/.yaml, gitlab.rb syntax otherwise."""
    return read_config(path, facts)[0]


def read_config(path: Path, facts: dict[str, str] | None = None
                ) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The settings and, for gitlab.rb, the line each one was set on (empty for YAML)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(str(path), f"cannot be read ({error.strerror})",
                          hint="pass another file with --config PATH") from error
    if path.suffix in (".yml", ".yaml"):
        return _yaml_settings(path, text), {}
    try:
        return parse_gitlab_rb_lines(text, host_facts() if facts is None else facts)
    except GitlabRbError as error:
        raise ConfigError(f"{path}:{error.line}", error.message, error.hint) from error
