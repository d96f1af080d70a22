"""The toolchains use cases behind `omnibus toolchains` and `omnibus toolchain-path`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from builder.app.workspace import Workspace
from builder.definitions.model import Catalog, Toolchain
from builder.errors import UnknownNameError
from builder.sources.toolchains import ensure_toolchain, mount_dir


def _named(catalog: Catalog, names: Sequence[str]) -> list[Toolchain]:
    for name in names:
        if name not in catalog.toolchains:
            raise UnknownNameError("toolchain", name, sorted(catalog.toolchains))
    return [catalog.toolchains[n] for n in (names or sorted(catalog.toolchains))]


def describe_toolchains(workspace: Workspace, names: Sequence[str], arch: str) -> str:
    """One line per toolchain: version, arches, mount point, users, and whether it is here."""
    catalog = workspace.catalog()
    lines = []
    for toolchain in _named(catalog, names):
        users = sorted(s.name for s in catalog.software.values()
                       if toolchain.name in s.toolchains)
        unpacked = mount_dir(workspace.cache_dir, toolchain, arch)
        state = (f"unpacked ({unpacked})" if unpacked.is_dir()
                 else "not fetched" if toolchain.files_for(arch) else f"no {arch} build")
        lines.append(f"{toolchain.name} {toolchain.version}  arches: "
                     f"{', '.join(toolchain.files)}  at {toolchain.mount}  {arch}: {state}")
        lines.append(f"  used by: {', '.join(users) or 'nothing'}")
    return "\n".join(lines)


def fetch_toolchains(workspace: Workspace, names: Sequence[str], arch: str, offline: bool,
                     report: Callable[[str], None]) -> dict[str, Path]:
    """Fetch, verify and unpack each toolchain (all by default) for `arch`."""
    catalog = workspace.catalog()
    return {t.name: ensure_toolchain(workspace.cache_dir.resolve(), t, arch, offline, report)
            for t in _named(catalog, names) if t.files_for(arch)}


def toolchain_path(workspace: Workspace, name: str, arch: str, offline: bool,
                   report: Callable[[str], None]) -> Path:
    """The unpacked toolchain's directory (what builds see at its mount point)."""
    toolchain = _named(workspace.catalog(), [name])[0]
    return ensure_toolchain(workspace.cache_dir.resolve(), toolchain, arch, offline, report)
