"""Where gitlab-ctl's settings come from, in omnibus-gitlab's image's order (its
/assets/gitlab.rb): the image's defaults (the file GITLAB_IMAGE_CONFIG names; the container
image sets it), then the GITLAB_OMNIBUS_CONFIG environment variable (gitlab.rb syntax), then
gitlab.rb (parsed, never run) or a YAML file: for the same key, gitlab.rb wins."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.config.external_url import UrlError, parse_url, url_hint
from gitlab_ctl.config.gitlabrb import (
    HASH_SETTINGS,
    KNOWN_SETTINGS,
    GitlabRbError,
    parse_gitlab_rb_into,
    unknown_setting,
)
from gitlab_ctl.config.gitlabrb_limits import MAX_SOURCE_BYTES, MIB
from gitlab_ctl.config.gitlabrb_node import host_facts
from gitlab_ctl.config.gitlabrb_values import Budget, plain
from gitlab_ctl.errors import GitlabCtlError

DEFAULT_CONFIG = Path("/etc/gitlab/gitlab.rb")
ENV_CONFIG = "GITLAB_OMNIBUS_CONFIG"
#: Names the container image's defaults file (gitlab.rb syntax), read before everything.
IMAGE_CONFIG = "GITLAB_IMAGE_CONFIG"
#: (name, *keys) of a setting -> where it was last set, 'FILE:LINE' or 'GITLAB_OMNIBUS_CONFIG:LINE'
Locations = dict[tuple[str, ...], str]
#: Settings whose value is a URL, checked here where their line is known.
URL_SETTINGS = ("external_url", "registry_external_url", "pages_external_url",
                "gitlab_kas_external_url", "mattermost_external_url")


class ConfigError(GitlabCtlError):
    """A config file that cannot be used; `where` is 'FILE' or 'FILE:LINE'."""

    exit_code = 2


def _read_text(path: Path) -> str:
    """The file as UTF-8, read no further than MAX_SOURCE_BYTES."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        raise ConfigError(str(path), f"cannot be read ({error.strerror})",
                          hint="pass another file with --config PATH") from error
    if len(data) > MAX_SOURCE_BYTES:
        line = data.count(b"\n", 0, MAX_SOURCE_BYTES) + 1
        raise ConfigError(f"{path}:{line}", f"is larger than {MAX_SOURCE_BYTES // MIB} MiB",
                          hint="a gitlab.rb is far smaller: check that this is the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise ConfigError(f"{path}:{line}", f"is not valid UTF-8 (byte 0x{data[error.start]:02x}"
                          f" at column {column})", hint="save the file as UTF-8, e.g. with "
                          "iconv -f latin1 -t utf-8") from None


def _yaml_settings(path: Path, text: str) -> tuple[dict[str, Any], Locations]:
    from gitlab_ctl.config import safe_yaml  # PyYAML only for a YAML config

    try:
        data, node = safe_yaml.load(text)
    except safe_yaml.YamlError as error:
        raise ConfigError(f"{path}:{error.line}", error.message, error.hint) from error
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must be a mapping of settings",
                          hint="e.g. external_url: http://gitlab.example.test")
    locations = {keys: f"{path}:{line}" for keys, line in safe_yaml.key_lines(node).items()}
    settings, budget = {}, Budget()
    for name, value in data.items():
        where = locations.get((str(name),), str(path))
        if name not in KNOWN_SETTINGS:
            unknown = unknown_setting(1, str(name))
            raise ConfigError(where, unknown.message, unknown.hint)
        if value is None:  # `nginx:` with everything under it commented out
            continue
        if name in HASH_SETTINGS and not isinstance(value, dict):
            raise ConfigError(where, f"'{name}' must be a mapping of its settings, not "
                              f"{type(value).__name__}", hint=f"e.g. {name}: {{enable: true}}")
        try:
            settings[name] = plain(value, budget, 1)
        except GitlabRbError as error:
            raise ConfigError(where, error.message, error.hint) from error
    return settings, locations


def load_settings(path: Path, facts: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings a config file makes; YAML for .yml/.yaml, gitlab.rb syntax otherwise."""
    return read_config(path, facts)[0]


def read_config(path: Path, facts: dict[str, Any] | None = None,
                environ: Mapping[str, str] = os.environ) -> tuple[dict[str, Any], Locations]:
    """The settings, and where each was last set (gitlab.rb lines, a YAML file's lines for
    its settings and their keys, GITLAB_OMNIBUS_CONFIG lines)."""
    text = _read_text(path)
    facts = host_facts(environ) if facts is None else facts
    settings: dict[str, Any] = {}
    locations: Locations = {}
    if environ.get(IMAGE_CONFIG):
        image = Path(environ[IMAGE_CONFIG])
        locations.update(_parse_into(_read_text(image), str(image), settings, facts))
    if environ.get(ENV_CONFIG, "").strip():
        locations.update(_parse_into(environ[ENV_CONFIG], ENV_CONFIG, settings, facts))
    if path.suffix in (".yml", ".yaml"):
        from_file, file_locations = _yaml_settings(path, text)
        _merge(settings, from_file)
        locations.update(file_locations)
    else:
        locations.update(_parse_into(text, str(path), settings, facts))
    _check_urls(settings, locations, str(path))
    return settings, locations


def _merge(settings: dict[str, Any], later: Mapping[str, Any]) -> None:
    """`later`'s settings over `settings`: a section's keys merge, as gitlab.rb's
    `redis['maxclients'] = 1` adds to what was read before it."""
    for name, value in later.items():
        if isinstance(value, dict) and isinstance(settings.get(name), dict):
            settings[name] = {**settings[name], **value}
        else:
            settings[name] = value


def _parse_into(text: str, source: str, settings: dict[str, Any],
                facts: Mapping[str, Any]) -> Locations:
    try:
        lines = parse_gitlab_rb_into(text, settings, facts)
    except GitlabRbError as error:
        raise ConfigError(f"{source}:{error.line}", error.message, error.hint) from error
    return {keys: f"{source}:{line}" for keys, line in lines.items()}


def _check_urls(settings: Mapping[str, Any], locations: Locations, source: str) -> None:
    """The external URLs, refused here with the line that set them
    (attributes derives from them later, when that line is no longer known)."""
    for name in URL_SETTINGS:
        if settings.get(name) is None:
            continue
        try:
            parse_url(settings[name], name)
        except UrlError as error:
            raise ConfigError(locations.get((name,), source), f"{name}: {error.message}",
                              hint=url_hint(name)) from error
