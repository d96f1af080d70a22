"""Mirror chains from the command line and from a file."""

from __future__ import annotations

import pytest

from builder.errors import DefinitionError, UsageError
from builder.sources.mirrors import DEFAULT_CHAIN, Mirror, mirror_chain, parse_mirror


def test_mirrors_file(root, tmp_path):
    good = root.write("mirrors.yml", "mirrors:\n  - {kind: http, url: 'https://m.test/{name}'}\n"
                                     "  - {kind: debian}\n  - {kind: dir, path: /srv/src}\n")
    assert [m.kind for m in mirror_chain(["upstream"], good)] == ["http", "debian", "dir",
                                                                  "upstream"]
    assert mirror_chain(None, root.write("empty.yml", "mirrors: []\n")) == ()
    bad = root.write("bad.yml", "mirrors:\n  - {kind: http, url: 'https://m.test/{nme}'}\n")
    with pytest.raises(UsageError, match="template"):
        mirror_chain(None, bad)
    typo = root.write("typo.yml", "mirrors:\n  - {kind: debain}\n")
    with pytest.raises(DefinitionError, match="'debain' is not a mirror kind"):
        mirror_chain(None, typo)


def test_command_line_spellings(tmp_path):
    assert parse_mirror("upstream") == Mirror("upstream")
    assert parse_mirror("https://m.test/{name}/{filename}").kind == "http"
    assert parse_mirror(f"dir:{tmp_path}") == Mirror("dir", str(tmp_path))
    assert parse_mirror("git:https://g.test/{name}.git").kind == "git"
    assert mirror_chain(None, None) == DEFAULT_CHAIN
    for bad in ("ftp://x", "https://m.test/{unknown}", "git:/local/{name}"):
        with pytest.raises(UsageError):
            parse_mirror(bad)
