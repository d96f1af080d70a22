"""The gitlab.rb settings, declared once in schema.yml: type, default, range or choices, one
doc line. From it come the defaults, the type and range checks (validation), the warnings
for settings nothing reads, and the check of the shipped gitlab.rb.template.

A package build precompiles schema.yml to schema.json (gitlab_ctl.precompile): a run then
reads JSON, not YAML with the pure-Python parser."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.config.gitlabrb_limits import excerpt

SCHEMA_YAML = Path(__file__).with_name("schema.yml")
#: Generated (bench/schema_from_template.py): omnibus-gitlab's keys schema.yml does not declare,
#: each not applicable here, with a reason per section (`_reason`); schema.yml wins.
SCHEMA_OMNIBUS_YAML = Path(__file__).with_name("schema_omnibus.yml")
#: A section's reason for its settings that have no effect here.
REASON = "_reason"
#: Written only by a package build (gitlab_ctl.precompile); without it, read from the YAML.
SCHEMA_JSON = Path(__file__).with_name("schema.json")
#: The settings written as calls (`external_url '...'`) rather than `section['key'] = ...`.
TOP_LEVEL = "top_level"


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Kind:
    """A type: which values fit, and what the error says (`must be DESCRIBED`)."""

    accepts: Callable[[Any], bool]
    described: str
    hint: str


#: The types schema.yml names. The port and boolean wordings are the ones gitlab-ctl has
#: always given; url values are checked where their line is known (reader.check_urls).
KINDS: Mapping[str, Kind] = {
    "string": Kind(lambda v: isinstance(v, str), "must be a string", "write it in quotes"),
    "text": Kind(lambda v: isinstance(v, str) or _integer(v), "must be a string or a number",
                 "write it in quotes"),
    "integer": Kind(_integer, "must be an integer", "write a whole number, without quotes"),
    "number": Kind(lambda v: _integer(v) or isinstance(v, float), "must be a number",
                   "write a number, without quotes"),
    "boolean": Kind(lambda v: isinstance(v, bool), "must be true or false",
                    "write true or false, without quotes"),
    "port": Kind(lambda v: _integer(v) and 0 <= v <= 65535, "is not a port number",
                 "use an integer from 1 to 65535, without quotes"),
    "mode": Kind(lambda v: _integer(v) and 0 <= v <= 0o7777, "is not a file mode",
                 "write it in octal, without quotes, e.g. 0600"),
    "list": Kind(lambda v: isinstance(v, list), "must be an array",
                 "write it in brackets, e.g. ['a', 'b']"),
    "hash": Kind(lambda v: isinstance(v, dict), "must be a hash",
                 "write it in braces, e.g. { 'key' => 'value' }"),
    "url": Kind(lambda v: True, "must be a URL", ""),
}


def kind_of(type_name: str) -> Kind:
    """The Kind of a type name; `boolean|list` (a union, as omnibus-gitlab's settings that
    take true/false or a list of providers) accepts what any of its types accepts."""
    if "|" not in type_name:
        return KINDS[type_name]
    kinds = [KINDS[name] for name in type_name.split("|")]
    described = " or ".join(kind.described.removeprefix("must be ") for kind in kinds)
    return Kind(lambda value: any(kind.accepts(value) for kind in kinds),
                f"must be {described}", "; or ".join(kind.hint for kind in kinds if kind.hint))


def known_type(type_name: str) -> bool:
    return all(name in KINDS for name in type_name.split("|"))


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    type: str
    doc: str
    has_default: bool = False
    default: Any = None
    used: bool = True  # False: accepted and documented, but nothing here reads it
    reason: str = ""  # why an unused setting has no effect here, in one line
    inferred: bool = False  # from schema_omnibus.yml: type from an example, value not checked
    range: tuple[int, int] | None = None
    choices: tuple[Any, ...] | None = None
    min_length: int | None = None
    message: str = ""  # what a refused value is told, instead of the type's wording
    hint: str = ""

    @property
    def name(self) -> str:
        return self.key if self.section == TOP_LEVEL else f"{self.section}['{self.key}']"

    def problem(self, value: Any) -> tuple[str, str] | None:
        """None when `value` fits; else the message and hint of the error (nil always fits:
        it leaves the default)."""
        if value is None:
            return None
        shown = f"{self.name} = {excerpt(repr(value))}"
        kind = kind_of(self.type)
        if not kind.accepts(value):
            return f"{shown} {kind.described}", self.hint or kind.hint
        if self.range and not self.range[0] <= value <= self.range[1]:
            return f"{shown} is not from {self.range[0]} to {self.range[1]}", self.hint
        if self.choices and value not in self.choices:
            return (self.message.format(value=excerpt(str(value)))
                    or f"{shown} is not one of {', '.join(map(repr, self.choices))}", self.hint)
        if self.min_length is not None and len(str(value)) < self.min_length:
            return (self.message.format(value=excerpt(str(value)))
                    or f"{shown} is shorter than {self.min_length} characters", self.hint)
        return None


def _setting(section: str, key: str, spec: Mapping[str, Any], reason: str) -> Setting:
    used = spec.get("used", True)
    reason = spec.get("reason") or reason
    doc = spec.get("doc") or ("" if used else f"not applicable here: {reason}")
    return Setting(
        section, key, spec["type"], doc, "default" in spec,
        spec.get("default"), used, "" if used else reason,
        spec.get("inferred", False),
        tuple(spec["range"]) if "range" in spec else None,
        tuple(spec["choices"]) if "choices" in spec else None, spec.get("min_length"),
        spec.get("message", ""), spec.get("hint", ""))


def read_schema_yaml() -> dict[str, dict[str, Any]]:
    """schema.yml with schema_omnibus.yml's sections and keys added (each `used: false` and
    `inferred: true`), in schema.yml's order first."""
    import yaml  # in a package, only its build reads the YAML

    # libyaml's loader where PyYAML has it (ten times faster); the same documents either way
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schema = yaml.load(SCHEMA_YAML.read_text(), Loader=loader)
    for section, specs in yaml.load(SCHEMA_OMNIBUS_YAML.read_text(), Loader=loader).items():
        merged = schema.setdefault(section, {})
        for key, spec in specs.items():
            if key == REASON:
                merged.setdefault(REASON, spec)
            elif key not in merged:
                merged[key] = {"used": False, **spec, "inferred": True}
    return schema


