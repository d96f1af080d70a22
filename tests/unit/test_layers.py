"""builder/ is layered by the stage of the data flow: a module imports only from its own
folder or from folders below it, and no two modules import each other, directly or not.

Read from the source (every import statement, also those inside functions), so a lazy
import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

from builder.cycles import find_cycle

BUILDER = Path(__file__).resolve().parents[2] / "builder"

#: Bottom to top. "base" is the modules directly in builder/ (errors, digests, console).
LAYERS = ("base", "definitions", "resolve", "sources", "compile", "package", "formats",
          "publish", "image", "ci", "app", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(BUILDER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (BUILDER / parts[1]).is_dir()):
        return parts[1]
    return "base"


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The builder modules `path` imports (a package's module when a name is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "builder":
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "builder")
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in BUILDER.rglob("*.py")}
    known = set(paths)
    return {name: imports_of(path, known) - {name} for name, path in paths.items()}


def test_every_folder_of_builder_is_a_known_layer():
    folders = {path.name for path in BUILDER.iterdir()
               if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(LAYERS) - {"base"}


def test_imports_only_point_to_the_same_layer_or_below():
    upward = []
    for module, imported in sorted(import_graph().items()):
        for target in sorted(imported):
            if target == "builder":
                continue
            if LAYERS.index(layer_of(target)) > LAYERS.index(layer_of(module)):
                upward.append(f"{module} ({layer_of(module)}) imports {target} "
                              f"({layer_of(target)})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_there_is_no_import_cycle():
    graph = {name: {t for t in targets if t != "builder"} for name, targets in
             import_graph().items()}
    cycle = find_cycle({name: sorted(targets) for name, targets in graph.items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
