"""Text and JSON renderings of the catalog, graphs and plans. Pure functions: the CLI prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.compile.plan import PlanEntry
from builder.definitions.model import Catalog, Platform, Project, Software, plain
from builder.resolve.graph import Graph

if TYPE_CHECKING:
    from builder.compile.build import BuildOutcome
    from builder.sources.fetchers import FetchedSource


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns; the last column is not padded."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def format_list(catalog: Catalog, kinds: Sequence[str]) -> str:
    sections = []
    rows: list[tuple[Any, ...]]
    if "software" in kinds:
        rows = [(s.name, s.version, s.license) for s in sorted(catalog.software.values(),
                                                                key=lambda s: s.name)]
        sections.append(f"software ({len(rows)}):\n" + table(("NAME", "VERSION", "LICENSE"), rows))
    if "projects" in kinds:
        # The summary line only: a description's body would break the table's rows.
        rows = [(p.name, p.edition, len(p.dependencies), (p.description.splitlines() or [""])[0])
                for p in sorted(catalog.projects.values(), key=lambda p: p.name)]
        sections.append(f"projects ({len(rows)}):\n"
                        + table(("NAME", "EDITION", "DEPS", "DESCRIPTION"), rows))
    if "platforms" in kinds:
        rows = [(p.id, p.family, p.package_format, ",".join(p.arches), ",".join(p.editions))
                for p in sorted(catalog.platforms.values(), key=lambda p: p.id)]
        sections.append(f"platforms ({len(rows)}):\n"
                        + table(("ID", "FAMILY", "FORMAT", "ARCHES", "EDITIONS"), rows))
    return "\n\n".join(sections)


def _value_lines(document: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in document.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            lines.append(f"{key}:")
            lines += [f"  - {v}" for v in value]
        elif isinstance(value, dict | list):
            lines.append(f"{key}: {_compact(value)}")
        else:
            lines.append(f"{key}: {value}")
    return lines


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def describe(item: Software | Project | Platform) -> str:
    kind = {Software: "software", Project: "project", Platform: "platform"}[type(item)]
    document = plain(item)
    if isinstance(item, Software | Project):
        document["dependencies"] = [
            d.name + (f" ({d.condition.describe()})" if d.condition.describe() else "")
            for d in item.dependencies
        ]
    header = f"{kind} {getattr(item, 'name', None) or getattr(item, 'id', '')}  ({item.file})"
    return "\n".join([header, *(f"  {line}" for line in _value_lines(document))])


def format_tree(graph: Graph) -> str:
    lines = [f"{graph.project.name} ({graph.platform.id}/{graph.arch}, {graph.project.edition})"]
    shown: set[str] = set()
    repeated = False

    def walk(names: Sequence[str], indent: str) -> None:
        nonlocal repeated
        for index, name in enumerate(names):
            last = index == len(names) - 1
            children = graph.edges[name]
            again = name in shown and bool(children)
            repeated |= again
            label = f"{name} {graph.software[name].version}" + (" (*)" if again else "")
            lines.append(f"{indent}{'└── ' if last else '├── '}{label}")
            if not again:
                shown.add(name)
                walk(children, indent + ("    " if last else "│   "))

    walk(graph.roots, "")
    if repeated:
        lines.append("(*) dependencies shown above")
    return "\n".join(lines)


def format_dot(graph: Graph) -> str:
    lines = [f'digraph "{graph.project.name}" {{', "  rankdir=LR;"]
    lines += [f'  "{graph.project.name}" [shape=box];']
    lines += [f'  "{graph.project.name}" -> "{root}";' for root in graph.roots]
    for name in graph.order:
        lines.append(f'  "{name}" [label="{name}\\n{graph.software[name].version}"];')
        lines += [f'  "{name}" -> "{child}";' for child in graph.edges[name]]
    lines.append("}")
    return "\n".join(lines)


def format_plan(graph: Graph, entries: Sequence[PlanEntry]) -> str:
    to_build = sum(not e.cached for e in entries)
    header = (f"plan for {graph.project.name} on {graph.platform.id}/{graph.arch} "
              f"({graph.project.edition}): {len(entries)} software, {to_build} to build, "
              f"{len(entries) - to_build} cached, {len(graph.levels)} levels")
    rows = [(e.level, e.name, e.version, e.key[:12], "cached" if e.cached else "build", e.reason)
            for e in entries]
    return header + "\n" + table(("LEVEL", "SOFTWARE", "VERSION", "KEY", "STATUS", "WHY"), rows)


def plan_document(graph: Graph, entries: Sequence[PlanEntry]) -> dict[str, Any]:
    return {
        "project": graph.project.name,
        "edition": graph.project.edition,
        "platform": graph.platform.id,
        "arch": graph.arch,
        "levels": [list(level) for level in graph.levels],
        "software": [
            {**plain(entry), "status": "cached" if entry.cached else "build",
             "dependencies": list(graph.edges[entry.name])}
            for entry in entries
        ],
    }


def format_fetch(results: Mapping[str, FetchedSource], seconds: float) -> str:
    fetched = sum(r.origin != "cache" for r in results.values())
    rows = [(r.name, r.kind, r.locked_version[:16], r.origin)
            for r in sorted(results.values(), key=lambda r: r.name)]
    return (table(("SOFTWARE", "KIND", "LOCKED", "FROM"), rows)
            + f"\n{len(results)} sources ready ({fetched} fetched, "
            f"{len(results) - fetched} from the cache) in {seconds:.1f} s")


def format_failure(outcome: BuildOutcome) -> str:
    lines = [f"--- {outcome.name} failed: {outcome.detail}", f"    log: {outcome.log}"]
    if outcome.tail:
        lines.append(f"    last {len(outcome.tail)} lines:")
        lines += [f"    | {line}" for line in outcome.tail]
    return "\n".join(lines)


def format_build(outcomes: Sequence[BuildOutcome], seconds: float) -> str:
    rows = [(o.name, o.status, f"{o.seconds:.1f}" if o.status == "built" else "-",
             o.detail if o.status != "failed" else "see above") for o in outcomes]
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("built", "cached", "failed", "skipped")}
    tally = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return (table(("SOFTWARE", "RESULT", "SECONDS", "NOTE"), rows)
            + f"\n{len(outcomes)} software: {tally}; {seconds:.1f} s in all")


def format_packages(packages: Sequence[Path], seconds: float) -> str:
    rows = [(p.name, f"{p.stat().st_size / 1e6:.1f} MB",
             p.with_name(p.name + ".sha256").read_text().split()[0][:16]) for p in packages]
    where = packages[0].parent if packages else "-"
    return (table(("PACKAGE", "SIZE", "SHA256"), rows)
            + f"\n{len(packages)} package(s) in {where} (with .sha256, .size, .metadata.json);"
            f" {seconds:.1f} s")
