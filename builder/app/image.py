"""Images: a platform's builder image (`omnibus image build`) and the all-in-one GitLab
image made from a built .deb (`omnibus image package`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from builder.app.workspace import Target, Workspace, platform_named
from builder.compile.builder_images import ensure_image
from builder.compile.docker import docker
from builder.console import ProgressPrinter
from builder.definitions.model import Catalog, Platform
from builder.errors import UsageError


def _supported(platform: Platform, arch: str) -> None:
    if arch not in platform.arches:
        raise UsageError(f"platform {platform.id} does not support arch '{arch}'",
                         hint=f"{platform.id} supports: {', '.join(platform.arches)}")


def builder_image(workspace: Workspace, platform_id: str, arch: str, tag: str | None,
                  progress: ProgressPrinter) -> str:
    """Make (or find up to date) the builder image; `tag` adds a name of the caller's."""
    platform = platform_named(workspace.catalog(), platform_id)
    _supported(platform, arch)
    started = time.monotonic()
    made = ensure_image(platform, arch, workspace.root, progress)
    if tag:
        docker("tag", made, tag)
        made = f"{made} as {tag}"
    return f"{made}  ({time.monotonic() - started:.1f} s)"


@dataclass(frozen=True)
class ImageOptions:
    package: Path | None = None  # the .deb; None: the newest in `source`
    source: Path | None = None  # the packages directory, default ROOT/pkg
    tag: str | None = None


def allinone_image(workspace: Workspace, target: Target, options: ImageOptions,
                   progress: ProgressPrinter, catalog: Catalog | None = None) -> str:
    """The all-in-one image of the target's .deb."""
    from builder.image.allinone import build_image, choose_package

    catalog = catalog or workspace.catalog()
    platform = platform_named(catalog, target.platform)
    _supported(platform, target.arch)
    package = choose_package(catalog, target.project, platform, target.arch,
                             options.package, options.source)
    return build_image(workspace.root, platform, target.arch, package, options.tag, progress)
