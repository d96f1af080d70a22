"""The gitlab.yml entries that are each one gitlab_rails setting, from the table in
gitlab_rails_yml_table.yml (its header says how an entry is read): the table is data, this
module only looks the settings up and writes the result as YAML."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("gitlab_rails_yml_table.yml")
#: Written only by a package build (gitlab_ctl.precompile): a run then reads JSON, not the
#: YAML with the package's pure-Python parser.
TABLE_JSON = TABLE.with_suffix(".json")
#: Sections gitlab.yml.j2 writes itself; the table's entries are added inside them.
MERGED_SECTIONS = ("gitlab", "dependency_proxy", "terraform_state", "ci_secure_files",
                   "registry", "omniauth", "encrypted_settings", "gitaly", "gitlab_shell", "pages")
#: Paths under shared_path omnibus-gitlab fills in when gitlab.rb leaves them unset.
SHARED_PATHS = {"external_diffs_storage_path": "external-diffs",
                "dependency_proxy_storage_path": "dependency_proxy",
                "terraform_state_storage_path": "terraform_state",
                "ci_secure_files_storage_path": "ci_secure_files",
                "agent_plan_content_storage_path": "agent_plan_content",
                "encrypted_settings_path": "encrypted_settings", "pages_path": "pages"}
_LEFT_OUT = object()


@cache
def table() -> dict[str, Any]:
    if TABLE_JSON.is_file():
        return json.loads(TABLE_JSON.read_text(encoding="utf-8"))
    return read_table_yaml()


def read_table_yaml() -> dict[str, Any]:
    import yaml  # in a package, only its build reads the YAML

    return yaml.safe_load(TABLE.read_text(encoding="utf-8"))


def sources(node: Any = None) -> Iterator[str]:
    """Every gitlab_rails key the table reads (the first part of a dotted path)."""
    node = table() if node is None else node
    if isinstance(node, dict):
        for child in node.values():
            yield from sources(child)
        return
    for part in str(node).split(" if "):
        yield part.removesuffix("[]").rstrip("?+").split(".")[0]


def derived(rails: Mapping[str, Any]) -> dict[str, Any]:
    """gitlab_rails with the paths omnibus-gitlab derives from shared_path filled in."""
    values = dict(rails)
    for key, name in SHARED_PATHS.items():
        if values.get(key) is None:
            values[key] = f"{values['shared_path']}/{name}"
    if values.get("pages_local_store_path") is None:
        values["pages_local_store_path"] = values["pages_path"]
    return values


def lookup(rails: Mapping[str, Any], path: str) -> Any:
    value: Any = rails
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def entry(rails: Mapping[str, Any], spec: str) -> Any:
    """One table entry's value, or _LEFT_OUT when omnibus-gitlab leaves it out."""
    source, _, condition = spec.partition(" if ")
    if condition and not lookup(rails, condition):
        return _LEFT_OUT
    value = lookup(rails, source.removesuffix("[]").rstrip("?+"))
    if source.endswith("[]"):
        return value or None
    if source.endswith("?") and value is None:
        return _LEFT_OUT
    if source.endswith("+") and not value:
        return _LEFT_OUT
    return value


def resolve(rails: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """A group of the table with its values; entries and groups left out are dropped."""
    values: dict[str, Any] = {}
    for key, spec in node.items():
        if isinstance(spec, dict):
            group = resolve(rails, spec)
            if group:
                values[key] = group
        elif (value := entry(rails, spec)) is not _LEFT_OUT:
            values[key] = value
    return values


def values(rails: Mapping[str, Any]) -> dict[str, Any]:
    """The table's sections (and top-level entries) with their values."""
    return resolve(derived(rails), table())


def block(values: Mapping[str, Any], indent: int) -> str:
    """Nested mappings as YAML blocks, each leaf a JSON literal (as omnibus-gitlab writes
    hashes and lists with to_json); one line per leaf, no trailing newline."""
    lines = []
    pad = " " * indent
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            lines += [f"{pad}{key}:", block(value, indent + 2)]
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines)


def sections(rails: Mapping[str, Any]) -> dict[str, str]:
    """The merged sections' entries as YAML, indented for their place in gitlab.yml.j2's
    own section (empty when none is written)."""
    resolved = values(rails)
    return {name: block(resolved.get(name, {}), 4) for name in MERGED_SECTIONS}


def own_sections(rails: Mapping[str, Any]) -> str:
    """The sections gitlab.yml.j2 does not write itself, whole, in the table's order."""
    resolved = values(rails)
    return "\n\n".join(block({name: entries}, 2) for name, entries in resolved.items()
                       if name not in MERGED_SECTIONS and entries)
