"""The installed `omnibus` console script, run as a separate process like a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration
OMNIBUS = Path(sys.executable).parent / "omnibus"


def omnibus(*argv, cwd=REPO):
    return subprocess.run([str(OMNIBUS), *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_help_explains_every_verb():
    result = omnibus("--help")
    assert result.returncode == 0
    for verb in ("list", "show", "graph", "plan"):
        assert verb in result.stdout
    assert "--root" in result.stdout and "examples:" in result.stdout
    assert "--platform" in omnibus("plan", "--help").stdout


def test_bad_arguments_exit_2_with_usage():
    result = omnibus("plan")
    assert result.returncode == 2 and "usage:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "setup", "expected"), [
    ("cycle", lambda r: (r.software("a", ["b"]), r.software("b", ["a"])),
     "a -> b -> a"),
    ("unknown key", lambda r: r.software("a", extra="buidl: []\n"),
     "a.yml:7: key 'buidl': unknown key"),
    ("bad SPDX", lambda r: r.write("software/a.yml",
                                   'name: a\nversion: "1"\nlicense: MIT-ish\n'),
     "a.yml:3: key 'license': 'MIT-ish' is not a valid SPDX license expression"),
    ("missing dependency", lambda r: r.software("a", ["nothere"]),
     "a.yml:5: key 'dependencies': depends on 'nothere', which has no definition"),
])
def test_definition_errors_as_a_user_sees_them(root, name, setup, expected):
    setup(root)
    root.project("demo", ["a"])
    result = omnibus("plan", "demo", "--root", root.path)
    assert result.returncode == 2, name
    assert result.stdout == ""
    assert expected in result.stderr
    paragraph = result.stderr.strip().splitlines()
    assert paragraph[0].startswith("omnibus: error: ") and paragraph[-1].startswith("  hint: ")
    assert len(paragraph) == 2 and "Traceback" not in result.stderr


def test_real_definitions_load_and_list():
    result = omnibus("list")
    assert result.returncode == 0, result.stderr
    assert "platforms (13):" in result.stdout
    listing = json.loads(omnibus("list", "--json").stdout)
    assert len(listing["software"]) >= 12


def test_every_project_resolves_on_every_platform_it_supports():
    listing = json.loads(omnibus("list", "--json").stdout)
    checked = 0
    for project_name, project in listing["projects"].items():
        for platform_id, platform in listing["platforms"].items():
            if project["edition"] not in platform["editions"]:
                continue
            for arch in platform["arches"]:
                result = omnibus("plan", project_name, "--platform", platform_id, "--arch", arch,
                                 "--json", "--cache-dir", "/nonexistent-cache")
                assert result.returncode == 0, (project_name, platform_id, arch, result.stderr)
                document = json.loads(result.stdout)
                assert {s["status"] for s in document["software"]} == {"build"}
                checked += 1
    assert checked >= 20


def test_dot_output_is_valid_graphviz(tmp_path):
    dot = subprocess.run(["which", "dot"], capture_output=True, text=True)
    if dot.returncode != 0:
        pytest.skip("graphviz is not installed")
    result = omnibus("graph", "gitlab-local", "--format", "dot")
    svg = subprocess.run(["dot", "-Tsvg"], input=result.stdout, capture_output=True, text=True)
    assert svg.returncode == 0 and "<svg" in svg.stdout
