"""`url` sources: a file pinned by checksum, from the download cache or the mirror chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from builder.definitions.model import DebianOrig, Software, UrlSource
from builder.errors import FetchError
from builder.sources import debian_archive, pypi
from builder.sources.downloads import Checksum, DownloadCache, copy_into, http_download
from builder.sources.fetchers.base import FetchContext, FetchedSource, SourceUnavailable
from builder.sources.mirrors import Mirror

Obtain = Callable[[Path], None]  # writes the candidate file to the given path


def source_filename(software: Software, source: UrlSource) -> str:
    """The name the file is cached under (and asked of http and dir mirrors as {filename})."""
    name = unquote(Path(urlsplit(source.url).path).name) if source.url else ""
    if not name and source.pypi:
        return f"{source.pypi}-{software.version}.tar.gz"
    return name or f"{software.name}-{software.version}.tar"


def _http(context: FetchContext, name: str, url: str) -> Obtain:
    def obtain(partial: Path) -> None:
        import requests

        last_report = [0]

        def progress(done: int, total: int | None) -> None:
            if done - last_report[0] >= 8 << 20:  # a line per 8 MiB is plenty in CI logs
                last_report[0] = done
                size = f"/{total >> 20} MiB" if total else " MiB"
                context.report(name, f"{done >> 20}{size} from {url}", transient=True)

        with requests.Session() as session:
            http_download(session, url, partial, attempts=context.retries,
                          timeout=context.timeout, progress=progress)
    return obtain


def _package_index(context: FetchContext, name: str, project: str, sha256: str) -> Obtain:
    def obtain(partial: Path) -> None:
        import requests

        with requests.Session() as session:
            url, filename = pypi.locate(session, project, sha256, context.timeout)
            context.report(name, f"fetching {filename} from the package index")
            http_download(session, url, partial, attempts=context.retries,
                          timeout=context.timeout)
    return obtain


def _copy(source: Path) -> Obtain:
    def obtain(partial: Path) -> None:
        if not source.is_file():
            raise FetchError("no such file")
        copy_into(source, partial)
    return obtain


def _debian(orig: DebianOrig, sha256: str | None) -> Obtain:
    def obtain(partial: Path) -> None:
        debian_archive.fetch_orig(orig, sha256, partial)
    return obtain


def _attempts(mirror: Mirror, software: Software, source: UrlSource, filename: str,
              context: FetchContext) -> Iterator[tuple[str, Obtain | None, str]]:
    """(label, how to obtain or None, why not) for one mirror."""
    checksum = Checksum.of(source)
    fields = {"name": software.name, "version": software.version, "filename": filename,
              "sha256": source.sha256 or "", "sha512": source.sha512 or "",
              "checksum": checksum.digest}
    if mirror.kind == "upstream":
        if source.pypi is not None:
            yield (f"package index ({source.pypi})",
                   _package_index(context, software.name, source.pypi, checksum.digest), "")
        elif source.url is None:
            yield "upstream", None, "the definition has no upstream URL (Debian-only source)"
        else:
            yield source.url, _http(context, software.name, source.url), ""
    elif mirror.kind == "http":
        url = mirror.location.format(**fields)
        yield url, _http(context, software.name, url), ""
    elif mirror.kind == "dir":
        path = Path(mirror.location) / software.name / filename
        yield str(path), _copy(path), ""
    elif mirror.kind == "debian":
        if source.debian is None:
            yield "debian", None, "the definition names no Debian source package"
        else:
            orig = source.debian
            label = f"debian source {orig.package}" + (f" ({orig.version})" if orig.version else "")
            yield label, _debian(orig, source.sha256), ""


def fetch(software: Software, context: FetchContext) -> FetchedSource:
    source = software.source
    assert isinstance(source, UrlSource)
    checksum = Checksum.of(source)
    cache = DownloadCache(context.cache_dir / "downloads")
    cached = cache.lookup(checksum)
    if cached is not None:
        return FetchedSource(software.name, "url", cached, checksum.digest, "cache")
    if context.offline:
        raise SourceUnavailable(software.name, [], offline=True)
    filename = source_filename(software, source)
    tried: list[str] = []
    for mirror in context.mirrors:
        for label, obtain, why_not in _attempts(mirror, software, source, filename, context):
            if obtain is None:
                tried.append(f"{label}: skipped, {why_not}")
                continue
            context.report(software.name, f"fetching {label}")
            partial = cache.partial_path(checksum, label)
            try:
                obtain(partial)
                stored = cache.store(checksum, filename, partial, software.name, label)
            except FetchError as error:
                tried.append(f"{label}: {error.message}")
                continue
            return FetchedSource(software.name, "url", stored, checksum.digest, label)
    raise SourceUnavailable(software.name, tried)
