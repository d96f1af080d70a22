"""What becomes of every key of omnibus-gitlab's gitlab.rb template here: the template with
every setting uncommented (tests/unit/gitlab_ctl/uncomment_template.py), parsed, and each
distinct key's status counted per section and in total: applied, not applicable (by reason),
refused (an error) and silent (accepted with neither effect nor warning: must be 0).

Usage: python3 bench/gitlabrb_coverage.py [TEMPLATE]
(default: tests/data/omnibus-gitlab-gitlab.rb.template)"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gitlab_ctl.config.statuses import (  # noqa: E402
    APPLIED,
    NOT_APPLICABLE,
    REFUSED,
    SILENT,
    Status,
    statuses,
)
from tests.unit.gitlab_ctl.uncomment_template import template_settings  # noqa: E402

TEMPLATE = REPO / "tests" / "data" / "omnibus-gitlab-gitlab.rb.template"
KINDS = (APPLIED, NOT_APPLICABLE, REFUSED, SILENT)


def coverage(path: Path) -> tuple[dict[tuple[str, str], Status], set[tuple[str, str]]]:
    """Each key's status, and the template's keys that got none."""
    settings, keys = template_settings(path.read_text(encoding="utf-8"))
    lines = {(section, key) if section != "top_level" else (key,): f"{path.name}:{line}"
             for (section, key), line in keys.items()}
    found = {(status.section, status.key): status
             for status in statuses(settings, lines, path.name)}
    placeholders = {name for name in keys if name not in found}  # left out: not Ruby
    for section, key in placeholders:
        found[(section, key)] = Status(section, key, lines.get((section, key), ""),
                                       *_placeholder(section, key))
    return found, set(keys) - set(found)


def _placeholder(section: str, key: str) -> tuple[str, str]:
    from gitlab_ctl.config.schema import load_schema

    setting = load_schema().get(section, key)
    if setting is None:
        return REFUSED, "not declared"
    return (APPLIED, "") if setting.used else (NOT_APPLICABLE, setting.reason)


def report(found: dict[tuple[str, str], Status]) -> list[str]:
    out = ["| section | applied | not applicable | refused | silent |", "|---|---|---|---|---|"]
    by_section: dict[str, Counter] = {}
    for (section, _key), status in sorted(found.items()):
        by_section.setdefault(section, Counter())[status.kind] += 1
    total: Counter = Counter()
    for section, counts in by_section.items():
        total.update(counts)
        out.append(f"| {section} | " + " | ".join(str(counts[k]) for k in KINDS) + " |")
    out.append("| **total** | " + " | ".join(f"**{total[k]}**" for k in KINDS) + " |")
    reasons = Counter(s.message for s in found.values() if s.kind == NOT_APPLICABLE)
    out += ["", "| not applicable: reason | keys |", "|---|---|"]
    out += [f"| {reason} | {count} |" for reason, count in reasons.most_common()]
    out += ["", f"{len(found)} keys: " + ", ".join(f"{k} {total[k]}" for k in KINDS)]
    return out


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else TEMPLATE
    found, missing = coverage(path)
    print("\n".join(report(found)))
    if missing:
        print(f"keys without a status: {sorted(missing)}")
    silent = sum(1 for status in found.values() if status.kind == SILENT)
    return 1 if missing or silent else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
