"""The first software definitions, fetched for real through apt from Debian's source archive.

No stand-in here: apt downloads from the mirror this machine is configured with, and every
file is checked against the definition's checksum (recomputed below, independently).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import FetchError
from builder.resolve.graph import resolve
from builder.sources.fetch import fetch_sources
from builder.sources.fetchers import FETCHERS, FetchContext
from builder.sources.mirrors import Mirror
from tests.conftest import REPO

pytestmark = pytest.mark.integration



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
    # Debian first; the package index serves the Python sdists Debian does not carry as such.
    context = FetchContext(root=REPO, cache_dir=cache,
                           mirrors=(Mirror("debian"), Mirror("upstream")))
    first = fetch_sources(local_graph, context, jobs=4)
    assert {r.origin for r in first.values()} != {"cache"}
    origins = {name: result.origin for name, result in first.items()}
    # Second run: no mirror at all, so any network need would fail it.
    context = FetchContext(root=REPO, cache_dir=cache, mirrors=())
    return cache, list(local_graph.order), fetch_sources(local_graph, context, jobs=4), origins


def test_every_source_comes_through_apt_or_the_package_index_with_its_checksum(
        fetched, local_graph):
    cache, wanted, results, first_origins = fetched
    wanted = [n for n in wanted if local_graph.software[n].source is not None]
    assert sorted(results) == sorted(wanted)
    # this repository's own directories (gitlab-ctl) need no mirror
    wanted = [n for n in wanted if results[n].kind != "path"]
    assert wanted
    for name in wanted:
        source = local_graph.software[name].source
        data = Path(results[name].path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == source.sha256, name
        assert results[name].path.is_relative_to(cache / "downloads")
        expected = "debian source" if source.debian else "package index"
        assert first_origins[name].startswith(expected), (name, first_origins[name])


def test_second_run_with_no_mirrors_uses_only_the_cache(fetched):
    _, _, results, _ = fetched
    assert {r.origin for r in results.values() if r.kind != "path"} == {"cache"}


def test_unserved_source_names_what_was_tried(tmp_path):
    """runit 2.1.2 is in this machine's Debian index, but the mirror serves no tarball for it
    (seen 2026-11-25); when that changes, gitlab-local can take runit back."""
    runit = load_catalog(REPO).software["runit"]
    context = FetchContext(root=REPO, cache_dir=tmp_path,
                           mirrors=(Mirror("upstream"), Mirror("debian")))
    with pytest.raises(FetchError) as caught:
        FETCHERS["url"](runit, context)
    message = caught.value.message
    assert "runit: no mirror could provide the source" in message
    assert "http://smarden.org/runit/runit-2.1.2.tar.gz: host name does not resolve" in message
    assert "debian source runit" in message and "404" in message
    assert not list(tmp_path.rglob("*.tar.gz"))
