"""Vendored dependencies: what a build would download, fetched instead like sources.

A definition's `vendored:` names data files in the definitions root that pin every package:
  yarn_lock       a yarn v1 lockfile; each package comes from the npm registry, checked
                  against its integrity, and goes to <source>/.yarn-offline-mirror/
  go_modules      a list of Go modules, each the orig tarball of a Debian source package
                  pinned by sha256 (fetched through the mirror chain like any url source),
                  unpacked into <source>/vendor/<module>/, with go_modules_txt as
                  vendor/modules.txt
Placed into the unpacked source before patches apply (a patch may fix a vendored module),
so the build runs with no network: `yarn install --offline`, `go build -mod=vendor`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from builder.definitions.model import DebianOrig, Software, UrlSource, Vendored
from builder.definitions.strict import Section, section_of
from builder.definitions.yamlfile import load_yaml_file
from builder.errors import FetchError
from builder.sources import npm
from builder.sources.downloads import Checksum, DownloadCache
from builder.sources.extract import extract_archive
from builder.sources.fetchers import FetchContext
from builder.sources.fetchers import url as url_fetcher
from builder.sources.fetchers.base import SourceUnavailable

YARN_MIRROR = ".yarn-offline-mirror"
NPM_CACHE = "npm"  # under the cache dir: tarballs by yarn's mirror file name


@dataclass(frozen=True)
class GoModule:
    module: str
    version: str
    debian: DebianOrig
    sha256: str
    strip: str


def go_modules(root: Path, vendored: Vendored) -> list[GoModule]:
    """The module list, checked: each entry names its module, version, Debian source
    package, sha256 and the top directory of its tarball."""
    assert vendored.go_modules
    file = root / vendored.go_modules
    section = Section(file, load_yaml_file(file))
    section.allow(frozenset({"modules"}))
    modules = [_go_module(section_of(item, location))
               for item, location in section.items("modules")]
    if not modules:
        raise section.error("modules", "lists no Go modules",
                            hint="- {module, version, debian: {package, version}, sha256, strip}")
    return modules


def _go_module(entry: Section) -> GoModule:
    entry.allow(frozenset({"module", "version", "debian", "file", "sha256", "strip"}))
    debian = entry.section("debian", required=True)
    debian.allow(frozenset({"package", "version"}))
    module = entry.str("module", required=True)
    if PurePosixPath(module).is_absolute() or ".." in PurePosixPath(module).parts:
        raise entry.error("module", f"'{module}' is not a module path")
    sha256 = entry.str("sha256", required=True)
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise entry.error("sha256", "is not 64 hex digits")
    return GoModule(module, entry.str("version", required=True),
                    DebianOrig(debian.str("package", required=True), debian.str("version")),
                    sha256, entry.str("strip", default="."))


def yarn_entries(root: Path, vendored: Vendored) -> list[npm.LockEntry]:
    assert vendored.yarn_lock
    return npm.parse_lockfile((root / vendored.yarn_lock).read_text())


def _module_source(software: Software, module: GoModule) -> Software:
    """A module as a url source of its own, so it goes through the mirror chain."""
    return dataclasses.replace(
        software, name=f"{software.name}-{module.module.replace('/', '_')}",
        version=module.version, platforms={}, vendored=None,
        source=UrlSource(url=None, sha256=module.sha256, debian=module.debian))


def fetch_vendored(software: Software, context: FetchContext) -> None:
    """Every vendored package of `software` into the caches, verified; raises
    SourceUnavailable naming what is missing."""
    vendored = software.vendored
    if vendored is None:
        return
    if vendored.go_modules:
        for module in go_modules(context.root, vendored):
            url_fetcher.fetch(_module_source(software, module), context)
    if vendored.yarn_lock:
        _fetch_yarn(software, context, yarn_entries(context.root, vendored))


def _fetch_yarn(software: Software, context: FetchContext,
                entries: list[npm.LockEntry]) -> None:
    mirror = context.cache_dir / NPM_CACHE
    missing = [e.mirror_name for e in entries if not (mirror / e.mirror_name).is_file()]
    if context.offline:
        if missing:
            raise SourceUnavailable(software.name, [f"npm packages not cached: "
                                                    f"{', '.join(missing[:5])}"], offline=True)
        return
    if missing:
        context.report(software.name, f"fetching {len(missing)} of the {len(entries)} npm "
                                      "packages of its yarn.lock")
    try:
        npm.fetch_lockfile(entries, mirror, npm.configured_registry())
    except FetchError as error:
        raise SourceUnavailable(software.name, [error.message]) from error


def place_vendored(software: Software, root: Path, cache_dir: Path, source_root: Path) -> None:
    """Put the fetched packages where the build expects them (see the module docstring)."""
    vendored = software.vendored
    if vendored is None:
        return
    if vendored.yarn_lock:
        target = source_root / YARN_MIRROR
        target.mkdir(parents=True, exist_ok=True)
        for entry in yarn_entries(root, vendored):
            cached = cache_dir / NPM_CACHE / entry.mirror_name
            npm.verify_integrity(cached, entry.integrity)
            shutil.copyfile(cached, target / entry.mirror_name)
    if vendored.go_modules and vendored.go_modules_txt:
        cache = DownloadCache(cache_dir / "downloads")
        for module in go_modules(root, vendored):
            archive = cache.lookup(Checksum("sha256", module.sha256))
            if archive is None:
                raise FetchError(f"{software.name}: Go module {module.module} {module.version} "
                                 "is not in the download cache", hint="run `omnibus fetch` first")
            _unpack_module(archive, module, source_root / "vendor" / module.module)
        shutil.copyfile(root / vendored.go_modules_txt, source_root / "vendor" / "modules.txt")


def _unpack_module(archive: Path, module: GoModule, target: Path) -> None:
    if target.exists():
        raise FetchError(f"vendor/{module.module} exists in the source already",
                         hint="a source that vendors its modules needs no go_modules")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".module-") as scratch:
        extract_archive(archive, Path(scratch) / "x")
        top = Path(scratch) / "x" / module.strip
        if not top.is_dir():
            raise FetchError(f"Go module {module.module}: its tarball has no '{module.strip}'",
                             hint="fix `strip` in the module list (the tarball's top directory)")
        os.rename(top, target)
