"""gitlab_ctl's layers, read from its sources (every import, also those inside functions):
errors and paths at the bottom; config and engine on them, neither importing the other;
services on those; commands on services; the entry points (cli, precompile) on top. An
import only points down (or within its own subpackage), and no import cycle exists."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "gitlab_ctl"
#: the first part of a module's name under gitlab_ctl -> its layer
LAYERS = {"errors": 0, "paths": 0, "config": 1, "engine": 1, "services": 2, "commands": 3,
          "cli": 4, "precompile": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")
            if "templates_compiled" not in path.parts}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The gitlab_ctl modules `path` imports; `from package import module` is the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("gitlab_ctl")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gitlab_ctl"):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}


def layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    if len(parts) == 1:
        return -1, ""  # gitlab_ctl/__init__.py: imports nothing, sits below everything
    assert parts[1] in LAYERS, f"{module}: a new top-level module or subpackage needs a layer"
    return LAYERS[parts[1]], parts[1]


def upward(edges: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in edges.items():
        rank, group = layer(module)
        for target in targets:
            target_rank, target_group = layer(target)
            if target_group != group and target_rank >= rank:
                wrong.append(f"{module} -> {target}")
    return sorted(wrong)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return found


def test_every_import_points_down_a_layer():
    assert upward(graph()) == []


def test_there_is_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_see_an_upward_import_inside_a_function_and_a_cycle(tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from gitlab_ctl.services import base\n")
    assert imports(lazy, modules()) == {"gitlab_ctl.services.base"}
    edges = graph()
    edges["gitlab_ctl.config.reader"] = {"gitlab_ctl.services.base"}
    edges["gitlab_ctl.engine.runit"] = {"gitlab_ctl.config.reader"}
    assert upward(edges) == ["gitlab_ctl.config.reader -> gitlab_ctl.services.base",
                             "gitlab_ctl.engine.runit -> gitlab_ctl.config.reader"]
    edges["gitlab_ctl.engine.runit"] = {"gitlab_ctl.engine.control"}
    assert cycles(edges) == [["gitlab_ctl.engine.control", "gitlab_ctl.engine.runit",
                              "gitlab_ctl.engine.control"]]


def test_the_sources_are_all_seen():
    edges = graph()
    assert {"gitlab_ctl.cli", "gitlab_ctl.config.reader", "gitlab_ctl.engine.resources",
            "gitlab_ctl.services.base", "gitlab_ctl.commands.table"} <= set(edges)
    assert "gitlab_ctl.config.safe_yaml" in edges["gitlab_ctl.config.reader"]  # in a function
