"""`omnibus publish`: add a project's packages to the signed repository of their platform.

Without package files on the command line it takes every package in the packages directory
(default ROOT/pkg) whose .metadata.json names the project and the platform, all versions
and arches; the package format (--format, default the platform's) decides the repository
kind: apt for deb, yum for rpm.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from builder.cli import _platform, _root
from builder.errors import UsageError
from builder.model import Catalog, Platform
from builder.packageproject import signing_from
from builder.publish import PublishSettings, publisher
from builder.publish.common import export_key

EXTENSIONS = {"deb": ".deb", "rpm": ".rpm"}


def packages_for(out_dir: Path, project: str, platform: Platform,
                 package_format: str) -> list[Path]:
    """Packages in `out_dir` of this format whose metadata names this project and platform."""
    found = []
    for sidecar in sorted(out_dir.glob("*.metadata.json")):
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        package = out_dir / str(meta.get("basename", ""))
        if meta.get("name") == project and meta.get("platform") == platform.id and \
                package.suffix == EXTENSIONS[package_format] and package.is_file():
            found.append(package)
    return found


def _chosen_packages(args: argparse.Namespace, catalog: Catalog, platform: Platform,
                     package_format: str, out_dir: Path) -> list[Path]:
    if args.packages:
        wanted = EXTENSIONS[package_format]
        for package in args.packages:
            if not package.is_file():
                raise UsageError(f"{package}: no such package file",
                                 hint="give .deb/.rpm files, or none to take them from --from")
            if package.suffix != wanted:
                raise UsageError(f"{package}: {platform.id}'s {package_format} repository "
                                 f"takes {wanted} files",
                                 hint=f"publish it with --format {package.suffix[1:]}")
        return list(args.packages)
    if args.project not in catalog.projects:
        raise UsageError(f"unknown project '{args.project}'",
                         hint=f"projects: {', '.join(sorted(catalog.projects))}")
    found = packages_for(out_dir, catalog.projects[args.project].name, platform,
                         package_format)
    if not found:
        raise UsageError(f"no {package_format} package of {args.project} for "
                         f"{platform.id} in {out_dir}",
                         hint=f"build one first: omnibus build {args.project} --platform "
                         f"{platform.id} --format {package_format}")
    return found


def run_publish(catalog: Catalog, args: argparse.Namespace) -> str:
    platform = _platform(catalog, args)
    signing = signing_from(args.sign_key, os.environ)
    if signing is None:
        raise UsageError("repositories are always signed, and no key was given",
                         hint="pass --sign-key KEY or set OMNIBUS_SIGN_KEY (GNUPGHOME and "
                         "GPG_PASSPHRASE are honoured)")
    out_dir = (args.source or _root(args) / "pkg").resolve()
    package_format = args.format or platform.package_format
    packages = _chosen_packages(args, catalog, platform, package_format, out_dir)
    export_key(signing, armor=True)  # a key gpg does not know fails here, before any write
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    settings = PublishSettings(repo_root=args.repo.resolve(), platform=platform,
                               signing=signing, base_url=args.base_url,
                               package_format=package_format,
                               date=int(epoch) if epoch and args.reproducible else int(time.time()))
    started = time.monotonic()
    result = publisher(package_format)(packages, settings, print)
    lines = [f"{settings.name}: {len(result.added)} added, {len(result.unchanged)} already "
             f"published, in {time.monotonic() - started:.1f} s; repository {result.repo_dir}"]
    lines += [f"  client file: {path}" for path in result.client_files]
    return "\n".join(lines)
