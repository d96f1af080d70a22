"""Toolchains in real builds: the repository's Go, Node.js and yarn, fetched from where this
machine's apt and npm are configured to fetch, verified, mounted read-only into a builder
container with no network, and never part of the artifact."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.compile import artifacts
from builder.compile.cache import ArtifactCache
from tests.conftest import REPO
from tests.integration.test_build import build, toy_root

pytestmark = pytest.mark.integration

HELLO_GO = """\
package main

import (
\t"fmt"
\t"os"
\t"runtime"
)

func main() {
\tfmt.Printf("%s %s/%s\\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
\tif len(os.Args) > 1 {
\t\tfmt.Println(os.Args[1])
\t}
}
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One cache for the module: the toolchains are fetched once."""
    return tmp_path_factory.mktemp("toolchain-cache")


def with_toolchains(tmp_path: Path):
    root = toy_root(tmp_path / "defs")
    shutil.copytree(REPO / "platforms" / "toolchains", root.path / "platforms" / "toolchains")
    return root


def artifact_tree(cache: Path, name: str) -> Path:
    """The unpacked artifact of `name` (the files its build added under the install dir)."""
    for sidecar in (cache / "artifacts").glob("*.json"):
        if json.loads(sidecar.read_text())["name"] == name:
            return artifacts.ensure_unpacked(ArtifactCache(cache), sidecar.stem)
    raise AssertionError(f"no artifact of {name} in {cache}")


def test_a_go_program_builds_offline_with_the_go_toolchain(tmp_path, cache):
    root = with_toolchains(tmp_path)
    root.write("src/hello-go/main.go", HELLO_GO)
    root.write("src/hello-go/go.mod", "module example.test/hello\n\ngo 1.22\n")
    root.write("software/hello-go.yml", """\
name: hello-go
version: "1.0"
license: MIT
toolchains: [go]
source: {path: src/hello-go}
build:
  - go env GOROOT GOTOOLCHAIN GOPROXY > go-env.txt
  - test "$(cat go-env.txt | head -1)" = /usr/local/go
  # the toolchain is read-only: nothing may be written into it
  - "! touch /usr/local/go/written-by-a-build 2>/dev/null"
  - go build -trimpath -o {{ prefix }}/bin/hello-go .
""")
    root.project("gohello", ["hello-go"])
    result = build(root, cache, "gohello")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tree = artifact_tree(cache, "hello-go")
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert "embedded/bin/hello-go" in files
    assert not any(f.startswith("embedded/bin/go") and f != "embedded/bin/hello-go"
                   for f in files), files  # the toolchain is never packaged
    output = subprocess.run([str(tree / "embedded/bin/hello-go"), "ran"], capture_output=True,
                            text=True, check=True)
    assert output.stdout.splitlines() == ["go1.24.4 linux/amd64", "ran"]
    unpacked = next((cache / "toolchains").glob("go-1.24.4-amd64-*"))
    assert (unpacked / "usr/lib/go-1.24/src/runtime").is_dir()  # Debian's src link, inlined


def test_node_and_yarn_run_in_a_build_from_their_pinned_packages(tmp_path, cache):
    root = with_toolchains(tmp_path)
    root.write("software/js-versions.yml", """\
name: js-versions
version: "1.0"
license: MIT
toolchains: [yarn]
build:
  - mkdir -p {{ prefix }}/share
  - node --version > {{ prefix }}/share/node-version
  - yarn --version > {{ prefix }}/share/yarn-version
  - node -e 'process.stdout.write(require("os").arch())' > {{ prefix }}/share/node-arch
""")
    root.project("jsversions", ["js-versions"])
    result = build(root, cache, "jsversions")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tree = artifact_tree(cache, "js-versions")
    found = {p.name: p.read_text().strip() for p in (tree / "embedded/share").iterdir()}
    assert found["node-version"] == "v22.23.5"
    assert found["yarn-version"] == "1.22.22"
    assert found["node-arch"] == "x64"
