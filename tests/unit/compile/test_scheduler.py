"""The parallel scheduler: order, CPU budget, failures, skips, --force."""

from __future__ import annotations

import threading
import time

from builder.compile.build import BuildOutcome, BuildSettings
from builder.compile.cache import ArtifactCache
from builder.compile.scheduler import build_graph, forced_set
from builder.definitions.loader import load_catalog
from builder.digests import write_atomic
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys


def setup(root, tmp_path):
    root.diamond()
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    return graph, compute_keys(graph, root.path)


class Recorder:
    """Stands in for the container build (covered by the integration tests)."""

    def __init__(self, fail=(), seconds=0.05):
        self.fail, self.seconds = set(fail), seconds
        self.started, self.active, self.peak, self.jobs = [], 0, 0, {}
        self.lock = threading.Lock()

    def __call__(self, graph, keys, name, image, settings, fetched, make_jobs):
        with self.lock:
            self.started.append(name)
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.jobs[name] = make_jobs
        time.sleep(self.seconds)
        with self.lock:
            self.active -= 1
        if name in self.fail:
            return BuildOutcome(name, "failed", detail="boom")
        cache = ArtifactCache(settings.cache_dir)
        write_atomic(cache.artifact_path(keys[name].key), b"x")
        write_atomic(cache.sidecar_path(keys[name].key), b"{}")
        return BuildOutcome(name, "built", self.seconds)


def run(graph, keys, tmp_path, recorder, jobs=2, force=frozenset()):
    settings = BuildSettings(root=tmp_path, cache_dir=tmp_path / "cache", jobs=jobs, force=force)
    return {o.name: o for o in build_graph(graph, keys, "image", settings, {},
                                           lambda *a, **k: None, build=recorder)}


def test_dependencies_first_and_within_the_budget(root, tmp_path):
    graph, keys = setup(root, tmp_path)
    recorder = Recorder()
    outcomes = run(graph, keys, tmp_path, recorder)
    assert {o.status for o in outcomes.values()} == {"built"}
    started = recorder.started
    assert started.index("zlib") < started.index("liba") < started.index("app")
    assert recorder.peak == 2
    # every build may use the whole budget; overlapping builds share it through the kernel
    assert set(recorder.jobs.values()) == {2}


def test_failure_skips_dependents_and_lets_others_finish(root, tmp_path):
    graph, keys = setup(root, tmp_path)
    outcomes = run(graph, keys, tmp_path, Recorder(fail={"liba"}))
    assert outcomes["liba"].status == "failed"
    assert outcomes["app"].status == "skipped" and "liba" in outcomes["app"].detail
    assert outcomes["libb"].status == "built" and outcomes["leaf"].status == "built"
    again = run(graph, keys, tmp_path, recorder := Recorder())
    assert sorted(recorder.started) == ["app", "liba"]  # resumes from what was stored
    assert again["zlib"].status == "cached"


def test_force_rebuilds_a_software_and_its_dependents(root, tmp_path):
    graph, keys = setup(root, tmp_path)
    run(graph, keys, tmp_path, Recorder())
    recorder = Recorder()
    run(graph, keys, tmp_path, recorder, force=forced_set(graph, frozenset({"liba"})))
    assert sorted(recorder.started) == ["app", "liba"]


def test_an_unfetched_source_fails_its_software_and_everything_else_still_builds(root, tmp_path):
    graph, keys = setup(root, tmp_path)
    settings = BuildSettings(root=tmp_path, cache_dir=tmp_path / "cache", jobs=2)
    recorder = Recorder()
    outcomes = {o.name: o for o in build_graph(
        graph, keys, "image", settings, {}, lambda *a, **k: None, build=recorder,
        unfetched={"libb": "libb: host name does not resolve"})}
    assert outcomes["libb"].status == "failed"
    assert outcomes["libb"].detail == "source not fetched: libb: host name does not resolve"
    assert outcomes["app"].status == "skipped"
    assert sorted(recorder.started) == ["leaf", "liba", "zlib"]  # all that needs no libb
    # an artifact already cached needs no source
    again = {o.name: o for o in build_graph(
        graph, keys, "image", settings, {}, lambda *a, **k: None, build=Recorder(),
        unfetched={"zlib": "offline"})}
    assert again["zlib"].status == "cached" and again["libb"].status == "built"
