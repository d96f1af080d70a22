"""Toolchains (Go, Node.js, yarn): fetched once per arch, verified, unpacked into the cache.

Layout under `<cache>/toolchains/`:
  <name>-<version>-<arch>-<digest>/   the unpacked files (complete trees only: made in a
                                      hidden sibling and renamed into place)
The pinned files go through the download cache like any source, so `--offline` works once
they were fetched. Where they come from is never written here: Debian binary packages from
the mirror apt is configured with (or OMNIBUS_DEBIAN_MIRRORS), npm packages from the registry
npm is configured with (or NPM_CONFIG_REGISTRY).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from builder.definitions.model import Toolchain, ToolchainFile
from builder.digests import sha256_json
from builder.errors import BuilderError, FetchError
from builder.sources.downloads import (
    Checksum,
    DownloadCache,
    PermanentHttpError,
    http_download,
)
from builder.sources.extract import extract_archive
from builder.sources.registries import debian_mirrors, npm_registry
from builder.sources.unpack_deb import data_archive

Report = Callable[[str], None]


def checksum_of(item: ToolchainFile) -> Checksum:
    if item.integrity:
        raw = base64.b64decode(item.integrity.partition("-")[2])
        return Checksum("sha512", raw.hex())
    return Checksum("sha256", str(item.sha256))


def toolchain_dir(cache_dir: Path, toolchain: Toolchain, arch: str) -> Path:
    """Where `toolchain` is unpacked for `arch`; the name changes with any pin."""
    files = toolchain.files_for(arch) or ()
    digest = sha256_json([[f.kind, f.location, checksum_of(f).digest] for f in files])[:12]
    label = arch if arch in toolchain.files else "all"
    return cache_dir / "toolchains" / f"{toolchain.name}-{toolchain.version}-{label}-{digest}"


def mount_dir(cache_dir: Path, toolchain: Toolchain, arch: str) -> Path:
    """The directory builds see at `toolchain.mount`."""
    return toolchain_dir(cache_dir, toolchain, arch) / toolchain.root


def _urls(item: ToolchainFile) -> list[str]:
    if item.kind == "debian":
        return [f"{base.rstrip('/')}/{item.location}" for base in debian_mirrors()]
    name, _, _version = item.location.rpartition("@")
    return [f"{npm_registry().rstrip('/')}/{name}/-/{item.file_name}"]


def fetch_file(cache: DownloadCache, toolchain: Toolchain, item: ToolchainFile,
               offline: bool, report: Report) -> Path:
    """The verified file from the download cache, downloading it first if needed."""
    checksum = checksum_of(item)
    cached = cache.lookup(checksum)
    if cached:
        return cached
    what = f"toolchain {toolchain.name} {toolchain.version}: {item.file_name}"
    if offline:
        raise FetchError(f"{what} is not in the download cache and --offline forbids fetching",
                         hint="run `omnibus toolchains --fetch` (or a build) once with access "
                         "to the Debian mirror / npm registry")
    import requests

    tried = []
    with requests.Session() as session:
        for url in _urls(item):
            partial = cache.partial_path(checksum, url)
            report(f"fetching {what}")
            try:
                http_download(session, url, partial, timeout=120.0)
            except (PermanentHttpError, FetchError) as error:
                tried.append(f"{url}: {error.message}")
                continue
            return cache.store(checksum, item.file_name, partial, toolchain.name, item.file_name)
    raise FetchError(f"cannot fetch {what}", hint="tried: " + "; ".join(tried))


def ensure_toolchain(cache_dir: Path, toolchain: Toolchain, arch: str, offline: bool = False,
                     report: Report = lambda _line: None) -> Path:
    """The unpacked toolchain's mount directory, fetching and unpacking it if needed."""
    target = toolchain_dir(cache_dir, toolchain, arch)
    if not target.is_dir():
        cache = DownloadCache(cache_dir / "downloads")
        files = [fetch_file(cache, toolchain, item, offline, report)
                 for item in toolchain.files_for(arch) or ()]
        report(f"unpacking toolchain {toolchain.name} {toolchain.version} for {arch}")
        _unpack(files, target, toolchain.root)
    root = mount_dir(cache_dir, toolchain, arch)
    if not root.is_dir():
        raise BuilderError(f"toolchain {toolchain.name}: its files have no '{toolchain.root}'",
                           hint=f"fix `root:` in {toolchain.file} (the directory to mount)")
    return root


def ensure_toolchains(cache_dir: Path, toolchains: Mapping[str, Toolchain], arch: str,
                      offline: bool = False,
                      report: Report = lambda _line: None) -> dict[str, Path]:
    """Each toolchain that has a build for `arch`, unpacked (see compile.build for those
    without one)."""
    return {name: ensure_toolchain(cache_dir, toolchain, arch, offline, report)
            for name, toolchain in sorted(toolchains.items()) if toolchain.files_for(arch)}


def _unpack(files: list[Path], target: Path, root: str) -> None:
    """Unpack every file over one tree, then rename it to `target` in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        tree = staging / "tree"
        tree.mkdir()
        for number, file in enumerate(files):
            part = staging / f"part-{number}"
            archive = data_archive(file, staging / f"data-{number}") \
                if file.name.endswith(".deb") else file
            extract_archive(archive, part)
            _merge(part, tree)
        _inline_links(tree, tree / root)
        os.rename(tree, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _merge(source: Path, dest: Path) -> None:
    """Move `source`'s entries into `dest`, merging directories (later files win)."""
    for entry in sorted(source.iterdir()):
        there = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and there.is_dir() \
                and not there.is_symlink():
            _merge(entry, there)
        else:
            if there.is_dir() and not there.is_symlink():
                shutil.rmtree(there)
            elif os.path.lexists(there):
                there.unlink()
            os.rename(entry, there)


def _inline_links(tree: Path, root: Path) -> None:
    """Symlinks under `root` that point elsewhere in the tree (Debian's Go links src/ to
    /usr/share/go-1.24/src) are replaced by what they point to, as only `root` is mounted."""
    if not root.is_dir():
        return
    tree_real = tree.resolve()
    root_real = root.resolve()
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            link = Path(directory) / name
            if not link.is_symlink():
                continue
            pointed = link.resolve()
            inside_tree = pointed.is_relative_to(tree_real)
            if inside_tree and not pointed.is_relative_to(root_real) and pointed.exists():
                link.unlink()
                os.rename(pointed, link)
