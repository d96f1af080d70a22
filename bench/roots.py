"""A definitions root for benchmarks: the repository's definitions plus one small project."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def root_with_project(path: Path, project: str, software: list[str]) -> Path:
    """Copy platforms, software, templates and the builder recipe; add `project`."""
    for name in ("platforms", "software", "templates"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, path / name)
    shutil.copy(REPO / "Dockerfile.builder", path)
    (path / "projects").mkdir()
    (path / "projects" / f"{project}.yml").write_text(
        f"name: {project}\ndescription: benchmark project\n"
        "maintainer: bench <bench@example.test>\nhomepage: https://example.test/\n"
        "license: MIT\nversion: {value: 1.0.0}\n"
        "dependencies: [" + ", ".join(software) + "]\n")
    return path
