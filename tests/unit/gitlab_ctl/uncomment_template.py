"""Every commented-out setting of omnibus-gitlab's gitlab.rb template, uncommented: the lines
`# name['key'] = value` and `# name value` (a call such as external_url) whose name is a
gitlab.rb setting, with the commented lines after them that the value needs (until its
brackets close, or its heredoc's terminator). Prose that only looks like a setting is kept
out when its value never closes. Run as a script: `python tests/unit/gitlab_ctl/
uncomment_template.py TEMPLATE > gitlab.rb`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gitlab_ctl.config.setting_names import KNOWN_SETTINGS

_START = re.compile(r"^#\s?([a-z_]+)(\[|\s|\()")
_HEREDOC = re.compile(r"<<[-~]?(['\"]?)([A-Za-z_]\w*)\1\s*$")
_STRING = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
#: How far a value may run on: the template's longest is ~40 lines.
MAX_VALUE_LINES = 80
#: Settings the template shows with a placeholder that is not Ruby (`<secret>`, a bare URL or
#: path, `on`, `example`, `HOSTNAME`): omnibus-gitlab's Chef refuses them as this parser does.
PLACEHOLDERS = frozenset({
    "gitlab_rails['ci_id_tokens_issuer_url']", "postgresql['synchronous_commit']",
    "postgresql['custom_pg_hba_entries']", "gitaly['gitlab_secret']",
    "gitlab_rails['kerberos_keytab']", "gitlab_rails['kerberos_service_principal_name']",
    "sentinel['use_hostnames']", "pgbouncer['databases']", "pgbouncer['users']",
})


def _uncommented(line: str) -> str:
    return line[2:] if line.startswith("# ") else line[1:]


def _balance(code: str) -> int:
    """Open brackets minus closed ones, outside strings and comments."""
    code = _STRING.sub("''", code).split(" #", 1)[0]
    return sum(code.count(c) for c in "[{(") - sum(code.count(c) for c in "]})")


def _statement(lines: list[str], start: int) -> int | None:
    """The index after the statement starting at lines[start], None if it never ends."""
    text = _uncommented(lines[start])
    heredoc = _HEREDOC.search(text)
    depth = _balance(text)
    index = start + 1
    while (depth > 0 or heredoc) and index < len(lines) and index - start < MAX_VALUE_LINES:
        if not lines[index].startswith("#"):
            return None
        text = _uncommented(lines[index])
        index += 1
        if heredoc:
            if text.strip() == heredoc.group(2):
                heredoc = None
            continue
        depth += _balance(text)
    return index if depth == 0 and not heredoc else None


def uncomment(template: str) -> list[tuple[int, str]]:
    """(line in the template, statement) for each commented-out setting."""
    lines, found, index = template.splitlines(), [], 0
    while index < len(lines):
        match = _START.match(lines[index])
        end = _statement(lines, index) if match and match.group(1) in KNOWN_SETTINGS else None
        if end is None:
            index += 1
            continue
        found.append((index + 1, "\n".join(_uncommented(line) for line in lines[index:end])))
        index = end
    return found


def is_placeholder(statement: str) -> bool:
    return statement.split(" = ", 1)[0] in PLACEHOLDERS


def main(argv: list[str]) -> int:
    for line, statement in uncomment(Path(argv[1]).read_text(encoding="utf-8")):
        if is_placeholder(statement):
            continue
        print(f"# template line {line}\n{statement}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))


FACTS = {"fqdn": "gitlab.example.test", "hostname": "gitlab",
         "package": {"install-dir": "/opt/gitlab"}}
_KEY = re.compile(r"^([a-z_]+)\['([A-Za-z0-9_]+)'\]")


def template_settings(template: str) -> tuple[dict, dict[tuple[str, str], int]]:
    """The template's settings, every one uncommented and parsed as one file (placeholders
    left out), and each distinct (section, key) -> its line in the template ('top_level'
    for a call such as external_url; a placeholder's key counts, with its line)."""
    from gitlab_ctl.config.gitlabrb import parse_gitlab_rb_lines

    statements = uncomment(template)
    keys: dict[tuple[str, str], int] = {}
    for line, statement in statements:
        match = _KEY.match(statement)
        name = match.groups() if match else ("top_level", re.split(r"[\s(\[]", statement)[0])
        keys.setdefault((name[0], name[1]), line)
    kept = [text for _, text in statements if not is_placeholder(text)]
    settings, _lines = parse_gitlab_rb_lines("\n".join(kept) + "\n", FACTS)
    return settings, keys
