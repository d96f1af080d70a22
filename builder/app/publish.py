"""`omnibus publish`: add a project's packages to the signed repository of their platform.

Without package files on the command line it takes every package in the packages directory
(default ROOT/pkg) whose .metadata.json names the project and the platform, all versions
and arches; the package format (--format, default the platform's) decides the repository
kind, which the format's folder writes (apt for deb, yum for rpm). The client files carry
the project's `names:` (projects/NAME.yml).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from builder.app.package import signing_from
from builder.app.workspace import Workspace, platform_named
from builder.definitions.model import Catalog, Platform
from builder.errors import UsageError
from builder.formats import FORMATS, format_named
from builder.formats.repofiles import export_key
from builder.publish import PublishResult, PublishSettings, publisher
from builder.publish.packages import packages_for


@dataclass(frozen=True)
class PublishOptions:
    """`packages` empty: the project's packages in `source` (default ROOT/pkg). `format`
    None: the platform's own. `reproducible`: the indexes' dates from SOURCE_DATE_EPOCH."""

    repo: Path
    packages: tuple[Path, ...] = ()
    source: Path | None = None
    format: str | None = None
    sign_key: str | None = None
    base_url: str = "http://localhost/"
    reproducible: bool = False


@dataclass(frozen=True)
class Published:
    settings: PublishSettings
    result: PublishResult
    seconds: float

    def summary(self) -> str:
        lines = [f"{self.settings.name}: {len(self.result.added)} added, "
                 f"{len(self.result.unchanged)} already published, in {self.seconds:.1f} s; "
                 f"repository {self.result.repo_dir}"]
        lines += [f"  client file: {path}" for path in self.result.client_files]
        return "\n".join(lines)


def _other_format_hint(package: Path) -> str:
    for name, each in FORMATS.items():
        if package.name.endswith(each.extension):
            return f"publish it with --format {name}"
    return f"give package files: {', '.join(each.extension for each in FORMATS.values())}"


def _chosen_packages(project: str, options: PublishOptions, catalog: Catalog,
                     platform: Platform, package_format: str, out_dir: Path) -> list[Path]:
    if options.packages:
        wanted = format_named(package_format).extension
        for package in options.packages:
            if not package.is_file():
                raise UsageError(f"{package}: no such package file",
                                 hint=f"give {wanted} files, or none to take them from "
                                 "--from")
            if not package.name.endswith(wanted):  # .tar.gz has two suffixes
                raise UsageError(f"{package}: {platform.id}'s {package_format} repository "
                                 f"takes {wanted} files", hint=_other_format_hint(package))
        return list(options.packages)
    if project not in catalog.projects:
        raise UsageError(f"unknown project '{project}'",
                         hint=f"projects: {', '.join(sorted(catalog.projects))}")
    found = packages_for(out_dir, catalog.projects[project].name, platform, package_format)
    if not found:
        raise UsageError(f"no {package_format} package of {project} for "
                         f"{platform.id} in {out_dir}",
                         hint=f"build one first: omnibus build {project} --platform "
                         f"{platform.id} --format {package_format}")
    return found


def publish(workspace: Workspace, project: str, platform_id: str, options: PublishOptions,
            progress: Callable[[str], None], environ: Mapping[str, str] | None = None
            ) -> Published:
    """Add the packages to the signed repository of their platform and format."""
    environ = os.environ if environ is None else environ
    catalog = workspace.catalog()
    platform = platform_named(catalog, platform_id)
    signing = signing_from(options.sign_key, environ)
    if signing is None:
        raise UsageError("repositories are always signed, and no key was given",
                         hint="pass --sign-key KEY or set OMNIBUS_SIGN_KEY (GNUPGHOME and "
                         "GPG_PASSPHRASE are honoured)")
    out_dir = (options.source or workspace.root / "pkg").resolve()
    package_format = options.format or platform.package_format
    packages = _chosen_packages(project, options, catalog, platform, package_format, out_dir)
    publish_with = publisher(package_format)  # a format without a repository fails here
    export_key(signing, armor=True)  # a key gpg does not know fails here, before any write
    epoch = environ.get("SOURCE_DATE_EPOCH")
    settings = PublishSettings(repo_root=options.repo.resolve(), platform=platform,
                               signing=signing, base_url=options.base_url,
                               package_format=package_format,
                               project=catalog.names_of(project),
                               date=int(epoch) if epoch and options.reproducible
                               else int(time.time()))
    started = time.monotonic()
    result = publish_with(packages, settings, progress)
    return Published(settings, result, time.monotonic() - started)
