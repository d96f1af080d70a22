"""Benchmark: how many software a change to each one rebuilds, ours versus a linear cache.

Usage: .venv/bin/python bench/incremental.py [PROJECT ...] [--platform P] [--arch A]

omnibus-gitlab's git cache keys every component on all components before it in one linear
build order (chef/omnibus `Library#build_order`: depth-first, dependencies before
dependents, in declaration order), so changing the component at position i rebuilds
everything from i to the end. Here a change rebuilds the software and its transitive
dependents only. Both counts are computed from the same graph; no build runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.definitions.loader import load_catalog
from builder.definitions.model import Catalog
from builder.resolve.graph import Graph, resolve


def linear_order(catalog: Catalog, graph: Graph) -> list[str]:
    """chef/omnibus's order: depth-first post-order over declared dependency lists."""
    facts = graph.platform.facts(graph.arch, graph.project.edition)
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in catalog.software[name].dependencies:
            if dependency.condition.holds(facts):
                visit(dependency.name)
        order.append(name)

    for dependency in graph.project.dependencies:
        if dependency.condition.holds(facts):
            visit(dependency.name)
    return order


def rows(catalog: Catalog, graph: Graph) -> list[tuple[str, int, int]]:
    order = linear_order(catalog, graph)
    return [(name, 1 + len(graph.dependents(name)), len(order) - index)
            for index, name in enumerate(order)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", default=["gitlab-local"])
    parser.add_argument("--platform", default="debian-12")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    catalog = load_catalog(args.root)
    for project in args.projects:
        graph = resolve(catalog, catalog.projects[project], catalog.platforms[args.platform],
                        args.arch)
        table = rows(catalog, graph)
        print(f"\n{project} on {args.platform}/{args.arch}: {len(table)} software, in the "
              "linear build order\n")
        print("| software | rebuilt here | rebuilt by a linear cache |\n|---|---|---|")
        for name, ours, linear in table:
            print(f"| {name} | {ours} | {linear} |")
        mean_ours = statistics.mean(r[1] for r in table)
        mean_linear = statistics.mean(r[2] for r in table)
        print(f"\nmean rebuilt per change: {mean_ours:.2f} here, {mean_linear:.2f} linear; "
              f"ratio {mean_linear / mean_ours:.2f}x fewer builds here")


if __name__ == "__main__":
    main()
