"""`omnibus image package`: the all-in-one container image, made by installing a built .deb
into the platform's base image, as omnibus-gitlab makes its image from the Ubuntu package.

The software is not built again: the image holds exactly the package's files. Labels carry
the version, the digests of the package and its version manifest, and the SPDX SBOM (the
document itself, so `docker inspect` answers what is inside without a registry).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from builder.compile.builder_images import ensure_base
from builder.compile.docker import docker, docker_path
from builder.definitions.model import Catalog, Platform
from builder.digests import sha256_file
from builder.errors import BuilderError, UsageError
from builder.formats import format_named
from builder.formats.scripts import template_environment
from builder.publish.packages import packages_for

TEMPLATES = Path("templates") / "image"
#: Copied into the image as /assets (sshd_config, the Docker defaults' gitlab.rb).
ASSETS = "assets"


@dataclass(frozen=True)
class Account:
    """A service account of the image, with omnibus-gitlab's image's fixed uid and gid."""
    name: str
    id: int
    home: str
    shell: str = "/bin/sh"


#: omnibus-gitlab's docker/assets/setup: the same ids, homes and shells.
ACCOUNTS = (
    Account("git", 998, "/var/opt/gitlab"),
    Account("gitlab-www", 999, "/var/opt/gitlab/nginx", "/bin/false"),
    Account("gitlab-redis", 997, "/var/opt/gitlab/redis", "/bin/false"),
    Account("gitlab-psql", 996, "/var/opt/gitlab/postgresql"),
    Account("registry", 993, "/var/opt/gitlab/registry"),
    Account("gitlab-prometheus", 992, "/var/opt/gitlab/prometheus"),
    Account("gitlab-consul", 991, "/var/opt/gitlab/consul"),
    Account("gitlab-backup", 990, "/var/opt/gitlab/backups"),
)
#: The image installs its package with apt.
FORMAT = "deb"


@dataclass(frozen=True)
class ImagePackage:
    """The .deb an image is made from, with what its sidecar files say about it."""
    path: Path
    name: str
    version: str
    arch: str
    sbom: Path | None
    #: Prefix of the image's own labels: the project's `names:`.
    label_prefix: str = ""

    @property
    def sha256(self) -> str:
        sidecar = self.path.with_name(self.path.name + ".sha256")
        if sidecar.is_file():
            return sidecar.read_text().split()[0]
        return sha256_file(self.path)


def read_package(path: Path) -> ImagePackage:
    """The package and its metadata sidecar (`omnibus package` writes both)."""
    sidecar = path.with_name(path.name + ".metadata.json")
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{sidecar}: cannot be read ({error})",
                         hint="give a package written by `omnibus package`, with its "
                         ".metadata.json beside it") from error
    version = f"{meta['version']}-{meta['iteration']}"
    sbom = path.with_name(f"{meta['name']}_{version}.spdx.json")
    return ImagePackage(path, str(meta["name"]), version, str(meta["arch"]),
                        sbom if sbom.is_file() else None)


def choose_package(catalog: Catalog, project: str, platform: Platform, arch: str,
                   package: Path | None = None, source: Path | None = None) -> ImagePackage:
    """The .deb `package` when given, else the project's newest in the packages directory
    `source` (default ROOT/pkg) for this platform and arch."""
    if platform.package_format != FORMAT:
        raise UsageError(f"images are made from a .deb, and {platform.id} makes "
                         f"{platform.package_format} packages",
                         hint="use a Debian-family platform, e.g. --platform debian-12")
    if package is not None:
        if not package.is_file():
            raise UsageError(f"{package}: no such package file",
                             hint="give a .deb written by `omnibus package`")
        chosen = read_package(package)
        if chosen.name != project:
            raise UsageError(f"{package} is a package of {chosen.name}, not of "
                             f"{project}", hint=f"omnibus image package {chosen.name} "
                             f"{package}")
        return _named(catalog, project, chosen)
    if project not in catalog.projects:
        raise UsageError(f"unknown project '{project}'",
                         hint=f"projects: {', '.join(sorted(catalog.projects))}")
    out_dir = (source or catalog.root / "pkg").resolve()
    arch_name = format_named(FORMAT).arch(platform.arches[arch])
    found = [read_package(path) for path in packages_for(out_dir, project, platform, FORMAT)]
    found = [candidate for candidate in found if candidate.arch == arch_name]
    if not found:
        raise UsageError(f"no .deb of {project} for {platform.id}/{arch} in {out_dir}",
                         hint=f"build it first: omnibus build {project} --platform "
                         f"{platform.id} --arch {arch}")
    return _named(catalog, project, max(found, key=lambda found: found.path.stat().st_mtime))


def _named(catalog: Catalog, project: str, package: ImagePackage) -> ImagePackage:
    """The package, with the label prefix its project names."""
    return replace(package, label_prefix=catalog.names_of(project).labels)


def manifest_sha256(deb: Path) -> str:
    """The digest of the version manifest the package installs (read with dpkg-deb)."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                          stdout=subprocess.PIPE) as unpacking:
        assert unpacking.stdout is not None
        with tarfile.open(fileobj=unpacking.stdout, mode="r|") as tree:
            for member in tree:
                if member.name.endswith("/version-manifest.json") and \
                        member.name.count("/") <= 3:
                    data = tree.extractfile(member)
                    if data is not None:
                        digest = hashlib.sha256(data.read()).hexdigest()
                        unpacking.kill()
                        return digest
    raise UsageError(f"{deb}: no version-manifest.json in the package",
                     hint="give a package written by `omnibus package`")


