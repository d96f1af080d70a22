"""Package a built project: stage its artifacts, add the version manifest, and write one
package per format with its checksum, size and metadata files next to it."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.app.uptodate import packaging_inputs, up_to_date
from builder.app.workspace import Target, Workspace, resolve_target
from builder.compile.artifacts import ensure_unpacked
from builder.compile.build import DEFAULT_EPOCH
from builder.compile.cache import ArtifactCache
from builder.compile.remote import RemoteCache
from builder.definitions.model import Compression
from builder.digests import file_digests, write_atomic
from builder.errors import BuilderError, UsageError
from builder.formats import format_named
from builder.formats.meta import PackageMeta, Signing, parse_dependency
from builder.formats.scripts import (
    manifest_bytes,
    manifest_text,
    postgresql_majors,
    render_scripts,
    version_manifest,
)
from builder.package.healthcheck import (
    HealthReport,
    format_offences,
    inspect_stage,
    libc_dependencies,
)
from builder.package.licensepolicy import (
    dependency_licenses,
    license_status,
    license_text,
    load_policy,
    violations_error,
)
from builder.package.sbom import licenses_page, spdx_document
from builder.package.stage import Stage, add_generated, make_stage
from builder.package.version import BuildIdentity, PackageVersion, package_version
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord, compute_keys

#: Everything written beside the packages (checksums, sizes, metadata, license status, SBOM,
#: licenses page) is meant to be published, like the packages themselves: world-readable.
PUBLISHED_MODE = 0o644


@dataclass(frozen=True)
class PackageSettings:
    root: Path
    cache_dir: Path
    out_dir: Path
    formats: tuple[str, ...]
    build: BuildIdentity
    epoch: int
    signing: Signing | None = None
    threads: int = 0
    compression: Compression | None = None  # None: the platform's
    remote: RemoteCache | None = None  # artifacts missing here are fetched from it


def _runtime_dependencies(graph: Graph, package_format: str) -> tuple[str, ...]:
    facts = {**graph.platform.facts(graph.arch, graph.project.edition), "format": package_format}
    return tuple(d.name for d in graph.project.runtime_dependencies if d.condition.holds(facts))


def package_meta(graph: Graph, package_format: str, version: PackageVersion,
                 settings: PackageSettings) -> PackageMeta:
    project, platform = graph.project, graph.platform
    found = format_named(package_format)
    arch = found.arch(platform.arches[graph.arch])
    if arch is None:
        raise UsageError(f"{platform.file}: arch {graph.arch} has no {package_format} name",
                         hint=f"add package_arches: {{{package_format}: NAME}} under "
                         f"arches.{graph.arch}")
    summary, _, description = project.description.strip().partition("\n")
    extras = found.extras(settings.root, graph, version, settings.epoch)
    return PackageMeta(
        name=project.name, version=version, arch=arch, maintainer=project.maintainer,
        vendor=project.vendor, homepage=project.homepage, license=project.license,
        summary=summary, description=description,
        compression=settings.compression or platform.compression, epoch=settings.epoch,
        platform=platform.id,
        dist_tag=platform.dist_tag if found.dist_tag else "",
        depends=_runtime_dependencies(graph, package_format), conflicts=project.conflicts,
        replaces=project.replaces,
        scripts=render_scripts(settings.root, project, version, found,
                               postgresql_majors(graph)),
        extra_files=tuple(extras), signing=settings.signing, threads=settings.threads,
    )


def stage_project(graph: Graph, keys: Mapping[str, KeyRecord], cache_dir: Path,
                  remote: RemoteCache | None = None) -> Stage:
    cache = ArtifactCache(cache_dir)
    missing = [name for name in graph.order if not cache.has(keys[name].key)
               and not (remote is not None and remote.download(keys[name].key, cache))]
    if missing:
        raise BuilderError(
            f"{len(missing)} software of {graph.project.name} are not built for "
            f"{graph.platform.id}/{graph.arch}: {', '.join(missing)}",
            hint=f"run: omnibus build {graph.project.name} --platform {graph.platform.id} "
            f"--arch {graph.arch}")
    layers = [(name, ensure_unpacked(cache, keys[name].key), graph.software[name].package_excludes)
              for name in graph.order]
    destination = cache_dir / "stage" / graph.project.name / graph.platform.id / graph.arch
    return make_stage(layers, graph.project.install_dir, graph.project.exclusions, destination)


def write_sidecars(package: Path, meta: PackageMeta, manifest: Mapping[str, Any],
                   inputs: str = "") -> None:
    """`<pkg>.sha256` (sha256sum's format), `<pkg>.size` and `<pkg>.metadata.json`
    (with `inputs`, the digest that lets a re-run keep the package; see builder/uptodate)."""
    digests = file_digests(package)
    size = package.stat().st_size
    metadata = {"basename": package.name, **digests, "size": size, "platform": meta.platform,
                "arch": meta.arch, "name": meta.name, "version": meta.version.version,
                "iteration": meta.version.iteration, "license": meta.license,
                "version_manifest": manifest, "inputs": inputs}
    write_atomic(package.with_name(package.name + ".sha256"),
                 f"{digests['sha256']}  {package.name}\n".encode(), PUBLISHED_MODE)
    write_atomic(package.with_name(package.name + ".size"), f"{size}\n".encode(),
                 PUBLISHED_MODE)
    write_atomic(package.with_name(package.name + ".metadata.json"),
                 (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode(),
                 PUBLISHED_MODE)


def check_licenses(graph: Graph, version: PackageVersion, settings: PackageSettings,
                   report: Callable[[str], None]) -> dict[str, dict[str, str]]:
    """Judge every software's license by the policy; write the status report in any case."""
    policy = load_policy(settings.root)
    status = license_status(graph, policy)
    path = settings.out_dir / f"{graph.project.name}_{version.full}.license-status.json"
    write_atomic(path, (json.dumps(status, indent=2, sort_keys=True) + "\n").encode(),
                 PUBLISHED_MODE)
    error = violations_error(graph, status, path, policy)
    if error is not None:
        raise error
    report(f"  licenses: {len(status)} software pass {policy.file.name} (report: {path.name})")
    return status


def write_sbom(graph: Graph, version: PackageVersion, locks: Mapping[str, str],
               status: Mapping[str, Mapping[str, str]], settings: PackageSettings) -> Path:
    """pkg/<name>_<version>.spdx.json (SPDX 2.3) and .licenses.html beside the packages."""
    base = settings.out_dir / f"{graph.project.name}_{version.full}"
    document = spdx_document(graph, version, locks, settings.epoch)
    path = base.with_name(base.name + ".spdx.json")
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode(), PUBLISHED_MODE)
    write_atomic(base.with_name(base.name + ".licenses.html"),
                 licenses_page(graph, version, status).encode(), PUBLISHED_MODE)
    return path


