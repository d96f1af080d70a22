"""Building a project's graph in parallel, within a CPU budget.

A software starts as soon as everything it depends on is built or cached. At most `jobs`
builds run at once, and each gets `make -j<jobs>`: a build's parallelism is fixed when it
starts, so a share of the CPUs free at that moment left long builds that outlived their
neighbours (openssl, PostgreSQL) on one CPU while the others idled; the kernel shares the
CPUs between overlapping builds instead (measured in BENCHMARKS.md).

A failure does not stop the builds already running; what depends on the failed software is
skipped, and a re-run resumes from every artifact that was stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from builder.compile.build import BuildOutcome, BuildSettings, build_one
from builder.compile.cache import ArtifactCache
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord
from builder.sources.fetchers import FetchedSource
from builder.sources.fetchers.base import Report

STATUS = "status"  # the report name of the overall progress line
#: How a failure for want of a source starts its detail.
UNFETCHED = "source not fetched: "


def forced_set(graph: Graph, names: frozenset[str]) -> frozenset[str]:
    """`--force NAME` rebuilds NAME and everything that depends on it."""
    forced = set(names)
    for name in names:
        forced |= graph.dependents(name)
    return frozenset(forced)


Builder = Callable[..., BuildOutcome]


class _Run:
    def __init__(self, graph: Graph, keys: Mapping[str, KeyRecord], image: str,
                 settings: BuildSettings, fetched: Mapping[str, FetchedSource],
                 report: Report, build: Builder) -> None:
        self.build = build
        self.graph, self.keys, self.image = graph, keys, image
        self.settings, self.fetched, self.report = settings, fetched, report
        self.outcomes: dict[str, BuildOutcome] = {}
        self.started_at: dict[str, float] = {}
        self.running: dict[Future[BuildOutcome], str] = {}
        self.cache = ArtifactCache(settings.cache_dir)

    def status_of(self, name: str) -> str:
        outcome = self.outcomes.get(name)
        return outcome.status if outcome else "pending"

    def ready(self) -> list[str]:
        return [name for name in self.graph.order
                if name not in self.outcomes and name not in self.running.values()
                and all(self.status_of(d) in ("built", "cached") for d in self.graph.edges[name])]

    def blocked(self) -> None:
        """Mark as skipped what depends on a failure, directly or not."""
        changed = True
        while changed:
            changed = False
            for name in self.graph.order:
                if name in self.outcomes:
                    continue
                bad = [d for d in self.graph.edges[name]
                       if self.status_of(d) in ("failed", "skipped")]
                if bad:
                    self.outcomes[name] = BuildOutcome(name, "skipped",
                                                       detail=f"{bad[0]} did not build")
                    changed = True

    def start(self, pool: ThreadPoolExecutor, name: str) -> None:
        if self.cache.has(self.keys[name].key) and name not in self.settings.force:
            self.outcomes[name] = BuildOutcome(name, "cached")
            return
        # Not local: build_one first asks the remote cache, if there is one.
        make_jobs = max(1, self.settings.jobs)
        first = "remote cache, else " if self.settings.remote else ""
        self.report(name, f"{first}building (make -j{make_jobs})")
        self.started_at[name] = time.monotonic()
        future = pool.submit(self.build, self.graph, self.keys, name, self.image, self.settings,
                             self.fetched.get(name), make_jobs)
        self.running[future] = name

    def status(self) -> None:
        """A transient line: what runs, for how long, and how far the whole build is."""
        if not self.running:
            return
        now = time.monotonic()
        running = ", ".join(f"{name} {int(now - self.started_at[name])}s"
                            for name in self.running.values())
        self.report(STATUS, f"[{len(self.outcomes)}/{len(self.graph.order)} done] building: "
                            f"{running}", transient=True)

    def finish(self, future: Future[BuildOutcome]) -> None:
        name = self.running.pop(future)
        outcome = future.result()
        self.outcomes[name] = outcome
        if outcome.status == "built":
            self.report(name, f"built in {outcome.seconds:.1f} s")
        elif outcome.status == "cached":
            self.report(name, outcome.detail or "cached")
        elif outcome.status == "failed":
            self.report(name, f"FAILED: {outcome.detail}")


def build_graph(graph: Graph, keys: Mapping[str, KeyRecord], image: str,
                settings: BuildSettings, fetched: Mapping[str, FetchedSource],
                report: Report, build: Builder = build_one,
                unfetched: Mapping[str, str] | None = None) -> list[BuildOutcome]:
    """Build every software of `graph` not cached; `build` builds one (see build.build_one).

    `unfetched` (name -> why) are software whose source could not be fetched: they fail
    unless cached, what depends on them is skipped, and everything else builds."""
    run = _Run(graph, keys, image, settings, fetched, report, build)
    for name, why in (unfetched or {}).items():
        if not run.cache.has(keys[name].key):
            run.outcomes[name] = BuildOutcome(name, "failed", detail=f"{UNFETCHED}{why}")
            report(name, f"FAILED: {UNFETCHED}{why}")
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        while len(run.outcomes) < len(graph.order):
            for name in run.ready():
                if len(run.running) >= settings.jobs:
                    break
                run.start(pool, name)
            run.blocked()
            if not run.running:
                continue
            done, _ = wait(list(run.running), timeout=1, return_when=FIRST_COMPLETED)
            for future in done:
                run.finish(future)
            run.status()
    return [run.outcomes[name] for name in graph.order]
