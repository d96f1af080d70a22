"""Finding a cycle in a directed graph given as edges: used on software dependencies (the
loader and the resolver) and on builder's own imports (tests/unit/test_layers.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one cycle as [a, b, ..., a], or None. Deterministic: nodes are visited sorted."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(edges):
        if state.get(start):
            continue
        path = [start]
        pending = [iter(sorted(edges.get(start, ())))]
        state[start] = 1
        while pending:
            child = next(pending[-1], None)
            if child is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child):], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                pending.append(iter(sorted(edges.get(child, ()))))
    return None