def read_schema_source() -> dict[str, dict[str, Any]]:
    """The package build's schema.json, else the YAML files, as they are written."""
    if SCHEMA_JSON.is_file():
        return json.loads(SCHEMA_JSON.read_text())
    return read_schema_yaml()


@dataclass(frozen=True)
class Schema:
    settings: Mapping[tuple[str, str], Setting]

    def get(self, section: str, key: str) -> Setting | None:
        return self.settings.get((section, key))

    def defaults(self) -> dict[str, Any]:
        """The defaults, in the schema's order (config files such as Gitaly's TOML keep it);
        only sections that have one, and never the top-level settings."""
        found: dict[str, dict[str, Any]] = {}
        for setting in self.settings.values():
            if setting.has_default and setting.section != TOP_LEVEL:
                found.setdefault(setting.section, {})[setting.key] = copy.deepcopy(
                    setting.default)
        return found

    def sections(self) -> frozenset[str]:
        return frozenset(section for section, _key in self.settings)

    def keys(self, section: str) -> list[str]:
        return [key for (name, key) in self.settings if name == section]


@functools.cache
def load_schema() -> Schema:
    """The schema, read once per process (it is never changed)."""
    from gitlab_ctl.config.schema_reasons import GENERIC

    return Schema({(section, key): _setting(section, key, spec,
                                            specs.get(REASON, GENERIC))
                   for section, specs in read_schema_source().items()
                   for key, spec in specs.items() if key != REASON})
