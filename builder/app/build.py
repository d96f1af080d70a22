"""Fetching and building a target: the use cases behind `omnibus fetch` and `omnibus build`.

Kept apart from the quick verbs (list, show, graph, plan), which never import the fetching
and building machinery.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from builder.app.workspace import Target, Workspace, resolve_target
from builder.compile.build import BuildOutcome, BuildSettings
from builder.compile.builder_images import ensure_image
from builder.compile.prefix import release_stale
from builder.compile.runners import remove_stale_containers
from builder.compile.scheduler import UNFETCHED, build_graph, forced_set
from builder.console import ProgressPrinter
from builder.definitions.model import Catalog
from builder.errors import BuilderError, UsageError
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord, compute_keys
from builder.sources.fetch import FetchFailed, fetch_sources
from builder.sources.fetchers import FetchContext, FetchedSource
from builder.sources.mirrors import mirror_chain
from builder.sources.toolchains import ensure_toolchains


@dataclass(frozen=True)
class FetchOptions:
    """Where sources may come from: --mirror specs, a --mirrors file, or nowhere
    (offline: the download cache only); `refresh` asks the mirrors again for git refs."""

    mirrors: tuple[str, ...] = ()
    mirrors_file: Path | None = None
    offline: bool = False
    refresh: bool = False
    jobs: int = 4
    locks_only: bool = False


@dataclass(frozen=True)
class FetchResult:
    graph: Graph
    sources: dict[str, FetchedSource]
    seconds: float
    #: toolchain name -> its unpacked directory
    toolchain_dirs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildOptions:
    jobs: int
    runner: str = "docker"  # or "host"
    force: tuple[str, ...] = ()  # software built again although cached
    only: tuple[str, ...] = ()  # build these and their dependencies, nothing else
    fetch: FetchOptions = field(default_factory=FetchOptions)


@dataclass(frozen=True)
class BuildResult:
    graph: Graph
    keys: dict[str, KeyRecord]
    outcomes: tuple[BuildOutcome, ...]
    seconds: float

    @property
    def failed(self) -> list[BuildOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]


class BuildFailed(BuilderError):
    """Some software failed to build; `result` holds every outcome, with the logs."""

    def __init__(self, result: BuildResult) -> None:
        unfetched = [o.name for o in result.failed if o.detail.startswith(UNFETCHED)]
        broken = [o.name for o in result.failed if o.name not in unfetched]
        parts = []
        if unfetched:
            parts.append(f"{len(unfetched)} for want of a source that could not be fetched "
                         f"({', '.join(unfetched)})")
        if broken:
            parts.append(f"{len(broken)} failed to build ({', '.join(broken)})")
        skipped = sum(o.status == "skipped" for o in result.outcomes)
        message = (f"{len(result.failed)} of {len(result.outcomes)} software failed: "
                   + "; ".join(parts) + (f"; {skipped} skipped as they depend on them"
                                         if skipped else ""))
        hint = ("see the log tails above; fix and re-run: what was built is cached and will "
                "not build again")
        if unfetched and not broken:
            hint = ("everything that needs none of those sources is built and cached; fetch "
                    "them where their hosts answer (omnibus fetch, or --mirror), then re-run")
        super().__init__(message, hint=hint)
        self.result = result


def fetch_graph(workspace: Workspace, graph: Graph, options: FetchOptions,
                progress: ProgressPrinter) -> FetchResult:
    started = time.monotonic()
    context = FetchContext(
        root=workspace.root, cache_dir=workspace.cache_dir,
        mirrors=mirror_chain(list(options.mirrors) or None, options.mirrors_file),
        offline=options.offline, refresh=options.refresh, locks=workspace.locks(),
        report=progress,
    )
    chain = ", ".join(m.describe() for m in context.mirrors) or "none (cache only)"
    progress.line(f"fetching sources of {graph.project.name} for {graph.platform.id}/"
                  f"{graph.arch} ({'offline' if options.offline else 'mirrors: ' + chain})")
    # Toolchains first: a source that cannot be fetched should not hide a toolchain that can.
    toolchain_dirs = {} if options.locks_only else ensure_toolchains(
        workspace.cache_dir.resolve(), graph.toolchains, graph.arch, options.offline,
        progress.line)
    sources = fetch_sources(graph, context, options.jobs, workspace.locks_path,
                            locks_only=options.locks_only)
    return FetchResult(graph, sources, time.monotonic() - started, toolchain_dirs)


def fetch(workspace: Workspace, target: Target, options: FetchOptions,
          progress: ProgressPrinter, catalog: Catalog | None = None) -> FetchResult:
    """Every source of the target, verified, in the download and git caches."""
    graph = resolve_target(catalog or workspace.catalog(), target)
    return fetch_graph(workspace, graph, options, progress)


def check_path_sources(fetched: Mapping[str, FetchedSource],
                       keys: Mapping[str, KeyRecord]) -> None:
    """A path source edited between its snapshot and the keys would be built under a key
    that does not describe it; refuse instead of caching that."""
    for name, source in fetched.items():
        if source.kind == "path" and \
                keys[name].inputs.get("source") != f"path:{source.locked_version}":
            raise BuilderError(f"{name}: its source files changed while the build started",
                               hint="run the build again once the edits are done")


def _fetch_what_can_be(workspace: Workspace, graph: Graph, options: FetchOptions,
                       progress: ProgressPrinter) -> tuple[FetchResult, dict[str, str]]:
    """Fetch; sources that cannot be fetched are returned (name -> why) instead of ending
    the build, so everything that needs none of them still builds (and is cached)."""
    try:
        return fetch_graph(workspace, graph, options, progress), {}
    except FetchFailed as failed:
        dirs = ensure_toolchains(workspace.cache_dir.resolve(), graph.toolchains, graph.arch,
                                 offline=True)
        progress.line(f"{len(failed.failures)} sources could not be fetched; building what "
                      "needs none of them")
        result = FetchResult(graph, failed.fetched, 0.0, dirs)
        return result, {name: error.message for name, error in failed.failures.items()}


def _check_named(graph: Graph, names: Sequence[str], option: str) -> None:
    unknown = set(names) - set(graph.software)
    if unknown:
        raise UsageError(f"{option} names software not in this build: "
                         f"{', '.join(sorted(unknown))}",
                         hint=f"software in this build: {', '.join(graph.order)}")


def build(workspace: Workspace, target: Target, options: BuildOptions,
          progress: ProgressPrinter, catalog: Catalog | None = None) -> BuildResult:
    """Fetch, then build every software of the target that its cache lacks; raises
    BuildFailed (with every outcome) when one fails."""
    catalog = catalog or workspace.catalog()
    graph = resolve_target(catalog, target)
    if options.only:
        _check_named(graph, options.only, "--only")
        graph = graph.only(options.only)
    started = time.monotonic()
    fetch_result, unfetched = _fetch_what_can_be(workspace, graph, options.fetch, progress)
    fetched = fetch_result.sources
    keys = compute_keys(graph, catalog.root, workspace.locks())
    check_path_sources(fetched, keys)
    _check_named(graph, options.force, "--force")
    settings = BuildSettings(root=catalog.root, cache_dir=workspace.cache_dir.resolve(),
                             jobs=options.jobs, runner=options.runner,
                             force=forced_set(graph, frozenset(options.force)),
                             remote=workspace.remote, toolchain_dirs=fetch_result.toolchain_dirs)
    image = ""
    if options.runner == "docker":
        image = ensure_image(graph.platform, graph.arch, catalog.root, progress)
        remove_stale_containers()
    release_stale(settings.cache_dir / "work")
    progress.line(f"building {graph.project.name} for {graph.platform.id}/{graph.arch} "
                  f"(jobs {options.jobs}, runner {options.runner})")
    outcomes = build_graph(graph, keys, image, settings, fetched, progress,
                           unfetched=unfetched)
    result = BuildResult(graph, keys, tuple(outcomes), time.monotonic() - started)
    if result.failed:
        raise BuildFailed(result)
    return result
