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
from builder.console import ProgressPrinter
from builder.errors import BuilderError, UnknownNameError
from builder.fetch import LOCKS_FILE, fetch_sources, load_locks
from builder.fetchers import FetchContext
from builder.graph import Graph, resolve
from builder.keys import compute_keys
from builder.loader import load_catalog
from builder.mirrors import mirror_chain
from builder.model import Catalog
from builder.plan import make_plan
from builder.report import (
    describe,
    format_dot,
    format_fetch,
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
    _cache_options(plan)
    _common(plan)

    fetch = verbs.add_parser(
        "fetch", help="fetch and verify every source a project needs",
        description="Fetch every source of a project into the download cache, verified by "
        "checksum, trying the mirror chain in order. Git refs are locked to commits.",
        epilog=MIRRORS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target(fetch)
    _cache_options(fetch)
    fetch.add_argument("--mirror", action="append", metavar="SPEC",
                       help="add a mirror (repeatable; replaces the default chain)")
    fetch.add_argument("--mirrors", type=Path, metavar="FILE", help="mirror chain from a file")
    fetch.add_argument("--offline", action="store_true",
                       help="use only the download cache; list what is missing")
    fetch.add_argument("--refresh", action="store_true",
                       help="re-resolve git branches and tags even when locked")
    fetch.add_argument("--jobs", type=_positive, default=4, help="parallel fetches (default 4)")
    _common(fetch)

    debsrc = verbs.add_parser(
        "setup-deb-src", help="let apt fetch Debian source packages (for the debian mirror)",
        description="Write deb-src twins of apt's deb entries (same mirrors and keys) to "
        "/etc/apt/sources.list.d/omnibus-deb-src.sources, then run apt-get update. Needs root.",
    )
    debsrc.add_argument("--also", action="append", default=[], metavar="CODENAME",
                        help="also a newer release's sources, e.g. --also trixie")
    _common(debsrc)
    return parser


MIRRORS_HELP = """\
mirrors (tried in order; whoever serves the bytes, the definition's checksum decides):
  upstream                the URL or git remote in the definition
  debian                  the .orig tarball of the definition's Debian source package, via apt
  https://HOST/{name}/{filename}   an HTTP mirror (also {version} {sha256} {sha512} {checksum})
  dir:/srv/sources        a directory laid out as DIR/NAME/FILENAME
  git:https://HOST/{name}.git      an alternative git remote
default chain: upstream, then debian. --mirrors FILE holds `mirrors: [{kind: http, url: ...}]`.
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache (default: $OMNIBUS_CACHE_DIR or ROOT/cache)")
    parser.add_argument("--locks", type=Path, default=None, metavar="FILE",
                        help="git source locks (default: CACHE_DIR/source-locks.json)")


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


def run_plan(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    locks = load_locks(_locks_path(catalog, args))
    keys = compute_keys(graph, catalog.root, locks)
    entries = make_plan(graph, keys, ArtifactCache(_cache_dir(catalog, args)))
    if args.json:
        return json.dumps(plan_document(graph, entries), indent=2)
    return format_plan(graph, entries)


def run_fetch(catalog: Catalog, args: argparse.Namespace) -> str:
    graph = _graph(catalog, args)
    printer = ProgressPrinter()
    context = FetchContext(
        root=catalog.root, cache_dir=_cache_dir(catalog, args),
        mirrors=mirror_chain(args.mirror, args.mirrors), offline=args.offline,
        refresh=args.refresh, locks=load_locks(_locks_path(catalog, args)), report=printer,
    )
    chain = ", ".join(m.describe() for m in context.mirrors) or "none (cache only)"
    printer.line(f"fetching sources of {graph.project.name} for {graph.platform.id}/{graph.arch}"
                 f" ({'offline' if args.offline else 'mirrors: ' + chain})")
    started = time.monotonic()
    results = fetch_sources(graph, context, args.jobs, _locks_path(catalog, args))
    return format_fetch(results, time.monotonic() - started)


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


VERBS = {"list": run_list, "show": run_show, "graph": run_graph, "plan": run_plan,
         "fetch": run_fetch}
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
