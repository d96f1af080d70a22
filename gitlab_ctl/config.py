"""Where gitlab-ctl's settings come from: gitlab.rb (parsed, never run) or a YAML file, then
the GITLAB_OMNIBUS_CONFIG environment variable (gitlab.rb syntax, applied after the file, as
the official container image does)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.gitlabrb import (
    KNOWN_SETTINGS,
    GitlabRbError,
    parse_gitlab_rb_into,
    unknown_setting,
)

DEFAULT_CONFIG = Path("/etc/gitlab/gitlab.rb")
ENV_CONFIG = "GITLAB_OMNIBUS_CONFIG"
#: (name, *keys) of a setting -> where it was last set, 'FILE:LINE' or 'GITLAB_OMNIBUS_CONFIG:LINE'
Locations = dict[tuple[str, ...], str]


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


def read_config(path: Path, facts: dict[str, str] | None = None,
                environ: Mapping[str, str] = os.environ) -> tuple[dict[str, Any], Locations]:
    """The settings, and where each was last set (gitlab.rb lines and GITLAB_OMNIBUS_CONFIG
    lines; nothing for a YAML file's)."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(str(path), f"cannot be read ({error.strerror})",
                          hint="pass another file with --config PATH") from error
    facts = host_facts() if facts is None else facts
    settings: dict[str, Any] = {}
    locations: Locations = {}
    if path.suffix in (".yml", ".yaml"):
        settings = _yaml_settings(path, text)
    else:
        locations.update(_parse_into(text, str(path), settings, facts))
    if environ.get(ENV_CONFIG, "").strip():
        locations.update(_parse_into(environ[ENV_CONFIG], ENV_CONFIG, settings, facts))
    return settings, locations


def _parse_into(text: str, source: str, settings: dict[str, Any],
                facts: Mapping[str, str]) -> Locations:
    try:
        lines = parse_gitlab_rb_into(text, settings, facts)
    except GitlabRbError as error:
        raise ConfigError(f"{source}:{error.line}", error.message, error.hint) from error
    return {keys: f"{source}:{line}" for keys, line in lines.items()}
