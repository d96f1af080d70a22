"""House rules from the developers' guide, checked so they stay true: ruff-clean, small units."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SOURCES = sorted([
    *(REPO / "builder").rglob("*.py"), *(REPO / "gitlab_ctl").rglob("*.py"), REPO / "tasks.py",
    *(REPO / "bench").glob("*.py"),
])


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--quiet", "."], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_under_500_lines():
    long = {str(p.relative_to(REPO)): n for p in SOURCES
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def test_functions_stay_under_50_lines():
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 50:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length})")
    assert long == []


def test_library_never_exits_or_prints():
    offenders = []
    for path in (REPO / "builder").rglob("*.py"):
        if path.relative_to(REPO / "builder").parts[0] == "cli":
            continue  # the command line prints and chooses exit codes
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                if name in ("print", "exit"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}()")
    assert offenders == []
