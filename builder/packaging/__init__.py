"""Packagers: one small interface, one plain dict.

A packager is a module with `file_name(meta) -> str` (the conventional name of its output)
and `build(stage, meta, out_dir) -> Path`.
"""

from __future__ import annotations

from types import ModuleType

from builder.packaging import deb, rpm

PACKAGERS: dict[str, ModuleType] = {"deb": deb, "rpm": rpm}
