"""Builder images: one per platform and arch, made from Dockerfile.builder and platform data.

A builder image is tagged by a digest of its inputs (the recipe, the platform's base image,
install command and build packages, the arch), so it is rebuilt only when one of them
changes. The base image comes from a registry, or, for Debian-family platforms with a
`bootstrap_suite`, is made here: mmdebstrap from the mirrors apt is configured with, then
`docker import`. Foreign arches bootstrap and run under qemu-user emulation (binfmt_misc).
"""

from __future__ import annotations

import hashlib
import platform as platform_module
import shutil
import subprocess
import tempfile
from pathlib import Path

from builder.aptsources import configured_entries, deb_stanzas_for, host_codename
from builder.docker import docker, image_exists
from builder.errors import BuilderError
from builder.fetchers.base import Report
from builder.keys import sha256_json
from builder.model import Platform

RECIPE = "Dockerfile.builder"


def _digest(document: dict) -> str:
    return sha256_json(document)[:16]


def base_sources(platform: Platform, etc: Path = Path("/etc")) -> str:
    """apt sources for the platform's release, from the mirrors this machine uses."""
    entries = configured_entries(etc / "apt")
    if not any("deb" in e.types for e in entries):
        raise BuilderError("apt has no deb entries to bootstrap a base image from",
                           hint="configure a Debian mirror in /etc/apt/sources.list.d/")
    return deb_stanzas_for(entries, host_codename(etc), str(platform.bootstrap_suite))


def base_tag(platform: Platform, arch: str, sources: str) -> str:
    spec = platform.arches[arch]
    digest = _digest({"suite": platform.bootstrap_suite, "arch": spec.package_arch,
                      "sources": sources, "variant": "minbase"})
    return f"omnibus-base/{platform.id}:{arch}-{digest}"


def _bootstrap(platform: Platform, arch: str, report: Report) -> str:
    for tool in ("mmdebstrap",):
        if shutil.which(tool) is None:
            raise BuilderError(f"{tool} is not installed, so no base image can be made here",
                               hint="apt-get install mmdebstrap qemu-user-static (./dev does)")
    sources = base_sources(platform)
    tag = base_tag(platform, arch, sources)
    if image_exists(tag):
        return tag
    spec = platform.arches[arch]
    slow = "" if is_native(arch) else " (under qemu emulation: several minutes)"
    report(platform.id, f"bootstrapping a {platform.bootstrap_suite} {spec.package_arch} base "
                        f"image with mmdebstrap{slow}")
    with tempfile.NamedTemporaryFile("w", suffix=".sources") as listing:
        listing.write(sources)
        listing.flush()
        strap = subprocess.Popen(
            ["mmdebstrap", "--variant=minbase", f"--arch={spec.package_arch}", "--quiet",
             str(platform.bootstrap_suite), "-", listing.name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        imported = subprocess.run(
            ["docker", "import", "--platform", spec.docker_platform, "-", tag],
            stdin=strap.stdout, capture_output=True,
        )
        _, strap_err = strap.communicate()
    if strap.returncode != 0 or imported.returncode != 0:
        detail = (strap_err or imported.stderr).decode(errors="replace").strip()[-1500:]
        raise BuilderError(f"could not make the {platform.id} {arch} base image: {detail}",
                           hint="check apt's mirror and, for foreign arches, qemu-user-static "
                           "and binfmt_misc (update-binfmts --enable)")
    return tag


def is_native(arch: str) -> bool:
    machine = platform_module.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(machine) == arch


def ensure_base(platform: Platform, arch: str, report: Report) -> str:
    if platform.bootstrap_suite:
        return _bootstrap(platform, arch, report)
    if not image_exists(platform.base_image):
        report(platform.id, f"pulling {platform.base_image}")
        pulled = docker("pull", "--platform", platform.arches[arch].docker_platform,
                        platform.base_image, check=False)
        if pulled.returncode != 0:
            raise BuilderError(
                f"base image {platform.base_image} for {platform.id} is not here and cannot "
                "be pulled (no registry reachable)",
                hint="load it with `docker load`, or build on a machine that reaches a registry; "
                "only platforms with bootstrap_suite can make their base image locally",
            )
    return platform.base_image


def builder_tag(platform: Platform, arch: str, root: Path, base: str) -> str:
    recipe = root / RECIPE
    if not recipe.is_file():
        raise BuilderError(f"{recipe} does not exist", hint="the builder image recipe is needed")
    digest = _digest({
        "recipe": hashlib.sha256(recipe.read_bytes()).hexdigest(), "base": base,
        "install": install_command(platform), "platform": platform.arches[arch].docker_platform,
    })
    return f"omnibus-builder/{platform.id}:{arch}-{digest}"


def install_command(platform: Platform) -> str:
    return platform.package_install.replace("{packages}", " ".join(platform.build_packages))


def ensure_image(platform: Platform, arch: str, root: Path, report: Report) -> str:
    """The builder image's tag, building the image (and its base) when missing."""
    base = ensure_base(platform, arch, report)
    tag = builder_tag(platform, arch, root, base)
    if image_exists(tag):
        return tag
    report(platform.id, f"building builder image {tag}")
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(root / RECIPE, Path(context) / RECIPE)
        docker("build", "--network", "host", "--platform", platform.arches[arch].docker_platform,
               "--build-arg", f"BASE_IMAGE={base}",
               "--build-arg", f"PACKAGE_INSTALL={install_command(platform)}",
               "-f", str(Path(context) / RECIPE), "-t", tag, context, timeout=3600)
    return tag