def render_template(template: str, root: Path, **values: object) -> str:
    return template_environment(root / TEMPLATES).get_template(template).render(**values)


def labels(package: ImagePackage) -> dict[str, str]:
    prefix = package.label_prefix
    found = {
        "org.opencontainers.image.title": package.name,
        "org.opencontainers.image.version": package.version,
        f"{prefix}.package": package.path.name,
        f"{prefix}.package.sha256": package.sha256,
        f"{prefix}.version-manifest.sha256": manifest_sha256(package.path),
    }
    if package.sbom is not None:
        document = json.loads(package.sbom.read_text())
        found[f"{prefix}.sbom"] = json.dumps(document, separators=(",", ":"),
                                                   sort_keys=True)
        found[f"{prefix}.sbom.sha256"] = sha256_file(package.sbom)
    return found


def image_tag(package: ImagePackage, arch: str) -> str:
    """Docker tags allow [A-Za-z0-9_.-]: the version's + becomes -."""
    return f"{package.name}:{package.version.replace('+', '-')}-{arch}"


def build_image(root: Path, platform: Platform, arch: str, package: ImagePackage,
                tag: str | None, report) -> str:
    """Make the image; its tag."""
    if package.path.suffix != ".deb":
        raise UsageError(f"{package.path}: images are made from a .deb",
                         hint="give the .deb that `omnibus package` wrote")
    base = ensure_base(platform, arch, report)
    tag = tag or image_tag(package, arch)
    started = time.monotonic()
    report(platform.id, f"making {tag} from {package.path.name} on {base}")
    installed = install_layer(root, base, package, tag)
    try:
        with tempfile.TemporaryDirectory(prefix="omnibus-image-") as context:
            shutil.copytree(root / TEMPLATES / ASSETS, Path(context) / ASSETS)
            (Path(context) / "Dockerfile").write_text(render_template(
                "Dockerfile.j2", root, installed=installed, name=package.name,
                version=package.version))
            label_args = [arg for key, value in labels(package).items()
                          for arg in ("--label", f"{key}={value}")]
            _docker_or_fail(["build", "--pull=false", *label_args, "-t", tag, context], tag)
    finally:
        docker("rmi", installed, check=False)  # the final image keeps its layer
    size = docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.decode().strip()
    report(platform.id, f"{tag}: {int(size) / 1e6:.0f} MB, made in "
           f"{time.monotonic() - started:.0f} s")
    return tag


def install_layer(root: Path, base: str, package: ImagePackage, tag: str) -> str:
    """The base image with the package installed, committed as one layer; its tag."""
    script = render_template("install.sh.j2", root, package=package.path.name,
                             accounts=ACCOUNTS)
    name = f"omnibus-image-{os.getpid()}"
    installed = f"omnibus-image-installing/{tag.replace(':', '-')}"
    try:
        # --network host: apt fetches the package's Debian dependencies
        _docker_or_fail(["run", "--name", name, "--network", "host", "-v",
                         f"{package.path.resolve().parent}:/package:ro", base, "sh", "-c",
                         script], tag)
        _docker_or_fail(["commit", name, installed], tag)
    finally:
        docker("rm", "-f", name, check=False)
    return installed


def _docker_or_fail(args: list[str], tag: str) -> None:
    done = subprocess.run([docker_path(), *args], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise BuilderError(f"making {tag}: docker {args[0]} failed:\n"
                           f"{(done.stdout + done.stderr)[-3000:]}",
                           hint="the lines above are apt's and dpkg's, or docker's; check "
                           "the Debian mirror the base image uses")
