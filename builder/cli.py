"""The `omnibus` command. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from builder.aptsources import write_deb_src
from builder.cache import ArtifactCache
from builder.cliargs import build_parser
from builder.console import ProgressPrinter
from builder.errors import BuilderError, UnknownNameError, UsageError
from builder.fetch import LOCKS_FILE, fetch_sources, load_locks
from builder.fetchers import FetchContext, FetchedSource
from builder.graph import Graph, resolve
from builder.keys import compute_keys
from builder.loader import load_catalog
from builder.mirrors import mirror_chain
from builder.model import Catalog, Platform
from builder.plan import make_plan
from builder.remote import RemoteCache
from builder.report import (
    describe,
    format_build,
    format_dot,
    format_failure,
    format_fetch,
    format_list,
    format_plan,
    format_tree,
    plan_document,
)


def _root(args: argparse.Namespace) -> Path:
    return args.root if args.root is not None else Path.cwd()


def _graph(catalog: Catalog, args: argparse.Namespace) -> Graph:
    if args.project not in catalog.projects:
        raise UnknownNameError("project", args.project, sorted(catalog.projects))
    if args.platform not in catalog.platforms:
        raise UnknownNameError("platform", args.platform, sorted(catalog.platforms))
    platform = catalog.platforms[args.platform]
    return resolve(catalog, catalog.projects[args.project], platform, args.arch)


def run_list(catalog: Catalog, args: argparse.Namespace) -> str:
    kinds = (args.kind,) if args.kind else ("software", "projects", "platforms")
    if args.json:
        from builder.model import plain

        groups = {"software": catalog.software, "projects": catalog.projects,
                  "platforms": catalog.platforms}
        return json.dumps({k: plain(groups[k]) for k in kinds}, indent=2, sort_keys=True)
    return format_list(catalog, kinds)


def run_show(catalog: Catalog, args: argparse.Namespace) -> str:
    found = [group[args.name] for group in (catalog.software, catalog.projects, catalog.platforms)
             if args.name in group]
    if not found:
        known = sorted({*catalog.software, *catalog.projects, *catalog.platforms})
        raise UnknownNameError("definition", args.name, known)
    if args.json:
        from builder.model import plain

        return json.dumps([plain(item) for item in found], indent=2, sort_keys=True)
    return "\n\n".join(describe(item) for item in found)


def run_graph(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    return format_dot(graph) if args.format == "dot" else format_tree(graph)


def _cache_dir(catalog: Catalog, args: argparse.Namespace) -> Path:
    return args.cache_dir or Path(os.environ.get("OMNIBUS_CACHE_DIR") or catalog.root / "cache")


def _locks_path(catalog: Catalog, args: argparse.Namespace) -> Path:
    return args.locks or _cache_dir(catalog, args) / LOCKS_FILE


def _remote(args: argparse.Namespace) -> RemoteCache | None:
    url = getattr(args, "remote_cache", None)
    if url and not url.startswith(("http://", "https://")):
        raise UsageError(f"--remote-cache '{url}' must be an http:// or https:// URL")
    return RemoteCache(url) if url else None


def run_plan(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    locks = load_locks(_locks_path(catalog, args))
    keys = compute_keys(graph, catalog.root, locks)
    entries = make_plan(graph, keys, ArtifactCache(_cache_dir(catalog, args)), _remote(args))
    if args.json:
        return json.dumps(plan_document(graph, entries), indent=2)
    return format_plan(graph, entries)


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
    return fetch_sources(graph, context, jobs, _locks_path(catalog, args))


def run_fetch(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    started = time.monotonic()
    results = _fetch(catalog, args, graph, ProgressPrinter(), args.jobs)
    return format_fetch(results, time.monotonic() - started)


def run_build(catalog: Catalog, args: argparse.Namespace) -> str:
    # Imported here: the build machinery is not needed by the quick verbs (plan, list, ...).
    from builder.build import BuildSettings
    from builder.images import ensure_image
    from builder.prefix import release_stale
    from builder.runners import remove_stale_containers
    from builder.scheduler import build_graph, forced_set

    graph = _graph(catalog, args)
    printer = ProgressPrinter()
    started = time.monotonic()
    fetched = _fetch(catalog, args, graph, printer, 4)
    keys = compute_keys(graph, catalog.root, load_locks(_locks_path(catalog, args)))
    settings = BuildSettings(root=catalog.root, cache_dir=_cache_dir(catalog, args).resolve(),
                             jobs=args.jobs, runner=args.runner,
                             force=forced_set(graph, frozenset(args.force)),
                             remote=_remote(args))
    unknown = set(args.force) - set(graph.software)
    if unknown:
        raise UsageError(f"--force names software not in this build: {', '.join(sorted(unknown))}")
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
    return summary


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


def _platform(catalog: Catalog, args: argparse.Namespace) -> Platform:
    if args.platform not in catalog.platforms:
        raise UnknownNameError("platform", args.platform, sorted(catalog.platforms))
    platform = catalog.platforms[args.platform]
    if args.arch not in platform.arches:
        raise UsageError(f"platform {platform.id} does not support arch '{args.arch}'",
                         hint=f"{platform.id} supports: {', '.join(platform.arches)}")
    return platform


def run_image(catalog: Catalog, args: argparse.Namespace) -> str:
    from builder.images import ensure_image

    platform = _platform(catalog, args)
    printer = ProgressPrinter()
    started = time.monotonic()
    tag = ensure_image(platform, args.arch, catalog.root, printer)
    return f"{tag}  ({time.monotonic() - started:.1f} s)"


VERBS = {"build": run_build, "image": run_image, "list": run_list, "show": run_show,
         "graph": run_graph, "plan": run_plan, "fetch": run_fetch}
#: Verbs that act on the machine, not on a definitions root.
HOST_VERBS = {"setup-deb-src": run_setup_deb_src}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.verb in HOST_VERBS:
            output = HOST_VERBS[args.verb](args)
        else:
            output = VERBS[args.verb](load_catalog(_root(args)), args)
    except BuilderError as error:
        if args.debug:
            traceback.print_exc()
        print(f"omnibus: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("omnibus: interrupted", file=sys.stderr)
        return 130
    try:
        print(output)
    except BrokenPipeError:  # e.g. `omnibus list | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
