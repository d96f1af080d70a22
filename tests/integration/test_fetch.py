"""Fetching through the mirror chain, against a real HTTP server and real git repositories.

The upstream download servers are unreachable from this machine; a loopback HTTP server
stands in for a mirror (that is the boundary mocked here, with real sockets and real HTTP).
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import FetchError
from builder.resolve.graph import resolve
from builder.resolve.locks import load_locks
from builder.sources.fetch import fetch_sources
from builder.sources.fetchers import FetchContext
from builder.sources.mirrors import Mirror, parse_mirror
from tests.httpserver import Behaviour, LocalServer, refused_url

pytestmark = pytest.mark.integration

PAYLOAD = bytes(range(256)) * 1200  # 300 KiB


def define(root, payload: bytes = PAYLOAD, name: str = "zlib") -> str:
    digest = hashlib.sha256(payload).hexdigest()
    root.software(name, extra=f"source:\n  url: https://upstream.invalid/{name}-1.0.tar.gz\n"
                              f"  sha256: {digest}\n")
    root.project("demo", [name])
    return digest


def run_fetch(root, cache: Path, mirrors, **options):
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    locks_path = cache / "source-locks.json"
    context = FetchContext(root=root.path, cache_dir=cache, mirrors=tuple(mirrors),
                           locks=load_locks(locks_path), retries=3, **options)
    return fetch_sources(graph, context, jobs=2, locks_path=locks_path)


def test_http_mirror_fills_the_cache_and_a_second_run_needs_no_network(root, tmp_path):
    digest = define(root)
    cache = tmp_path / "cache"
    with LocalServer(Behaviour(files={"/zlib/zlib-1.0.tar.gz": PAYLOAD})) as server:
        mirror = parse_mirror(server.url + "/{name}/{filename}")
        result = run_fetch(root, cache, [mirror])["zlib"]
        assert result.path == cache / "downloads/sha256" / digest / "zlib-1.0.tar.gz"
        assert result.path.read_bytes() == PAYLOAD and result.origin.startswith(server.url)
        served = len(server.behaviour.requests)
    again = run_fetch(root, cache, [])["zlib"]  # no mirrors at all: the cache must do
    assert again.origin == "cache" and again.path == result.path
    assert served == 1


def test_tampered_download_is_refused_and_nothing_is_cached(root, tmp_path):
    digest = define(root)
    tampered = PAYLOAD[:-1] + b"X"
    cache = tmp_path / "cache"
    behaviour = Behaviour(files={"/zlib/zlib-1.0.tar.gz": tampered})
    with LocalServer(behaviour) as server, pytest.raises(FetchError) as caught:
        run_fetch(root, cache, [parse_mirror(server.url + "/{name}/{filename}")])
    message = caught.value.message
    assert "checksum mismatch" in message
    assert f"expected sha256: {digest}" in message
    assert f"actual   sha256: {hashlib.sha256(tampered).hexdigest()}" in message
    leftovers = [p for p in (cache / "downloads").rglob("*") if p.is_file()]
    assert leftovers == []


def test_interrupted_download_resumes_with_a_range_request(root, tmp_path):
    define(root)
    behaviour = Behaviour(files={"/zlib/zlib-1.0.tar.gz": PAYLOAD}, drop_first_after=100_000)
    with LocalServer(behaviour) as server:
        result = run_fetch(root, tmp_path / "cache",
                           [parse_mirror(server.url + "/{name}/{filename}")])["zlib"]
    assert result.path.read_bytes() == PAYLOAD
    ranges = [r for _, r in behaviour.requests]
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 100_000  # what was received before the drop was kept


def test_server_without_range_support_restarts_cleanly(root, tmp_path):
    define(root)
    behaviour = Behaviour(files={"/zlib/zlib-1.0.tar.gz": PAYLOAD}, drop_first_after=50_000,
                          ranges=False)
    with LocalServer(behaviour) as server:
        result = run_fetch(root, tmp_path / "cache",
                           [parse_mirror(server.url + "/{name}/{filename}")])["zlib"]
    assert result.path.read_bytes() == PAYLOAD


def test_unreachable_everywhere_fails_fast_and_names_every_url(root, tmp_path):
    define(root)
    refused = refused_url()
    with LocalServer(Behaviour(status=503)) as failing, LocalServer(Behaviour()) as empty:
        chain = [Mirror("upstream"), parse_mirror(refused + "/{name}/{filename}"),
                 parse_mirror(failing.url + "/{filename}"),
                 parse_mirror(empty.url + "/{sha256}"), Mirror("debian")]
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            run_fetch(root, tmp_path / "cache", chain)
        elapsed = time.monotonic() - started
    message = caught.value.message
    assert elapsed < 30
    assert "zlib: no mirror could provide the source" in message
    assert "https://upstream.invalid/zlib-1.0.tar.gz: host name does not resolve" in message
    assert f"{refused}/zlib/zlib-1.0.tar.gz: Connection refused" in message
    assert f"{failing.url}/zlib-1.0.tar.gz: HTTP 503" in message
    assert "HTTP 404" in message
    assert "debian: skipped" in message
    assert "--mirror" in caught.value.hint


def test_offline_lists_what_is_missing(root, tmp_path):
    define(root, name="zlib")
    define(root, payload=b"other", name="pcre2")
    root.project("demo", ["zlib", "pcre2"])
    with pytest.raises(FetchError) as caught:
        run_fetch(root, tmp_path / "cache", [Mirror("upstream")], offline=True)
    assert "2 of 2 sources are missing from the download cache (--offline): pcre2, zlib" in (
        caught.value.message)


def test_dir_mirror(root, tmp_path):
    define(root)
    (tmp_path / "mirror/zlib").mkdir(parents=True)
    (tmp_path / "mirror/zlib/zlib-1.0.tar.gz").write_bytes(PAYLOAD)
    result = run_fetch(root, tmp_path / "cache", [parse_mirror(f"dir:{tmp_path / 'mirror'}")])
    assert result["zlib"].path.read_bytes() == PAYLOAD


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def upstream_repo(tmp_path) -> Path:
    repo = tmp_path / "upstream.git"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.test")
    git(repo, "config", "user.name", "t")
    for version in ("1.0", "1.1"):
        (repo / "VERSION").write_text(version)
        git(repo, "add", "VERSION")
        git(repo, "commit", "-q", "-m", version)
        git(repo, "tag", f"v{version}")
    return repo


def test_git_tag_is_locked_to_its_commit_and_reused_offline(root, tmp_path, upstream_repo):
    root.software("gitaly", extra=f"source: {{git: 'file://{upstream_repo}', ref: v1.0}}\n")
    root.project("demo", ["gitaly"])
    cache = tmp_path / "cache"
    result = run_fetch(root, cache, [Mirror("upstream")])["gitaly"]
    commit = git(upstream_repo, "rev-parse", "v1.0^{commit}")
    assert result.locked_version == commit
    assert load_locks(cache / "source-locks.json") == {f"file://{upstream_repo}@v1.0": commit}
    assert git(result.path, "show", f"{commit}:VERSION") == "1.0"
    again = run_fetch(root, cache, [], offline=True)["gitaly"]
    assert again.origin == "cache" and again.locked_version == commit


def test_git_commit_ref_and_missing_ref(root, tmp_path, upstream_repo):
    first = git(upstream_repo, "rev-parse", "v1.0^{commit}")
    root.software("gitaly", extra=f"source: {{git: 'file://{upstream_repo}', ref: {first}}}\n")
    root.project("demo", ["gitaly"])
    assert run_fetch(root, tmp_path / "c1", [Mirror("upstream")])["gitaly"].locked_version == first
    root.software("gitaly", extra=f"source: {{git: 'file://{upstream_repo}', ref: v9.9}}\n")
    with pytest.raises(FetchError) as caught:
        run_fetch(root, tmp_path / "c2", [Mirror("upstream")])
    assert "gitaly: no mirror could provide the source" in caught.value.message
    assert f"file://{upstream_repo}: " in caught.value.message


def test_branch_lock_holds_until_refresh(root, tmp_path, upstream_repo):
    root.software("gitaly", extra=f"source: {{git: 'file://{upstream_repo}', ref: main}}\n")
    root.project("demo", ["gitaly"])
    cache = tmp_path / "cache"
    first = run_fetch(root, cache, [Mirror("upstream")])["gitaly"].locked_version
    (upstream_repo / "VERSION").write_text("2.0")
    git(upstream_repo, "commit", "-q", "-am", "2.0")
    assert run_fetch(root, cache, [Mirror("upstream")])["gitaly"].locked_version == first
    refreshed = run_fetch(root, cache, [Mirror("upstream")], refresh=True)["gitaly"]
    assert refreshed.locked_version == git(upstream_repo, "rev-parse", "main")


def test_locks_only_resolves_every_git_ref_and_downloads_nothing(root, tmp_path, upstream_repo):
    git(upstream_repo, "tag", "-a", "-m", "annotated", "v1.1-annotated", "v1.1")
    url = f"file://{upstream_repo}"
    for name, ref in (("gitaly", "v1.0"), ("gitlab-shell", "v1.1-annotated"),
                      ("gitlab-pages", "main")):
        root.software(name, extra=f"source: {{git: '{url}', ref: {ref}}}\n")
    define(root)  # a url source nobody can reach: a lock-only run must not try it
    root.project("demo", ["gitaly", "gitlab-shell", "gitlab-pages", "zlib"])
    cache = tmp_path / "cache"
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")
    context = FetchContext(root=root.path, cache_dir=cache, mirrors=(Mirror("upstream"),))
    results = fetch_sources(graph, context, locks_path=cache / "source-locks.json",
                            locks_only=True)
    assert sorted(results) == ["gitaly", "gitlab-pages", "gitlab-shell"]
    assert load_locks(cache / "source-locks.json") == {
        f"{url}@v1.0": git(upstream_repo, "rev-parse", "v1.0^{commit}"),
        f"{url}@v1.1-annotated": git(upstream_repo, "rev-parse", "v1.1^{commit}"),
        f"{url}@main": git(upstream_repo, "rev-parse", "main"),
    }
    assert sorted(path.name for path in cache.iterdir()) == ["source-locks.json"]
    # a job's full fetch afterwards takes exactly the locked commit, though main moved on
    (upstream_repo / "VERSION").write_text("2.0")
    git(upstream_repo, "commit", "-q", "-am", "2.0")
    root.project("pages", ["gitlab-pages"])
    catalog = load_catalog(root.path)
    graph = resolve(catalog, catalog.projects["pages"], catalog.platforms["debian-12"], "amd64")
    job = FetchContext(root=root.path, cache_dir=tmp_path / "job-cache",
                       mirrors=(Mirror("upstream"),), locks=load_locks(cache / "source-locks.json"))
    fetched = fetch_sources(graph, job)["gitlab-pages"]
    assert fetched.locked_version == results["gitlab-pages"].locked_version
    assert git(fetched.path, "show", f"{fetched.locked_version}:VERSION") == "1.1"


def test_path_source(root, tmp_path):
    root.write("src/hello/main.c", "int main(void){return 0;}\n")
    root.software("hello", extra="source: {path: src/hello}\n")
    root.project("demo", ["hello"])
    result = run_fetch(root, tmp_path / "cache", [])["hello"]
    # a snapshot in the cache, named by its digest, holding the directory's files
    assert result.path == tmp_path / "cache" / "path-sources" / result.locked_version
    assert (result.path / "main.c").read_text() == "int main(void){return 0;}\n"


def test_fetch_command_end_to_end(root, tmp_path):
    from tests.integration.test_cli_process import omnibus

    define(root)
    cache = tmp_path / "cache"
    with LocalServer(Behaviour(files={"/zlib/zlib-1.0.tar.gz": PAYLOAD})) as server:
        result = omnibus("fetch", "demo", "--root", root.path, "--cache-dir", cache,
                         "--mirror", server.url + "/{name}/{filename}")
    assert result.returncode == 0, result.stderr
    assert "zlib: fetching http://127.0.0.1" in result.stderr
    assert "1 sources ready (1 fetched, 0 from the cache)" in result.stdout
    result = omnibus("fetch", "demo", "--root", root.path, "--cache-dir", cache, "--offline")
    assert result.returncode == 0 and "(0 fetched, 1 from the cache)" in result.stdout
    result = omnibus("fetch", "demo", "--root", root.path, "--cache-dir", tmp_path / "empty",
                     "--offline")
    assert result.returncode == 1
    assert "1 of 1 sources are missing from the download cache (--offline): zlib" in result.stderr
    result = omnibus("fetch", "demo", "--root", root.path, "--mirror", "ftp://nope")
    assert result.returncode == 2 and "'ftp://nope' is not a mirror" in result.stderr



def test_pypi_source_is_found_on_the_configured_index_by_its_digest(root, tmp_path,
                                                                     monkeypatch):
    # A local simple index stands in for the package index pip is configured with.
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    page = (f'<a href="../../files/demo_pkg-1.0.tar.gz#sha256={"0" * 64}">wrong</a>'
            f'<a href="../../files/good/demo_pkg-1.0.tar.gz#sha256={digest}">right</a>')
    files = {"/simple/demo-pkg/": page.encode(), "/files/good/demo_pkg-1.0.tar.gz": PAYLOAD}
    root.software("zlib", extra=f"source: {{pypi: Demo_Pkg, sha256: {digest}}}\n")
    root.project("demo", ["zlib"])
    with LocalServer(Behaviour(files=files)) as server:
        monkeypatch.setenv("PIP_INDEX_URL", server.url + "/simple")
        result = run_fetch(root, tmp_path / "cache", [Mirror("upstream")])["zlib"]
    assert result.path.read_bytes() == PAYLOAD
    assert result.path.name == "Demo_Pkg-1.0.tar.gz"
