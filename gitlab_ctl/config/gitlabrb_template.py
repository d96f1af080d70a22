"""Writes the gitlab.rb template the package ships (/opt/gitlab/etc/gitlab.rb.template, the
first /etc/gitlab/gitlab.rb) from the schema: every applied setting with its default and doc
line, nothing else, laid out by gitlabrb_template.yml. A unit test holds the committed file
equal to this output, so the template documents exactly what reconfigure applies.

Usage: python3 -m gitlab_ctl.config.gitlabrb_template [--write]"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.config.schema import TOP_LEVEL, Schema, Setting, load_schema

LAYOUT_YAML = Path(__file__).with_name("gitlabrb_template.yml")
TEMPLATE = (Path(__file__).resolve().parents[2] / "templates" / "software"
            / "gitlab-config-template" / "gitlab.rb.template.j2")
BANNER = "#" * 80
OTHER = "Other settings"


def ruby(value: Any, kind: str = "") -> str:
    """`value` as gitlab.rb writes it (the parser reads it back to the same value)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"0{value:o}" if kind == "mode" and value else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(ruby(item) for item in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{ruby(str(k))} => {ruby(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no gitlab.rb form for {value!r}")


def _assignment(setting: Setting, value_text: str) -> list[str]:
    if setting.section == TOP_LEVEL:
        first = f"{setting.key} {value_text}"
    else:
        first = f"{setting.section}['{setting.key}'] = {value_text}"
    return first.splitlines()


def setting_lines(setting: Setting, examples: Mapping[str, str], shown_set: set[str]) -> list[str]:
    """The doc line and the (commented-out) assignment of one setting."""
    name = f"{setting.section}.{setting.key}"
    text = examples.get(name) or ruby(setting.default, setting.type)
    lines = _assignment(setting, text)
    prefix = "" if name in shown_set else "# "
    return [f"##! {setting.doc}", *(f"{prefix}{line}".rstrip() for line in lines)]


def _groups(keys: list[str], groups: list[list[str]]) -> Iterator[tuple[str, list[str]]]:
    """(heading, keys) in the layout's order, then the keys no group claims."""
    claimed: dict[str, list[str]] = {heading: [] for heading, _regex in groups}
    claimed[OTHER] = []
    for key in keys:
        heading = next((h for h, regex in groups if re.search(regex, key)), OTHER)
        claimed[heading].append(key)
    yield from ((h, found) for h, found in claimed.items() if found)


def section_lines(schema: Schema, section: str, spec: Mapping[str, Any],
                  layout: Mapping[str, Any]) -> list[str]:
    keys = [key for key in schema.keys(section)
            if (s := schema.get(section, key)) and s.used and not s.inferred]
    if not keys:
        return []
    lines = ["", BANNER, f"## {spec.get('title') or section}", BANNER]
    lines += [f"##! {line}" for line in spec.get("intro") or []]
    examples, shown_set = layout.get("examples") or {}, set(layout.get("set") or [])
    groups = list(_groups(keys, spec.get("groups") or []))
    for heading, found in groups:
        if len(groups) > 1:
            lines += ["", f"### {heading}"]
        else:
            lines.append("")
        for key in found:
            setting = schema.get(section, key)
            assert setting is not None
            lines += setting_lines(setting, examples, shown_set)
    return lines


def render(schema: Schema, layout: Mapping[str, Any]) -> str:
    """The template's text, wrapped for the package build's jinja2 (rendered verbatim)."""
    sections: dict[str, Any] = dict(layout.get("sections") or {})
    order = list(sections) + sorted(schema.sections() - set(sections))
    lines = layout["preamble"].rstrip("\n").splitlines()
    for section in order:
        lines += section_lines(schema, section, sections.get(section) or {}, layout)
    return "{% raw -%}\n" + "\n".join(lines) + "\n{%- endraw %}\n"


def read_layout() -> dict[str, Any]:
    import yaml  # a development tool: the package never runs it

    return yaml.safe_load(LAYOUT_YAML.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true",
                        help=f"write {TEMPLATE.name} (default: print it)")
    args = parser.parse_args(argv)
    text = render(load_schema(), read_layout())
    if args.write:
        TEMPLATE.write_text(text)
        print(f"wrote {TEMPLATE}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
