"""The verbs that fetch, build and touch the machine: fetch, build, image, setup-deb-src.

Kept apart from `cli` so the quick verbs (list, show, graph, plan) never import the
fetching and building machinery.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from builder.aptsources import write_deb_src
from builder.build import DEFAULT_EPOCH, BuildSettings
from builder.cli import _cache_dir, _graph, _locks_path, _platform, _remote
from builder.console import ProgressPrinter
from builder.docker import docker
from builder.errors import BuilderError, UsageError
from builder.fetch import fetch_sources
from builder.fetchers import FetchContext, FetchedSource
from builder.graph import Graph
from builder.images import ensure_image
from builder.keys import KeyRecord, compute_keys
from builder.locks import load_locks
from builder.mirrors import mirror_chain
from builder.model import Catalog, Compression
from builder.packageproject import (
    PackageSettings,
    package_project,
    signing_from,
    source_date_epoch,
)
from builder.prefix import release_stale
from builder.report import format_build, format_failure, format_fetch, format_packages
from builder.runners import remove_stale_containers
from builder.scheduler import build_graph, forced_set
from builder.version import BuildIdentity


def _fetch(catalog: Catalog, args: argparse.Namespace, graph: Graph, printer: ProgressPrinter,
           jobs: int) -> dict[str, FetchedSource]:
    context = FetchContext(
        root=catalog.root, cache_dir=_cache_dir(catalog, args),
        mirrors=mirror_chain(args.mirror, args.mirrors), offline=args.offline,
        refresh=args.refresh, locks=load_locks(_locks_path(catalog, args)), report=printer,
    )
    chain = ", ".join(m.describe() for m in context.mirrors) or "none (cache only)"
    printer.line(f"fetching sources of {graph.project.name} for {graph.platform.id}/{graph.arch}"
                 f" ({'offline' if args.offline else 'mirrors: ' + chain})")
    return fetch_sources(graph, context, jobs, _locks_path(catalog, args),
                         locks_only=getattr(args, "locks_only", False))


def run_fetch(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    started = time.monotonic()
    results = _fetch(catalog, args, graph, ProgressPrinter(), args.jobs)
    if args.locks_only:
        return (f"{len(results)} git sources locked in {_locks_path(catalog, args)} "
                f"({time.monotonic() - started:.1f} s)")
    return format_fetch(results, time.monotonic() - started)


def check_path_sources(fetched: dict, keys: dict[str, KeyRecord]) -> None:
    """A path source edited between its snapshot and the keys would be built under a key
    that does not describe it; refuse instead of caching that."""
    for name, source in fetched.items():
        if source is not None and source.kind == "path" and \
                keys[name].inputs.get("source") != f"path:{source.locked_version}":
            raise BuilderError(f"{name}: its source files changed while the build started",
                               hint="run the build again once the edits are done")


def run_build(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    printer = ProgressPrinter()
    started = time.monotonic()
    fetched = _fetch(catalog, args, graph, printer, 4)
    keys = compute_keys(graph, catalog.root, load_locks(_locks_path(catalog, args)))
    check_path_sources(fetched, keys)
    unknown = set(args.force) - set(graph.software)
    if unknown:
        raise UsageError(f"--force names software not in this build: {', '.join(sorted(unknown))}",
                         hint=f"software in this build: {', '.join(graph.order)}")
    settings = BuildSettings(root=catalog.root, cache_dir=_cache_dir(catalog, args).resolve(),
                             jobs=args.jobs, runner=args.runner,
                             force=forced_set(graph, frozenset(args.force)),
                             remote=_remote(args))
    image = ""
    if args.runner == "docker":
        image = ensure_image(graph.platform, graph.arch, catalog.root, printer)
        remove_stale_containers()
    release_stale(settings.cache_dir / "work")
    printer.line(f"building {graph.project.name} for {graph.platform.id}/{graph.arch} "
                 f"(jobs {args.jobs}, runner {args.runner})")
    outcomes = build_graph(graph, keys, image, settings, fetched, printer)
    for outcome in outcomes:
        if outcome.status == "failed":
            printer.line(format_failure(outcome))
    summary = format_build(outcomes, time.monotonic() - started)
    failed = [o.name for o in outcomes if o.status == "failed"]
    if failed:
        printer.line(summary)
        raise BuilderError(f"{len(failed)} of {len(outcomes)} software failed to build: "
                           f"{', '.join(failed)}",
                           hint="see the log tails above; fix and re-run: what was built is "
                           "cached and will not build again")
    if not args.package:
        return summary
    return summary + "\n\n" + _package(catalog, args, graph, printer, keys)


def _package_settings(catalog: Catalog, args: argparse.Namespace, graph: Graph) -> PackageSettings:
    environ = dict(os.environ)
    if args.pipeline_id is not None:
        environ["CI_PIPELINE_ID"] = args.pipeline_id
    if args.commit is not None:
        environ["CI_COMMIT_SHA"] = args.commit
    return PackageSettings(
        root=catalog.root, cache_dir=_cache_dir(catalog, args).resolve(),
        out_dir=(args.out or catalog.root / "pkg").resolve(),
        formats=args.formats or (graph.platform.package_format,),
        build=BuildIdentity.from_environment(args.build_kind, environ),
        epoch=source_date_epoch(environ, DEFAULT_EPOCH),
        signing=signing_from(args.sign_key, environ), threads=args.threads or 0,
        compression=Compression(*args.compression) if args.compression else None,
        remote=_remote(args),
    )


def _package(catalog: Catalog, args: argparse.Namespace, graph: Graph,
             printer: ProgressPrinter, keys: dict[str, KeyRecord] | None = None) -> str:
    """Package the built project; `keys` are the build's, when it just ran."""
    settings = _package_settings(catalog, args, graph)
    locks = load_locks(_locks_path(catalog, args))
    if keys is None:
        keys = compute_keys(graph, catalog.root, locks)
    started = time.monotonic()
    compression = settings.compression or graph.platform.compression
    printer.line(f"packaging {graph.project.name} for {graph.platform.id}/{graph.arch} as "
                 f"{', '.join(settings.formats)} ({compression.type} {compression.level}) "
                 f"into {settings.out_dir}")
    packages = package_project(graph, keys, locks, settings, printer.line)
    return format_packages(packages, time.monotonic() - started)


