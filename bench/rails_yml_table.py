"""Checks services/gitlab_rails_yml_table.yml against omnibus-gitlab's gitlab.yml.erb: every
table entry must sit at the same gitlab.yml path as the `<%= @key %>` it names there, and
every gitlab.yml.erb entry that reads a gitlab_rails key of omnibus-gitlab's template is
listed as in the table, written by hand (services/gitlab_rails_yml.py, gitlab.yml.j2) or
unknown here.

Usage: python3 bench/rails_yml_table.py [GITLAB_YML_ERB]
(default: the omnibus-gitlab snapshot's files/gitlab-cookbooks/gitlab/templates/default/)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gitlab_ctl.services import gitlab_rails_yml_table  # noqa: E402

MIRROR = Path("/work/.mirror/gitlabhq+omnibus-gitlab/repo")
ERB = "files/gitlab-cookbooks/gitlab/templates/default/gitlab.yml.erb"
#: `  key: <%= ... @name ... %>` (the first instance variable the line reads)
ENTRY = re.compile(r"^(?P<indent> *)(?P<key>[a-z0-9_]+):\s*(?P<rest>.*)$")
VARIABLE = re.compile(r"@([a-z0-9_]+)")
#: Variables the gitlab-rails recipe passes under another name than the gitlab.rb key.
RENAMED = {"gitaly_max_attempts": "gitaly_client_max_attempts",
           "gitaly_max_backoff": "gitaly_client_max_backoff"}
#: Entries gitlab.yml.erb writes as a block list (the variable is on the lines below).
LISTS = {"gitlab.action_cable_allowed_origins": "action_cable_allowed_origins"}


def erb_text(argv: list[str]) -> str:
    if argv:
        return Path(argv[0]).read_text(encoding="utf-8")
    return subprocess.run(["git", "-C", str(MIRROR), "show", f"HEAD:{ERB}"], check=True,
                          capture_output=True, text=True).stdout


def erb_entries(text: str) -> dict[str, str]:
    """gitlab.yml path under production: the variable its value reads."""
    entries: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        if line.startswith(("development:", "test:")):
            break
        match = ENTRY.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([name for _, name in stack[1:]] + [match["key"]])
        stack.append((indent, match["key"]))
        if variable := VARIABLE.search(match["rest"]):
            entries[path] = RENAMED.get(variable.group(1), variable.group(1))
    return {**entries, **LISTS}


def table_entries(node: object = None, prefix: str = "") -> dict[str, str]:
    node = gitlab_rails_yml_table.table() if node is None else node
    found: dict[str, str] = {}
    for key, spec in node.items():  # type: ignore[attr-defined]
        if isinstance(spec, dict):
            found.update(table_entries(spec, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = (spec.split(" if ")[0].removesuffix("[]").rstrip("?+")
                                       .split(".")[0])
    return found


def main(argv: list[str]) -> int:
    erb, table = erb_entries(erb_text(argv)), table_entries()
    wrong = {path: (key, erb.get(path)) for path, key in table.items()
             if path.split(".")[0] not in ("cell", "openbao") and erb.get(path) != key}
    for path, (key, upstream) in sorted(wrong.items()):
        print(f"MISMATCH {path}: table reads {key}, gitlab.yml.erb reads {upstream}")
    missing = sorted(path for path in erb if path not in table)
    print(f"{len(table)} table entries, {len(wrong)} mismatched; "
          f"{len(missing)} gitlab.yml.erb entries written by hand or not here:")
    print("  " + ", ".join(missing))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
