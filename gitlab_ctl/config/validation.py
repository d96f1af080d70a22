"""Checks of the resolved settings before anything on the host changes, with omnibus-gitlab's
wording where it has one. Errors stop reconfigure (ConfigError, naming the gitlab.rb line);
a key no section declares is an error too (statuses); warnings (a setting that has no effect
here, with its reason) are reported and the run goes on.
Types, ranges and allowed values come from the schema (schema.yml); what relates two
settings, and the roles, are checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.config import git_data_dirs, letsencrypt, secrets
from gitlab_ctl.config.gitlabrb_limits import excerpt
from gitlab_ctl.config.nginx_sites import check_newer_styles
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.roles import role_name, role_warnings
from gitlab_ctl.config.schema import TOP_LEVEL, Schema, Setting, load_schema
from gitlab_ctl.config.setting_names import ROLES
from gitlab_ctl.config.statuses import REFUSED, grouped_warnings, statuses

Lines = Mapping[tuple[str, ...], str]  # where each setting was set: 'FILE:LINE'


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
    if isinstance(roles, str):  # one role, as omnibus-gitlab accepts it
        roles = [roles]
    if not isinstance(roles, list):
        check.fail(("roles",), "roles must be a list, e.g. roles ['redis_master_role']")
    valid = {f"{role}_role" for role in ROLES}
    invalid = [excerpt(str(role)) for role in roles if role_name(role) not in ROLES]
    if invalid:
        check.fail(("roles",), "The following invalid roles have been set in 'roles': "
                   + ", ".join(invalid), hint="valid roles: " + ", ".join(sorted(valid)))


def _check_declared(check: Checker, schema: Schema) -> None:
    """Every declared setting of a section against its type, range and allowed values."""
    for (section, key), setting in schema.settings.items():
        if setting.inferred:  # nothing reads it, and its type is only the template example's
            continue
        if section == TOP_LEVEL:
            problem = setting.problem(check.attributes.get(key))
            if problem:
                check.fail((key,), *problem)
        elif key != "enable" and isinstance(check.attributes.get(section), Mapping):
            problem = setting.problem(check.get(section, key))
            if problem:
                check.fail((section, key), *problem)


def _check_related(check: Checker) -> None:
    timeout = check.get("puma", "worker_timeout")
    duration = check.get("gitlab_rails", "max_request_duration_seconds")
    if isinstance(timeout, int) and isinstance(duration, int) and duration >= timeout:
        check.fail(("gitlab_rails", "max_request_duration_seconds"),
                   f"The maximum request duration needs to be smaller than the worker timeout "
                   f"({timeout}s)")


def _check_enable_flags(check: Checker, schema: Schema) -> None:
    """Every section's switch first, declared or not."""
    for section, values in check.attributes.items():
        if isinstance(values, Mapping) and "enable" in values:
            # a section the schema does not declare has a switch all the same
            setting = schema.get(section, "enable") or Setting(section, "enable", "boolean",
                                                               "run it")
            problem = setting.problem(values["enable"])
            if problem:
                check.fail((section, "enable"), *problem)


def unused_settings(settings: Mapping[str, Any], lines: Lines, source: Path) -> list[str]:
    """One warning per section and reason for the settings that have no effect here (see
    grouped_warnings); a key no section declares is refused (ConfigError naming its line,
    with a did-you-mean)."""
    found = statuses(settings, lines, str(source))
    for status in found:
        if status.kind == REFUSED:
            raise ConfigError(status.where, status.message, status.hint)
    return grouped_warnings(found)


def validate(attributes: Mapping[str, Any], settings: Mapping[str, Any], lines: Lines,
             source: Path) -> list[str]:
    """Raise ConfigError for the first invalid setting; return the warnings."""
    check, schema = Checker(attributes, lines, source), load_schema()
    _check_roles(check)
    _check_enable_flags(check, schema)
    styles = check_newer_styles(settings, schema, lines, str(source))  # names the newer key
    _check_declared(check, schema)
    _check_related(check)
    letsencrypt.refuse_missing_certificate(
        attributes, lines.get(("letsencrypt", "enable")) or str(source))
    deprecated = [git_data_dirs.deprecation(lines.get((git_data_dirs.NAME,)) or str(source))
                  ] if git_data_dirs.NAME in settings else []
    roles = [f"{check.where('roles')}: {line}" for line in role_warnings(attributes)]
    unsaved = secrets.unsaved_secrets_warning(attributes.get("package") or {},
                                              secrets.DEFAULT_PATH)
    return (styles + deprecated + roles + letsencrypt.warnings(attributes) + unsaved
            + unused_settings(settings, lines, source))
