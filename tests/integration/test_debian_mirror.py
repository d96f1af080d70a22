"""The first software definitions, fetched for real through apt from Debian's source archive.

No stand-in here: apt downloads from the mirror this machine is configured with, and every
file is checked against the definition's checksum (recomputed below, independently).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from builder.errors import FetchError
from builder.fetch import fetch_sources
from builder.fetchers import FetchContext
from builder.graph import resolve
from builder.loader import load_catalog
from builder.mirrors import Mirror
from tests.conftest import REPO

pytestmark = pytest.mark.integration

#: Sources this machine's mirror lists in its index but does not serve (seen 2026-11-25).
UNSERVED_HERE = {"runit"}


@pytest.fixture(scope="module")
def local_graph():
    if shutil.which("apt-get") is None:
        pytest.fail("apt-get is needed: the debian mirror fetches through apt")
    catalog = load_catalog(REPO)
    project = catalog.projects["gitlab-local"]
    return resolve(catalog, project, catalog.platforms["debian-12"], "amd64")


@pytest.fixture(scope="module")
def fetched(local_graph, tmp_path_factory):
    cache = tmp_path_factory.mktemp("debian-cache")
    context = FetchContext(root=REPO, cache_dir=cache, mirrors=(Mirror("debian"),))
    with pytest.raises(FetchError) as caught:
        fetch_sources(local_graph, context, jobs=4)
    assert set(caught.value.failures) == UNSERVED_HERE
    context = FetchContext(root=REPO, cache_dir=cache, mirrors=())
    wanted = [name for name in local_graph.order if name not in UNSERVED_HERE]
    sub_graph = _without(local_graph, UNSERVED_HERE)
    return cache, wanted, fetch_sources(sub_graph, context, jobs=4)


def _without(graph, names):
    from dataclasses import replace

    from builder.model import frozen_map

    kept = {n: s for n, s in graph.software.items() if n not in names}
    return replace(graph, software=frozen_map(kept),
                   levels=tuple(tuple(n for n in level if n not in names)
                                for level in graph.levels))


def test_every_served_source_comes_through_apt_with_its_checksum(fetched, local_graph):
    cache, wanted, results = fetched
    assert sorted(results) == sorted(wanted)
    for name in wanted:
        source = local_graph.software[name].source
        data = Path(results[name].path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == source.sha256, name
        assert results[name].path.is_relative_to(cache / "downloads")


def test_second_run_with_no_mirrors_uses_only_the_cache(fetched):
    _, _, results = fetched
    assert {r.origin for r in results.values()} == {"cache"}


def test_unserved_source_names_what_was_tried(local_graph, tmp_path):
    context = FetchContext(root=REPO, cache_dir=tmp_path, mirrors=(Mirror("debian"),))
    only_runit = _without(local_graph, set(local_graph.software) - {"runit"})
    with pytest.raises(FetchError) as caught:
        fetch_sources(only_runit, context)
    message = caught.value.message
    assert "runit: no mirror could provide the source" in message
    assert "debian source runit" in message and "404" in message