def run_package(catalog: Catalog, args: argparse.Namespace) -> str:
    return _package(catalog, args, _graph(catalog, args), ProgressPrinter())


def run_setup_deb_src(args: argparse.Namespace) -> str:
    written, changed = write_deb_src(args.also)
    if written is None:
        return "apt already has deb-src entries for every deb entry; nothing written"
    if not changed:
        return f"{written} is up to date"
    result = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuilderError(f"apt-get update failed after writing {written}:\n"
                           f"{result.stderr.strip()[-800:]}",
                           hint=f"check {written}; delete it to undo")
    return f"wrote {written} and updated apt's source indexes"


def run_image(catalog: Catalog, args: argparse.Namespace) -> str:
    platform = _platform(catalog, args)
    if args.arch not in platform.arches:
        raise UsageError(f"platform {platform.id} does not support arch '{args.arch}'",
                         hint=f"{platform.id} supports: {', '.join(platform.arches)}")
    printer = ProgressPrinter()
    started = time.monotonic()
    if args.image_verb == "package":
        from builder.appimage import build_image, choose_package

        package = choose_package(catalog, args, platform)
        return build_image(catalog.root, platform, args.arch, package, args.tag, printer)
    tag = ensure_image(platform, args.arch, catalog.root, printer)
    if args.tag:
        docker("tag", tag, args.tag)
        tag = f"{tag} as {args.tag}"
    return f"{tag}  ({time.monotonic() - started:.1f} s)"
