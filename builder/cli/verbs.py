"""Each verb of `omnibus`: its arguments made into the application layer's settings, the use
case run, its result rendered as text. `VERBS` is the table `main` dispatches on.

The build, package, publish and image machinery is imported only when such a verb runs, so
the quick verbs (list, show, graph, plan) start quickly.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from builder.app.workspace import Target, Workspace, resolve_target
from builder.definitions.model import plain
from builder.errors import UnknownNameError

if TYPE_CHECKING:
    from builder.console import ProgressPrinter

Verb = Callable[[argparse.Namespace], str]


def progress() -> ProgressPrinter:
    """Progress output for the long verbs (imported with them: it needs threading)."""
    from builder.console import ProgressPrinter

    return ProgressPrinter()


def workspace_of(args: argparse.Namespace) -> Workspace:
    return Workspace.at(args.root, getattr(args, "cache_dir", None),
                        getattr(args, "locks", None), getattr(args, "remote_cache", None))


def target_of(args: argparse.Namespace) -> Target:
    return Target(args.project, args.platform, args.arch)


def run_list(args: argparse.Namespace) -> str:
    from builder.cli.report import format_list

    catalog = workspace_of(args).catalog()
    kinds = (args.kind,) if args.kind else ("software", "projects", "platforms")
    if args.json:
        groups = {"software": catalog.software, "projects": catalog.projects,
                  "platforms": catalog.platforms}
        return json.dumps({k: plain(groups[k]) for k in kinds}, indent=2, sort_keys=True)
    return format_list(catalog, kinds)


def run_show(args: argparse.Namespace) -> str:
    from builder.cli.report import describe

    catalog = workspace_of(args).catalog()
    found = [group[args.name] for group in (catalog.software, catalog.projects, catalog.platforms)
             if args.name in group]
    if not found:
        known = sorted({*catalog.software, *catalog.projects, *catalog.platforms})
        raise UnknownNameError("definition", args.name, known)
    if args.json:
        return json.dumps([plain(item) for item in found], indent=2, sort_keys=True)
    return "\n\n".join(describe(item) for item in found)


def run_graph(args: argparse.Namespace) -> str:
    from builder.cli.report import format_dot, format_tree

    graph = resolve_target(workspace_of(args).catalog(), target_of(args))
    return format_dot(graph) if args.format == "dot" else format_tree(graph)


def run_plan(args: argparse.Namespace) -> str:
    from builder.app.inspect import plan
    from builder.cli.report import format_plan, plan_document

    graph, entries = plan(workspace_of(args), target_of(args))
    if args.json:
        return json.dumps(plan_document(graph, entries), indent=2)
    return format_plan(graph, entries)


def fetch_options(args: argparse.Namespace, jobs: int):
    from builder.app.build import FetchOptions

    return FetchOptions(mirrors=tuple(args.mirror or ()), mirrors_file=args.mirrors,
                        offline=args.offline, refresh=args.refresh, jobs=jobs,
                        locks_only=getattr(args, "locks_only", False))


def run_fetch(args: argparse.Namespace) -> str:
    from builder.app.build import fetch
    from builder.cli.report import format_fetch

    workspace = workspace_of(args)
    result = fetch(workspace, target_of(args), fetch_options(args, args.jobs), progress())
    if args.locks_only:
        return (f"{len(result.sources)} git sources locked in {workspace.locks_path} "
                f"({result.seconds:.1f} s)")
    return format_fetch(result.sources, result.seconds)


def package_options(args: argparse.Namespace):
    from builder.app.package import PackageOptions
    from builder.definitions.model import Compression

    return PackageOptions(
        formats=args.formats, out_dir=args.out, build_kind=args.build_kind,
        pipeline_id=args.pipeline_id, commit=args.commit, sign_key=args.sign_key,
        compression=Compression(*args.compression) if args.compression else None,
        threads=args.threads)


def run_build(args: argparse.Namespace) -> str:
    from builder.app.build import BuildFailed, BuildOptions, build
    from builder.app.package import package_graph
    from builder.cli.report import format_build, format_failure, format_packages

    workspace, printer = workspace_of(args), progress()
    options = BuildOptions(jobs=args.jobs, runner=args.runner, force=tuple(args.force),
                           fetch=fetch_options(args, 4))
    try:
        result = build(workspace, target_of(args), options, printer)
    except BuildFailed as failure:
        for outcome in failure.result.failed:
            printer.line(format_failure(outcome))
        printer.line(format_build(failure.result.outcomes, failure.result.seconds))
        raise
    summary = format_build(result.outcomes, result.seconds)
    if not args.package:
        return summary
    started = time.monotonic()
    packages = package_graph(workspace, result.graph, package_options(args), printer.line,
                             result.keys)
    return summary + "\n\n" + format_packages(packages, time.monotonic() - started)


def run_package(args: argparse.Namespace) -> str:
    from builder.app.package import package
    from builder.cli.report import format_packages

    started = time.monotonic()
    packages = package(workspace_of(args), target_of(args), package_options(args),
                       progress().line)
    return format_packages(packages, time.monotonic() - started)


def run_publish(args: argparse.Namespace) -> str:
    from builder.app.publish import PublishOptions, publish

    options = PublishOptions(repo=args.repo, packages=tuple(args.packages), source=args.source,
                             format=args.format, sign_key=args.sign_key,
                             base_url=args.base_url, reproducible=args.reproducible)
    return publish(workspace_of(args), args.project, args.platform, options, print).summary()


def run_image(args: argparse.Namespace) -> str:
    from builder.app.image import ImageOptions, allinone_image, builder_image

    if args.image_verb == "package":
        options = ImageOptions(package=args.package, source=args.source, tag=args.tag)
        return allinone_image(workspace_of(args), target_of(args), options, progress())
    return builder_image(workspace_of(args), args.platform, args.arch, args.tag,
                         progress())


def run_setup_deb_src(args: argparse.Namespace) -> str:
    from builder.app.host import setup_deb_src

    return setup_deb_src(args.also)


def run_ci(args: argparse.Namespace) -> str:
    from builder.app.ci import check_licenses, generate

    catalog = workspace_of(args).catalog()
    if args.ci_verb == "check-licenses":
        return check_licenses(catalog, args.projects)
    return generate(catalog, args.projects, args.out)


def run_assets(args: argparse.Namespace) -> str:
    from builder.errors import BuilderError

    raise BuilderError(f"omnibus assets {args.assets_verb}: not built yet (compiling "
                       f"{args.project}'s frontend assets into cache/assets/<rails commit>.tar.*)",
                       hint="the pipeline's assets job calls it; until the verb exists, put "
                       "the assets there by hand")


VERBS: dict[str, Verb] = {
    "list": run_list, "show": run_show, "graph": run_graph, "plan": run_plan,
    "fetch": run_fetch, "build": run_build, "package": run_package, "publish": run_publish,
    "image": run_image, "setup-deb-src": run_setup_deb_src, "ci": run_ci,
    "assets": run_assets,
}
