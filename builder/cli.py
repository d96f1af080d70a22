"""The `omnibus` command. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from builder.cache import ArtifactCache
from builder.errors import BuilderError, UnknownNameError
from builder.graph import Graph, resolve
from builder.keys import compute_keys
from builder.loader import load_catalog
from builder.model import Catalog
from builder.plan import make_plan
from builder.report import (
    describe,
    format_dot,
    format_list,
    format_plan,
    format_tree,
    plan_document,
)

DESCRIPTION = """\
Build GitLab's all-in-one packages from declarative definitions.

Definitions live under a root directory (default: the current directory; or --root DIR):
software/*.yml, projects/*.yml, platforms/*.yml, templates/, licenses/.
"""

EPILOG = """\
examples:
  omnibus list                                   every software, project and platform
  omnibus show openssl                           one definition, as loaded
  omnibus graph gitlab-here --format dot | dot -Tsvg > graph.svg
  omnibus plan gitlab-here --platform debian-12 --arch amd64
"""


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Given before or after the verb; a verb's parser must not reset what the top level set.
    default = {"root": None, "debug": False} if top else dict.fromkeys(("root", "debug"),
                                                                       argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=default["root"],
                        help="definitions root (default: the current directory)")
    parser.add_argument("--debug", action="store_true", default=default["debug"],
                        help="show the traceback of an error")


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project name (see 'omnibus list projects')")
    parser.add_argument("--platform", default="debian-12", help="platform id (default: debian-12)")
    parser.add_argument("--arch", default="amd64", help="amd64, arm64 or armhf (default: amd64)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omnibus", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, top=True)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="list software, projects and platforms")
    listing.add_argument("kind", nargs="?", choices=("software", "projects", "platforms"),
                         help="only this kind (default: all)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _common(listing)

    show = verbs.add_parser("show", help="show one software, project or platform as loaded")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    _common(show)

    graph = verbs.add_parser("graph", help="a project's dependency graph")
    _target(graph)
    graph.add_argument("--format", choices=("text", "dot"), default="text",
                       help="text tree (default) or Graphviz dot")
    _common(graph)

    plan = verbs.add_parser("plan", help="what a build would do: keys, cache hits, and why")
    _target(plan)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--cache-dir", type=Path, default=None,
                      help="artifact cache (default: $OMNIBUS_CACHE_DIR or ROOT/cache)")
    _common(plan)
    return parser


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


def run_plan(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    cache_dir = args.cache_dir or Path(
        os.environ.get("OMNIBUS_CACHE_DIR") or catalog.root / "cache"
    )
    entries = make_plan(graph, compute_keys(graph, catalog.root), ArtifactCache(cache_dir))
    if args.json:
        return json.dumps(plan_document(graph, entries), indent=2)
    return format_plan(graph, entries)


VERBS = {"list": run_list, "show": run_show, "graph": run_graph, "plan": run_plan}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        catalog = load_catalog(_root(args))
        output = VERBS[args.verb](catalog, args)
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
