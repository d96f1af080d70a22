"""The build plan: for each software, its key, whether its artifact is cached, and why not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.compile.cache import ArtifactCache
from builder.compile.remote import RemoteCache
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord

#: Key inputs besides version and definition, with how a change to each is reported.
_OTHER_CHANGES = (
    ("source", "source changed"),
    ("patches", "patches changed"),
    ("templates", "templates changed"),
    ("platform", "platform facts changed"),
    ("builder", "builder image recipe changed"),
    ("install_dir", "install dir changed"),
    ("format", "the engine's key format changed"),
)


@dataclass(frozen=True)
class PlanEntry:
    name: str
    version: str
    level: int
    key: str
    cached: bool
    reason: str


def _dependency_changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    reasons = [f"new dependency {n}" for n in sorted(after.keys() - before.keys())]
    reasons += [f"dropped dependency {n}" for n in sorted(before.keys() - after.keys())]
    changed = sorted(n for n in after.keys() & before.keys() if after[n] != before[n])
    if changed:
        reasons.append(f"dependency changed: {', '.join(changed)}")
    return reasons


def explain(previous: Mapping[str, Any] | None, current: Mapping[str, Any], where: str) -> str:
    """Why a software whose artifact is not cached must build, compared with its last build."""
    if previous is None:
        return f"never built for {where}"
    reasons = []
    if previous.get("version") != current["version"]:
        reasons.append(f"version {previous.get('version')} -> {current['version']}")
    elif previous.get("definition") != current["definition"]:
        reasons.append("definition changed")
    reasons += [text for field, text in _OTHER_CHANGES if previous.get(field) != current[field]]
    reasons += _dependency_changes(previous.get("dependencies") or {}, current["dependencies"])
    return "; ".join(reasons) if reasons else "artifact missing from the cache"


def make_plan(
    graph: Graph, keys: Mapping[str, KeyRecord], cache: ArtifactCache,
    remote: RemoteCache | None = None,
) -> tuple[PlanEntry, ...]:
    where = f"{graph.platform.id}/{graph.arch}"
    entries = []
    for level, names in enumerate(graph.levels):
        for name in names:
            record = keys[name]
            cached = cache.has(record.key)
            reason = "cached" if cached else explain(
                cache.last_inputs(graph.platform.id, graph.arch, name), record.inputs, where
            )
            if not cached and remote is not None and remote.has(record.key):
                cached, reason = True, "cached (remote)"
            entries.append(PlanEntry(
                name, graph.software[name].version, level, record.key, cached, reason
            ))
    return tuple(entries)
