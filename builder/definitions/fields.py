"""The fields of a software definition, declared once.

Each `Field` says how its key is read, its default, whether and how it counts in the cache
key, whether a platform family may override it, and what it means. Derived from the table:
the keys a software file may have and the order they are read in (`parse_software`), the keys
of a `platforms:` block (`FAMILY_KEYS`), `BUILD_FIELDS` of `resolve.keys`, and the reference
table of docs/software-format.md (`reference_table`; regenerate it with
`python -m builder.definitions.fields`). Tests hold `model.Software` and `model.Override` to
the table, so a field cannot be added in one place and forgotten in another.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.definitions.model import HealthCheckRules, Override, Software, frozen_map
from builder.definitions.overrides import read_selectable, read_upstream_differences
from builder.definitions.software import (
    check_platform_independent,
    read_dependencies,
    read_health_check,
    read_license,
    read_literal_version,
    read_name,
    read_source,
    read_steps,
    read_vendored,
    read_version_from,
)
from builder.definitions.spdx import LicenseChecker
from builder.definitions.strict import Section


@dataclass(frozen=True)
class Context:
    """What a reader may need besides its own key."""

    file: Path
    licenses: LicenseChecker
    families: tuple[str, ...]
    #: The fields read so far: the table's order is the order of reading.
    earlier: Mapping[str, Any]


#: (section, key, context) -> the field's value; the same reader serves a `platforms:` block.
Reader = Callable[[Section, str, Context], Any]


class Required:
    """The default of a field whose key must be given."""

    def __repr__(self) -> str:
        return "REQUIRED"


@dataclass(frozen=True)
class Described:
    """A default that is not a constant (shown in the reference as its description)."""

    text: str


REQUIRED = Required()


@dataclass(frozen=True)
class Field:
    #: The attribute of `Software`.
    name: str
    #: The value's type, as the reference states it.
    type: str
    read: Reader
    #: The value when the key is absent (REQUIRED: the key must be given).
    default: Any
    #: Hashed by value into the cache key (`resolve.keys.BUILD_FIELDS`). No default on
    #: purpose: a build input left out of the key gives stale caches, so each field decides.
    in_key: bool
    doc: str
    #: How the key accounts for it otherwise (in resolve/): documentation only.
    keyed_by: str = ""
    #: "replaced" or "merged" (mappings) by a `platforms:` family block; "" if not overridable.
    per_family: str = ""
    #: The key it is read from, when not its name; None: not read from the file.
    key: str | None = ""

    def __post_init__(self) -> None:
        if self.key == "":
            object.__setattr__(self, "key", self.name)


def _read_overrides(section: Section, _key: str, context: Context) -> Mapping[str, Override]:
    platforms = section.section("platforms")
    if platforms is None:
        return frozen_map()
    platforms.allow(frozenset(context.families))
    return frozen_map({family: _read_override(platforms.section(family, True), context)
                       for family in platforms.data})


def _read_override(section: Section, context: Context) -> Override:
    section.allow(FAMILY_KEYS)
    return Override(**{
        spec.name: spec.read(section, spec.name, context) if section.has(spec.name) else None
        for spec in FAMILY_FIELDS
    })


#: In the order the loader reads them (which decides the error reported first).
SOFTWARE_FIELDS: tuple[Field, ...] = (
    Field("version", "string, or `{file, env, tag_prefix}`",
          lambda s, k, c: read_literal_version(s), REQUIRED, in_key=True,
          doc="the upstream version; a mapping reads it from a file at the root "
          "(see Versions read from files)"),
    Field("version_from", "", lambda s, k, c: read_version_from(s), None, in_key=False,
          key="version", doc="where `version` was read from, when it is not written out"),
    Field("file", "", lambda s, k, c: c.file, REQUIRED, in_key=False, key=None,
          doc="the definition's file (not compared: the same definition elsewhere is equal)"),
    Field("name", "name: `[a-z0-9][a-z0-9._+-]*`", lambda s, k, c: read_name(s, c.file),
          Described("the file's name"), in_key=True,
          doc="what dependencies and projects call it"),
    Field("license", "SPDX expression", lambda s, k, c: read_license(s, c.licenses),
          REQUIRED, in_key=False,
          doc="AND, OR, WITH; `LicenseRef-<name>` for a license SPDX does not list"),
    Field("description", "string", lambda s, k, c: s.str(k, default=""), "", in_key=False,
          doc="one line"),
    Field("license_files", "list of paths", lambda s, k, c: s.str_list(k), (), in_key=True,
          doc="relative to the unpacked source; copied to LICENSES/ at build time"),
    Field("source", "mapping (see Sources)",
          lambda s, k, c: read_source(s, c.earlier["version_from"]), None, in_key=False,
          keyed_by="by identity: checksum, locked commit or directory digest, not the URL",
          doc="where the source comes from; none for software with nothing to fetch"),
    Field("dependencies", "list of names or `{name, when, unless}`",
          lambda s, k, c: read_dependencies(s, k), (), in_key=False,
          keyed_by="through the keys of the active ones, in any order",
          doc="software built before it, whose files its build sees (see Dependencies)"),
    Field("patches", "list of file names", lambda s, k, c: s.str_list(k), (), in_key=True,
          keyed_by="and each file's bytes", per_family="replaced",
          doc="`software/patches/<name>/<file>`, applied with `patch -p1`"),
    Field("templates", "list of paths", lambda s, k, c: s.str_list(k), (), in_key=True,
          keyed_by="and each file's bytes",
          doc="`templates/<path>`, rendered into `<src>/.omnibus-templates/`"),
    Field("env", "mapping of strings", lambda s, k, c: frozen_map(s.str_map(k)), frozen_map(),
          in_key=True, per_family="merged",
          doc="added to the build environment (may use `{{ prefix }}` etc.)"),
    Field("build", "list of shell steps", lambda s, k, c: read_steps(s, k), (), in_key=True,
          per_family="replaced",
          doc="run in order in the unpacked source, in the builder container"),
    Field("platforms", "mapping of family to fields", _read_overrides, frozen_map(),
          in_key=False, keyed_by="applied before keying: a family's values count",
          doc="per-family values of the fields the per family column names"),
    Field("package_excludes", "list of paths", lambda s, k, c: s.str_list(k), (),
          in_key=False, per_family="replaced",
          doc="paths under the install dir left out of packages"),
    Field("health_check", "`{allow_files, allow_libs}`", lambda s, k, c: read_health_check(s),
          HealthCheckRules(), in_key=False,
          doc="regexes of system libraries it may link; files the health check lets pass"),
    Field("network", "boolean", lambda s, k, c: s.bool(k), False, in_key=False,
          keyed_by="only when true",
          doc="the build may reach the network (see Network during builds)"),
    Field("platform_independent", "boolean", lambda s, k, c: s.bool(k), False, in_key=False,
          keyed_by="when true, the key leaves out platform and arch",
          doc="the artifact holds no compiled code (see Platform-independent software)"),
    Field("toolchains", "list of toolchain names", lambda s, k, c: s.str_list(k), (),
          in_key=False, keyed_by="by each toolchain's digest (its file), only when named",
          doc="`platforms/toolchains/<name>.yml` (Go, Node.js, yarn), mounted read-only "
          "into the build and never packaged (see Toolchains)"),
    Field("vendored", "`{yarn_lock, go_modules, go_modules_txt}`",
          lambda s, k, c: read_vendored(s), None, in_key=False,
          keyed_by="by each file's bytes (they pin every package by checksum)",
          doc="dependencies fetched like sources and placed into the source tree, so the "
          "build needs no network (see Vendored dependencies)"),
    Field("selectable_versions", "`{env, versions, aliases}`",
          lambda s, k, c: read_selectable(s, c.earlier["version"], c.earlier["source"]), None,
          in_key=False, keyed_by="through the version and source it selects",
          doc="other pinned versions an environment variable may select at load time "
          "(see Versions chosen by the environment)"),
    Field("upstream_differences", "mapping of `version`, `source`, `dependencies` to a reason",
          lambda s, k, c: read_upstream_differences(s), frozen_map(), in_key=False,
          doc="why this definition differs from omnibus-gitlab's (see Differences from "
          "omnibus-gitlab)"),
)

SOFTWARE_KEYS = frozenset(spec.key for spec in SOFTWARE_FIELDS if spec.key)
FAMILY_FIELDS = tuple(spec for spec in SOFTWARE_FIELDS if spec.per_family)
FAMILY_KEYS = frozenset(spec.name for spec in FAMILY_FIELDS)
BUILD_FIELDS = tuple(spec.name for spec in SOFTWARE_FIELDS if spec.in_key)
#: The fields a software file spells out: one row each in the reference.
DOCUMENTED = tuple(spec for spec in SOFTWARE_FIELDS if spec.key == spec.name)


def parse_software(
    file: Path, data: Any, licenses: LicenseChecker, families: tuple[str, ...]
) -> Software:
    section = Section(file, data)
    section.allow(SOFTWARE_KEYS)
    values: dict[str, Any] = {}
    context = Context(file, licenses, families, values)
    for spec in SOFTWARE_FIELDS:
        values[spec.name] = spec.read(section, spec.key or spec.name, context)
    software = Software(**values)
    if software.platform_independent:
        check_platform_independent(section, software)
    return software


def _default_text(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if isinstance(value, Described):
        return value.text
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Mapping) or dataclasses.is_dataclass(value):
        return "`{}`"
    return "`[]`" if isinstance(value, tuple) else f"`{value!r}`".replace("'", '"')


def _key_text(spec: Field) -> str:
    if spec.in_key:
        return f"yes, {spec.keyed_by}" if spec.keyed_by else "yes"
    return spec.keyed_by or "no"


def reference_table() -> str:
    """The markdown reference of docs/software-format.md, one row per documented field."""
    rows = ["| field | type | default | in cache key | per family | description |",
            "|---|---|---|---|---|---|"]
    rows += [f"| `{spec.name}` | {spec.type} | {_default_text(spec.default)} | "
             f"{_key_text(spec)} | {spec.per_family or 'no'} | {spec.doc} |"
             for spec in DOCUMENTED]
    return "\n".join(rows) + "\n"


BEGIN = "<!-- fields: generated by `python -m builder.definitions.fields` -->\n"
END = "<!-- end of fields -->\n"


def with_reference(text: str) -> str:
    """`text` (the format document) with the generated table between its markers replaced."""
    head, _, rest = text.partition(BEGIN)
    _, found, tail = rest.partition(END)
    if not found:
        raise ValueError("the document has no generated fields table (its markers are missing)")
    return head + BEGIN + reference_table() + END + tail


if __name__ == "__main__":
    document = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/software-format.md")
    document.write_text(with_reference(document.read_text()))
