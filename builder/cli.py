"""The `omnibus` command. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from builder.cache import ArtifactCache
from builder.cliargs import build_parser
from builder.errors import BuilderError, UnknownNameError, UsageError
from builder.graph import Graph, resolve
from builder.keys import compute_keys
from builder.loader import load_catalog
from builder.locks import LOCKS_FILE, load_locks
from builder.model import Catalog, Platform, plain
from builder.plan import make_plan
from builder.remote import RemoteCache
from builder.report import (
    describe,
    format_dot,
    format_list,
    format_plan,
    format_tree,
    plan_document,
)


def _root(args: argparse.Namespace) -> Path:
    return args.root if args.root is not None else Path.cwd()


def _platform(catalog: Catalog, args: argparse.Namespace) -> Platform:
    if args.platform not in catalog.platforms:
        raise UnknownNameError("platform", args.platform, sorted(catalog.platforms))
    return catalog.platforms[args.platform]


def _graph(catalog: Catalog, args: argparse.Namespace) -> Graph:
    if args.project not in catalog.projects:
        raise UnknownNameError("project", args.project, sorted(catalog.projects))
    platform = _platform(catalog, args)
    return resolve(catalog, catalog.projects[args.project], platform, args.arch)


def run_list(catalog: Catalog, args: argparse.Namespace) -> str:
    kinds = (args.kind,) if args.kind else ("software", "projects", "platforms")
    if args.json:
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


VERBS = {"list": run_list, "show": run_show, "graph": run_graph, "plan": run_plan}
#: Verbs that fetch or build live in `buildverbs`, imported only when one of them runs.
BUILD_VERBS = ("fetch", "build", "package", "image", "publish")
#: Verbs that act on the machine, not on a definitions root.
HOST_VERBS = ("setup-deb-src",)


def _dispatch(args: argparse.Namespace) -> str:
    if args.verb in VERBS:
        return VERBS[args.verb](load_catalog(_root(args)), args)
    if args.verb == "publish":
        from builder.publishverb import run_publish

        return run_publish(load_catalog(_root(args)), args)
    if args.verb == "ci":
        from builder.ci.verbs import run_ci

        return run_ci(load_catalog(_root(args)), args)
    from builder import buildverbs

    function = getattr(buildverbs, f"run_{args.verb.replace('-', '_')}")
    if args.verb in HOST_VERBS:
        return function(args)
    return function(load_catalog(_root(args)), args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = _dispatch(args)
    except BuilderError as error:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"omnibus: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("omnibus: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours: say so plainly, traceback with --debug
        if args.debug:
            raise
        print(f"omnibus: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("  hint: run again with --debug for the traceback, and report it", file=sys.stderr)
        return 70
    try:
        print(output)
    except BrokenPipeError:  # e.g. `omnibus list | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
