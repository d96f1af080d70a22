"""Builder images: one per platform and arch, made from Dockerfile.builder and platform data.

A builder image is tagged by a digest of its inputs (the recipe, the platform's base image,
install command and build packages, the arch), so it is rebuilt only when one of them
changes. The base image comes from a registry, or, for Debian-family platforms with a
`bootstrap_suite`, is made here: mmdebstrap from the mirrors apt is configured with, then
`docker load` of a one-layer image whose config records the arch (`docker import` records the
host's, so an arm64 image made here, and every image made from it, would claim amd64).
Foreign arches bootstrap and run under qemu-user emulation (binfmt_misc).
"""

from __future__ import annotations

import hashlib
import io
import json
import platform as platform_module
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from builder.compile.docker import docker, image_exists
from builder.definitions.model import Platform
from builder.digests import sha256_file, sha256_json
from builder.errors import BuilderError
from builder.sources.deb_src import configured_entries, deb_stanzas_for, host_codename
from builder.sources.fetchers.base import Report

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
    # format 2: loaded with the arch recorded (format 1 images were imported as the host's)
    digest = _digest({"suite": platform.bootstrap_suite, "arch": spec.package_arch,
                      "sources": sources, "variant": "minbase", "format": 2})
    return f"omnibus-base/{platform.id}:{arch}-{digest}"


def _strap(suite: str, package_arch: str, sources: str, tarball: Path) -> str:
    """Run mmdebstrap into a tarball; '' on success, else its error output."""
    with tempfile.NamedTemporaryFile("w", suffix=".sources") as listing:
        listing.write(sources)
        listing.flush()
        result = subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--arch={package_arch}", suite,
             str(tarball), listing.name], capture_output=True, text=True,
        )
    return "" if result.returncode == 0 else (result.stderr.strip() or "mmdebstrap failed")


def _without_suites(sources: str, failed: set[str]) -> str:
    kept = []
    for stanza in sources.strip().split("\n\n"):
        lines = stanza.splitlines()
        suites = [s for s in lines[2].removeprefix("Suites: ").split() if s not in failed]
        if suites:
            kept.append("\n".join([lines[0], lines[1], f"Suites: {' '.join(suites)}",
                                   *lines[3:]]))
    return "\n\n".join(kept) + "\n"


def _bootstrap(platform: Platform, arch: str, report: Report) -> str:
    if shutil.which("mmdebstrap") is None:
        raise BuilderError("mmdebstrap is not installed, so no base image can be made here",
                           hint="apt-get install mmdebstrap qemu-user-static (./dev does)")
    sources = base_sources(platform)
    spec = platform.arches[arch]
    slow = "" if is_native(arch) else " (under qemu emulation: several minutes)"
    with tempfile.TemporaryDirectory(prefix="omnibus-base-") as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        for _attempt in range(2):
            tag = base_tag(platform, arch, sources)
            if image_exists(tag):
                return tag
            report(platform.id, f"bootstrapping a {platform.bootstrap_suite} "
                                f"{spec.package_arch} base image with mmdebstrap{slow}")
            problem = _strap(str(platform.bootstrap_suite), spec.package_arch, sources, tarball)
            # Mirrors can serve an inconsistent index for one suite (seen: security, armhf);
            # the base image can do without that suite, the way a mirror chain falls through.
            failed = set(re.findall(r"/dists/([^/ ]+)/", problem)) - {platform.bootstrap_suite}
            if not problem or not failed:
                break
            report(platform.id, f"leaving out suite(s) {', '.join(sorted(failed))}: their "
                                "index is inconsistent on this mirror")
            sources = _without_suites(sources, failed)
        if problem:
            raise BuilderError(f"could not make the {platform.id} {arch} base image: "
                               f"{problem[-1500:]}",
                               hint="check apt's mirror and, for foreign arches, "
                               "qemu-user-static and binfmt_misc (update-binfmts --enable)")
        load_rootfs(tarball, tag, spec.docker_platform)
    return tag


def load_rootfs(rootfs: Path, tag: str, docker_platform: str) -> None:
    """`docker load` the root file system tarball as a one-layer image of `docker_platform`
    (os/arch[/variant]), the config naming that platform."""
    archive = rootfs.with_name("image.tar")
    write_image_archive(rootfs, tag, docker_platform, archive)
    try:
        docker("load", "-i", str(archive), timeout=1800)
    finally:
        archive.unlink()


def write_image_archive(rootfs: Path, tag: str, docker_platform: str, archive: Path) -> None:
    """The `docker save` format: the layer, the image config, and manifest.json."""
    os_name, arch, *variant = docker_platform.split("/")
    layer = sha256_file(rootfs)
    config = json.dumps({
        "architecture": arch, "os": os_name, **({"variant": variant[0]} if variant else {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer}"]},
        "history": [{"created_by": "mmdebstrap (omnibus image build)"}],
    }, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(archive, "w") as out:
        out.add(rootfs, arcname="layer.tar")
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


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
    # One local tag per arch: pulling the same name for another arch would replace it.
    tag = f"omnibus-base/{platform.id}:{arch}-registry"
    docker("tag", platform.base_image, tag)
    return tag


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
        # No --platform: the base is a local, arch-specific tag (its config names the arch),
        # and a registry pull by platform is neither needed nor possible here.
        docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
               "--build-arg", f"PACKAGE_INSTALL={install_command(platform)}",
               "-f", str(Path(context) / RECIPE), "-t", tag, context, timeout=3600)
    return tag
