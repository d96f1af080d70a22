"""Checks of the resolved settings before anything on the host changes, with omnibus-gitlab's
wording where it has one. Errors stop reconfigure (ConfigError, naming the gitlab.rb line);
warnings (a setting this runtime does not use, likely a typo) are reported and the run goes on.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.attributes import load_defaults
from gitlab_ctl.config import ConfigError
from gitlab_ctl.gitlabrb_limits import excerpt
from gitlab_ctl.setting_names import ROLES

Lines = Mapping[tuple[str, ...], str]  # where each setting was set: 'FILE:LINE'
#: (section, key) of TCP ports; 0 is allowed where it means "no TCP listener".
PORTS = (("postgresql", "port"), ("redis", "port"), ("nginx", "listen_port"),
         ("gitlab_rails", "gitlab_port"), ("puma", "port"))


class Checker:
    def __init__(self, attributes: Mapping[str, Any], lines: Lines, source: Path) -> None:
        self.attributes, self.lines, self.source = attributes, lines, source

    def where(self, *keys: str) -> str:
        return self.lines.get(keys) or str(self.source)

    def fail(self, keys: tuple[str, ...], message: str, hint: str = "") -> None:
        raise ConfigError(self.where(*keys), message, hint)

    def get(self, section: str, key: str) -> Any:
        values = self.attributes.get(section)
        return values.get(key) if isinstance(values, Mapping) else None


def _check_roles(check: Checker) -> None:
    roles = check.attributes.get("roles") or []
    if not isinstance(roles, list):
        check.fail(("roles",), "roles must be a list, e.g. roles ['redis_master_role']")
    valid = {f"{role}_role" for role in ROLES}
    invalid = [excerpt(str(role)) for role in roles
               if str(role) not in valid and str(role) not in ROLES]
    if invalid:
        check.fail(("roles",), "The following invalid roles have been set in 'roles': "
                   + ", ".join(invalid), hint="valid roles: " + ", ".join(sorted(valid)))


def _check_values(check: Checker) -> None:
    password = check.get("gitlab_rails", "initial_root_password")
    if password is not None and len(str(password)) < 8:
        check.fail(("gitlab_rails", "initial_root_password"),
                   "initial_root_password: Length is too short, minimum is 8 characters")
    adapter = check.get("gitlab_rails", "db_adapter")
    if adapter not in (None, "postgresql"):
        check.fail(("gitlab_rails", "db_adapter"), f"db_adapter '{adapter}' is not supported",
                   hint="GitLab only supports PostgreSQL: gitlab_rails['db_adapter'] = "
                   "'postgresql'")
    for section, key in PORTS:
        port = check.get(section, key)
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 <= port <= 65535):
            check.fail((section, key), f"{section}['{key}'] = {excerpt(repr(port))} is not a "
                       "port number",
                       hint="use an integer from 1 to 65535, without quotes")
    timeout = check.get("puma", "worker_timeout")
    duration = check.get("gitlab_rails", "max_request_duration_seconds")
    if isinstance(timeout, int) and isinstance(duration, int) and duration >= timeout:
        check.fail(("gitlab_rails", "max_request_duration_seconds"),
                   f"The maximum request duration needs to be smaller than the worker timeout "
                   f"({timeout}s)")


def _check_enable_flags(check: Checker) -> None:
    for section, values in check.attributes.items():
        if isinstance(values, Mapping) and "enable" in values:
            flag = values["enable"]
            if flag is not None and not isinstance(flag, bool):
                check.fail((section, "enable"), f"{section}['enable'] = {excerpt(repr(flag))} "
                           "must be true or false", hint="write true or false, without quotes")


def unused_settings(settings: Mapping[str, Any], lines: Lines, source: Path) -> list[str]:
    """Warnings for keys of a known section that nothing here reads, with a did-you-mean."""
    defaults = load_defaults()
    warnings = []
    for section, values in settings.items():
        known = defaults.get(section)
        if not isinstance(values, Mapping) or not isinstance(known, Mapping):
            continue
        for key in values:
            if key in known or key == "enable":
                continue
            close = difflib.get_close_matches(str(key)[:100], [str(k) for k in known], n=1)
            where = lines.get((section, str(key))) or str(source)
            text = f"{where}: {section}['{excerpt(str(key))}'] is not used by this gitlab-ctl"
            warnings.append(text + (f" (did you mean '{close[0]}'?)" if close else ""))
    return warnings


def validate(attributes: Mapping[str, Any], settings: Mapping[str, Any], lines: Lines,
             source: Path) -> list[str]:
    """Raise ConfigError for the first invalid setting; return the warnings."""
    check = Checker(attributes, lines, source)
    _check_roles(check)
    _check_enable_flags(check)
    _check_values(check)
    return unused_settings(settings, lines, source)
