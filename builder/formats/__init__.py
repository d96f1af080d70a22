"""Package formats: one folder each (deb/, rpm/), one small interface (`format.Format`), one
plain dict. A new format is a folder here whose `__init__` makes a `FORMAT`, and nothing else:
the registry is filled from the folders, so it cannot miss one.

Everything else asks the registry: the CLI's --format choices, the platforms' package_format
(builder/definitions, a layer below, reads the same folder names), the package extensions,
the publishers and the CI's repository kinds.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

from builder.errors import UsageError

if TYPE_CHECKING:
    from builder.formats.format import Format

    FORMATS: dict[str, Format]
    PACKAGERS: dict[str, Format]


@functools.cache
def _discovered() -> dict[str, Format]:
    found: dict[str, Format] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module.ispkg:
            package_format = importlib.import_module(f"{__name__}.{module.name}").FORMAT
            found[package_format.name] = package_format
    return found


def __getattr__(name: str) -> Any:
    """FORMATS (and its older name PACKAGERS, a packager being a format's file_name and
    build) is filled on first use: importing one module of a format (its reader, say) or the
    CLI's argument parser must not import every writer and repository with it."""
    if name in ("FORMATS", "PACKAGERS"):
        return _discovered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def format_named(name: str) -> Format:
    formats = _discovered()
    try:
        return formats[name]
    except KeyError:
        raise UsageError(f"'{name}' is not a package format",
                         hint=f"formats: {', '.join(formats)}") from None
