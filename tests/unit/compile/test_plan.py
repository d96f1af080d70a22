"""Plans say, for each software, whether its artifact is cached and, if not, why."""

from __future__ import annotations

from builder.compile.cache import ArtifactCache
from builder.compile.plan import make_plan
from builder.definitions.loader import load_catalog
from builder.digests import write_atomic
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys


def plan_of(root, cache):
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    keys = compute_keys(graph, root.path)
    return {entry.name: entry for entry in make_plan(graph, keys, cache)}, keys


def store_all(cache, keys):
    """Store artifacts and records the way a finished build leaves them."""
    for record in keys.values():
        write_atomic(cache.artifact_path(record.key), b"artifact")
        write_atomic(cache.sidecar_path(record.key), b"{}")
        cache.write_record("debian-12", "amd64", record)


def test_cold_plan_builds_everything(root, tmp_path):
    root.diamond()
    plan, keys = plan_of(root, ArtifactCache(tmp_path / "cache"))
    assert {e.cached for e in plan.values()} == {False}
    assert plan["zlib"].reason == "never built for debian-12/amd64"
    assert plan["app"].level == 2 and plan["app"].key == keys["app"].key


def test_warm_plan_is_all_cached(root, tmp_path):
    root.diamond()
    cache = ArtifactCache(tmp_path / "cache")
    _, keys = plan_of(root, cache)
    store_all(cache, keys)
    plan, _ = plan_of(root, cache)
    assert all(e.cached and e.reason == "cached" for e in plan.values())


def test_a_change_explains_itself_down_the_chain(root, tmp_path):
    root.diamond()
    cache = ArtifactCache(tmp_path / "cache")
    store_all(cache, plan_of(root, cache)[1])
    root.software("zlib", version="1.1")
    plan, _ = plan_of(root, cache)
    assert plan["zlib"].reason == "version 1.0 -> 1.1"
    assert plan["liba"].reason == "dependency changed: zlib"
    assert plan["app"].reason == "dependency changed: liba, libb"
    assert plan["leaf"].cached


def test_definition_and_dependency_set_changes(root, tmp_path):
    root.diamond()
    cache = ArtifactCache(tmp_path / "cache")
    store_all(cache, plan_of(root, cache)[1])
    root.software("leaf", extra="env: {CFLAGS: -O3}\n")
    root.software("app", ["liba", "libb", "leaf"])
    plan, _ = plan_of(root, cache)
    assert plan["leaf"].reason == "definition changed"
    assert plan["app"].reason == "new dependency leaf"


def test_deleted_artifact_is_reported(root, tmp_path):
    root.diamond()
    cache = ArtifactCache(tmp_path / "cache")
    _, keys = plan_of(root, cache)
    store_all(cache, keys)
    cache.sidecar_path(keys["leaf"].key).unlink()
    plan, _ = plan_of(root, cache)
    assert plan["leaf"].reason == "artifact missing from the cache"
