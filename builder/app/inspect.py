"""The quick use cases, which read definitions and caches and change nothing: a target's
graph and its build plan."""

from __future__ import annotations

from builder.app.workspace import Target, Workspace, resolve_target
from builder.compile.cache import ArtifactCache
from builder.compile.plan import PlanEntry, make_plan
from builder.definitions.model import Catalog
from builder.resolve.graph import Graph
from builder.resolve.keys import compute_keys


def plan(workspace: Workspace, target: Target,
         catalog: Catalog | None = None) -> tuple[Graph, list[PlanEntry]]:
    """For each software of the target: its key, whether an artifact is cached, and why not."""
    catalog = catalog or workspace.catalog()
    graph = resolve_target(catalog, target)
    keys = compute_keys(graph, catalog.root, workspace.locks())
    return graph, list(make_plan(graph, keys, ArtifactCache(workspace.cache_dir),
                                 workspace.remote))
