"""A project's packages in a packages directory, found by the metadata written beside them."""

from __future__ import annotations

import json
from pathlib import Path

from builder.definitions.model import Platform
from builder.formats import FORMATS


def packages_for(out_dir: Path, project: str, platform: Platform,
                 package_format: str) -> list[Path]:
    """Packages in `out_dir` of this format whose metadata names this project and platform."""
    found = []
    for sidecar in sorted(out_dir.glob("*.metadata.json")):
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        package = out_dir / str(meta.get("basename", ""))
        if meta.get("name") == project and meta.get("platform") == platform.id and \
                package.name.endswith(FORMATS[package_format].extension) and package.is_file():
            found.append(package)
    return found
