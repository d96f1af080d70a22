"""What becomes of each setting gitlab.rb sets: applied (something here reads it), not
applicable here (accepted, documented, no effect: warned once, with its reason) or refused
(a key no section of the schema declares: an error with a did-you-mean). Nothing is accepted
silently; bench/gitlabrb_coverage.py counts these over omnibus-gitlab's whole template."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitlab_ctl.config import git_data_dirs
from gitlab_ctl.config.gitlabrb_limits import excerpt
from gitlab_ctl.config.schema import TOP_LEVEL, Schema, load_schema

APPLIED, NOT_APPLICABLE, REFUSED, SILENT = "applied", "not applicable", "refused", "silent"
TEMPLATE_HINT = "see /opt/gitlab/etc/gitlab.rb.template for the settings of {section}"


@dataclass(frozen=True)
class Status:
    section: str  # TOP_LEVEL for a call such as external_url
    key: str
    where: str  # FILE:LINE
    kind: str  # APPLIED, NOT_APPLICABLE, REFUSED or SILENT
    message: str = ""  # a reason (not applicable) or an error (refused)
    hint: str = ""

    @property
    def name(self) -> str:
        return self.key if self.section == TOP_LEVEL else f"{self.section}['{self.key}']"


def did_you_mean(schema: Schema, section: str, key: str) -> str:
    """A hint for a key `section` does not declare: a close key of the section, else the
    sections that declare this very key, else where the settings are listed."""
    close = difflib.get_close_matches(key[:100], schema.keys(section), n=1)
    if close:
        return f"did you mean {section}['{close[0]}']?"
    others = sorted(name for name in schema.sections() if schema.get(name, key) is not None)
    if others:
        return f"'{excerpt(key)}' is a setting of {', '.join(others[:3])}: did you mean " \
               f"{others[0]}['{excerpt(key)}']?"
    return TEMPLATE_HINT.format(section=section)


def _top_level(schema: Schema, name: str, where: str) -> Status:
    if name == git_data_dirs.NAME:  # read into Gitaly's storages, with a deprecation warning
        return Status(TOP_LEVEL, name, where, APPLIED)
    setting = schema.get(TOP_LEVEL, name)
    if setting is None:
        return Status(TOP_LEVEL, name, where, SILENT)
    return Status(TOP_LEVEL, name, where, APPLIED if setting.used else NOT_APPLICABLE,
                  setting.reason)


def _key(schema: Schema, section: str, key: str, where: str) -> Status:
    setting = schema.get(section, key)
    if setting is None:
        return Status(section, key, where, REFUSED,
                      f"{section}['{excerpt(key)}'] is not a setting of {section} (omnibus-"
                      f"gitlab has no such key either)", did_you_mean(schema, section, key))
    if setting.used:
        return Status(section, key, where, APPLIED)
    return Status(section, key, where, NOT_APPLICABLE, setting.reason)


def statuses(settings: Mapping[str, Any], lines: Mapping[tuple[str, ...], str],
             source: str) -> list[Status]:
    """The status of every setting (each key of each section), in the order gitlab.rb set
    them."""
    schema, found = load_schema(), []
    for name, values in settings.items():
        name = str(name)
        if name == git_data_dirs.NAME or not isinstance(values, Mapping):
            found.append(_top_level(schema, name, lines.get((name,)) or source))
            continue
        for key in values:
            where = lines.get((name, str(key))) or lines.get((name,)) or source
            found.append(_key(schema, name, str(key), where))
    return sorted(found, key=lambda status: _line(status.where))


def _line(where: str) -> tuple[str, int]:
    source, _, line = where.rpartition(":")
    return (source, int(line)) if line.isdigit() else (where, 0)


#: Names listed in one grouped warning before "and N more".
GROUP_LISTED = 6


def warning(status: Status) -> str:
    return f"{status.where}: {status.name} is not applicable here: {status.message}"


def grouped_warnings(found: list[Status]) -> list[str]:
    """One warning per section and reason for the not-applicable settings, at the first
    one's line, naming the others with their lines (a gitlab.rb copied from omnibus-gitlab
    with a whole consul or pgbouncer block gets one line for it, not forty)."""
    groups: dict[tuple[str, str], list[Status]] = {}
    for status in found:
        if status.kind == NOT_APPLICABLE:
            groups.setdefault((status.section, status.message), []).append(status)
    warnings = []
    for (section, reason), members in groups.items():
        if len(members) == 1:
            warnings.append(warning(members[0]))
            continue
        names = [f"{m.name} (line {_line(m.where)[1]})" for m in members[:GROUP_LISTED]]
        more = len(members) - GROUP_LISTED
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        warnings.append(f"{members[0].where}: {len(members)} settings of {section} are not "
                        f"applicable here: {reason}: {listed}")
    return warnings