def health_check(graph: Graph, stage: Stage, report: Callable[[str], None]) -> HealthReport:
    """Refuse to package a stage that would break on a user's host (builder/package/healthcheck.py);
    return what the check learnt (the GLIBC_ versions the stage needs)."""
    started = time.monotonic()
    rules = {name: software.health_check for name, software in graph.software.items()}
    independent = frozenset(name for name, software in graph.software.items()
                            if software.platform_independent)
    health = inspect_stage(stage, graph.platform.allowed_libs, graph.platform.glibc, rules,
                           independent)
    offences = health.offences
    if offences:
        owners = sorted({o.owner for o in offences})
        raise BuilderError(
            f"the health check of {graph.project.name} for {graph.platform.id}/{graph.arch} "
            f"found {len(offences)} problem(s); no package was written:\n"
            f"{format_offences(offences)}",
            hint=f"fix the build of {', '.join(owners)}: bundle what the platform lacks, or "
            "exempt a file or library in the software's health_check (allow_files, "
            "allow_libs) with a comment saying why")
    needs = ", ".join(f"GLIBC_{'.'.join(map(str, version))} ({bits}-bit)"
                      for bits, version in health.glibc.items()) or "no versioned glibc"
    report(f"  health check: {len(stage.entries)} paths, no problems; the binaries need "
           f"{needs} ({time.monotonic() - started:.1f} s)")
    return health


def with_dependencies(depends: tuple[str, ...], computed: list[str]) -> tuple[str, ...]:
    """`depends` with the computed dependencies: each takes the place of a plain (unversioned)
    declaration of the same name, or comes last; a versioned declaration stays beside it."""
    result = list(depends)
    for dependency in computed:
        name = parse_dependency(dependency)[0]
        plain = [i for i, text in enumerate(result) if parse_dependency(text) == (name, "", "")]
        if plain:
            result[plain[0]] = dependency
            result = [text for i, text in enumerate(result) if i not in plain[1:]]
        elif dependency not in result:
            result.append(dependency)
    return tuple(result)


def with_libc(meta: PackageMeta, package_format: str, health: HealthReport) -> PackageMeta:
    """The package's meta depending on the C library its binaries need (computed from the
    stage, so a package never installs where its binaries cannot run)."""
    computed = libc_dependencies(health.glibc, package_format)
    return dataclasses.replace(meta, depends=with_dependencies(meta.depends, computed))


def _quiet(_text: str) -> None:
    pass


def package_project(graph: Graph, keys: Mapping[str, KeyRecord], locks: Mapping[str, str],
                    settings: PackageSettings,
                    report: Callable[[str], None] = _quiet) -> list[Path]:
    """Stage, then write each format's package into settings.out_dir; return their paths.

    One run at a time per project, platform and arch: the stage directory is shared, and a
    second run replacing it would pull files from under the first one's packager. The
    waiting run then finds the packages up to date."""
    lock_file = settings.cache_dir / "locks" / \
        f"package-{graph.project.name}-{graph.platform.id}-{graph.arch}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _package_locked(graph, keys, locks, settings, report)


