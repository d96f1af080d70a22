"""The package-index source kind: the sdist is found by its pinned sha256 on a simple page."""

from __future__ import annotations

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError, FetchError
from builder.sources.pypi import find_file, index_url, normalise

DIGEST = "411b27e68a080c07a69c233cb526dbc2d848b09a72f10477f4444dd0822cf290"
PAGE = f"""<!DOCTYPE html><html><body>
<a href="../../packages/aa/git_filter_repo-2.45.0.tar.gz#sha256={'0' * 64}">old</a>
<a href="../../packages/bb/git_filter_repo-2.47.0.tar.gz#sha256={DIGEST}"
   data-requires-python="&gt;=3.6">git_filter_repo-2.47.0.tar.gz</a>
</body></html>"""


def test_normalise_follows_pep_503():
    assert normalise("Git_Filter.Repo") == "git-filter-repo"
    assert normalise("PyYAML") == "pyyaml"


def test_the_file_with_the_pinned_digest_is_chosen():
    url, name = find_file("https://index.example.test/simple/git-filter-repo/", PAGE, DIGEST)
    assert url == "https://index.example.test/packages/bb/git_filter_repo-2.47.0.tar.gz"
    assert name == "git_filter_repo-2.47.0.tar.gz"


def test_no_file_with_the_digest_is_an_error():
    with pytest.raises(FetchError, match="no file with sha256"):
        find_file("https://index.example.test/simple/x/", PAGE, "1" * 64)


def test_index_comes_from_pip_settings():
    assert index_url({"PIP_INDEX_URL": "https://index.example.test/simple"}) == (
        "https://index.example.test/simple/")


def test_pypi_source_loads_and_refuses_a_url_beside_it(root):
    root.software("filter", extra=f"source: {{pypi: git-filter-repo, sha256: {DIGEST}}}\n")
    source = load_catalog(root.path, {}).software["filter"].source
    assert (source.pypi, source.sha256, source.url) == ("git-filter-repo", DIGEST, None)
    root.software("filter", extra=f"source: {{pypi: x, sha256: {DIGEST}, url: https://e.test/x}}\n")
    with pytest.raises(DefinitionError, match="exactly one of"):
        load_catalog(root.path, {})