def _package_locked(graph: Graph, keys: Mapping[str, KeyRecord], locks: Mapping[str, str],
                    settings: PackageSettings, report: Callable[[str], None]) -> list[Path]:
    version = package_version(graph.project, settings.root, settings.build)
    metas = {fmt: package_meta(graph, fmt, version, settings) for fmt in settings.formats}
    inputs = packaging_inputs(graph, keys, locks, metas, settings.root)
    existing = [settings.out_dir / format_named(fmt).file_name(meta)
                for fmt, meta in metas.items()]
    sbom = settings.out_dir / f"{graph.project.name}_{version.full}.spdx.json"
    if sbom.is_file() and up_to_date(existing, inputs):
        report(f"  up to date: {', '.join(p.name for p in existing)} (written from the same "
               "artifacts, definitions and packaging code)")
        return existing
    started = time.monotonic()
    stage = stage_project(graph, keys, settings.cache_dir, settings.remote)
    status = check_licenses(graph, version, settings, report)
    manifest = version_manifest(graph, version, locks)
    for name, data in (
            ("version-manifest.json", manifest_bytes(manifest)),
            ("version-manifest.txt", manifest_text(manifest, graph.project.name)),
            ("LICENSE", license_text(graph, version.version).encode()),
            ("dependency_licenses.json", dependency_licenses(graph).encode())):
        stage = add_generated(stage, name, data)
    size = sum(entry.size for entry in stage.entries)
    report(f"  staged {len(stage.entries)} paths ({size / 1e6:.1f} MB) at {stage.root} "
           f"in {time.monotonic() - started:.1f} s; version {version.full}")
    health = health_check(graph, stage, report)
    write_sbom(graph, version, locks, status, settings)
    packages = []
    for package_format, meta in metas.items():
        started = time.monotonic()
        # the inputs digest covers it: the C library dependency follows from the artifacts
        meta = with_libc(meta, package_format, health)
        package = format_named(package_format).build(stage, meta, settings.out_dir)
        write_sidecars(package, meta, manifest, inputs)
        report(f"  wrote {package.name} ({package.stat().st_size / 1e6:.1f} MB) "
               f"in {time.monotonic() - started:.1f} s")
        packages.append(package)
    return packages


def source_date_epoch(environ: Mapping[str, str], default: int) -> int:
    text = environ.get("SOURCE_DATE_EPOCH", "")
    if not text:
        return default
    if not text.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH='{text}' is not a number of seconds",
                         hint="unset it, or set it to e.g. $(git log -1 --format=%ct)")
    return int(text)


def signing_from(key: str | None, environ: Mapping[str, str]) -> Signing | None:
    key = key or environ.get("OMNIBUS_SIGN_KEY") or None
    if key is None:
        return None
    home = environ.get("GNUPGHOME")
    return Signing(key, Path(home) if home else None, environ.get("GPG_PASSPHRASE"))




@dataclass(frozen=True)
class PackageOptions:
    """What `omnibus package` (and `omnibus build` after building) is told; None means the
    default: the platform's format and compression, ROOT/pkg, a release build unless CI's
    environment says otherwise, $OMNIBUS_SIGN_KEY, the CPUs."""

    formats: tuple[str, ...] | None = None
    out_dir: Path | None = None
    build_kind: str | None = None  # release, nightly or branch
    pipeline_id: str | None = None
    commit: str | None = None
    sign_key: str | None = None
    compression: Compression | None = None
    threads: int | None = None


def package_settings(workspace: Workspace, graph: Graph, options: PackageOptions,
                     environ: Mapping[str, str]) -> PackageSettings:
    environ = dict(environ)
    if options.pipeline_id is not None:
        environ["CI_PIPELINE_ID"] = options.pipeline_id
    if options.commit is not None:
        environ["CI_COMMIT_SHA"] = options.commit
    return PackageSettings(
        root=workspace.root, cache_dir=workspace.cache_dir.resolve(),
        out_dir=(options.out_dir or workspace.root / "pkg").resolve(),
        formats=options.formats or (graph.platform.package_format,),
        build=BuildIdentity.from_environment(options.build_kind, environ),
        epoch=source_date_epoch(environ, DEFAULT_EPOCH),
        signing=signing_from(options.sign_key, environ), threads=options.threads or 0,
        compression=options.compression, remote=workspace.remote,
    )


def package_graph(workspace: Workspace, graph: Graph, options: PackageOptions,
                  progress: Callable[[str], None], keys: Mapping[str, KeyRecord] | None = None,
                  environ: Mapping[str, str] | None = None) -> list[Path]:
    """Package a built graph; `keys` are the build's, when it just ran."""
    settings = package_settings(workspace, graph, options,
                                os.environ if environ is None else environ)
    locks = workspace.locks()
    if keys is None:
        keys = compute_keys(graph, settings.root, locks)
    compression = settings.compression or graph.platform.compression
    progress(f"packaging {graph.project.name} for {graph.platform.id}/{graph.arch} as "
             f"{', '.join(settings.formats)} ({compression.type} {compression.level}) "
             f"into {settings.out_dir}")
    return package_project(graph, keys, locks, settings, progress)


def package(workspace: Workspace, target: Target, options: PackageOptions,
            progress: Callable[[str], None]) -> list[Path]:
    """The target's packages, from its built artifacts (every one must be in the cache)."""
    return package_graph(workspace, resolve_target(workspace.catalog(), target), options,
                         progress)
