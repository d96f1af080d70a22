"""Cache keys: one per software, chained through its direct dependencies' keys.

A key is the sha256 of a canonical JSON document of everything that can change what the
software's build produces: the build-relevant fields of its definition (after the platform
family's overrides), the identity of its source (checksum or locked commit, not the URL, so a
mirror never changes a key), the bytes of its patches and templates, the build-relevant facts
of the platform and arch, the install prefix, and the keys of its direct dependencies. The
project, the edition (unless a build reads it) and the build order are deliberately not
inputs: CE and EE share every artifact they have in common, and reordering a dependency list
rebuilds nothing.

A `platform_independent` software (no compiled code in its artifact) is keyed without the
platform and arch, and by its dependencies' keys computed the same way, so every platform and
arch shares its one artifact; the health check refuses such an artifact holding an ELF file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.definitions.fields import BUILD_FIELDS
from builder.definitions.loader import PATCHES_DIR
from builder.definitions.model import GitSource, PathSource, Platform, Software, plain
from builder.definitions.templating import variables_used
from builder.digests import digest_tree, sha256_file, sha256_json
from builder.errors import Location
from builder.resolve.graph import Graph

#: Bump when the meaning of a key changes (new inputs, new artifact layout).
KEY_FORMAT = 2  # 2: artifacts carry the software's LICENSES/ files
# The definition fields hashed by value (BUILD_FIELDS) are those definitions/fields.py marks
# in_key: a new field says there whether it counts, so none is forgotten here.
#: Platform fields that shape the artifact; packaging-only facts (compression, allowed libs,
#: glibc, editions) are left out so changing them rebuilds nothing.
PLATFORM_FIELDS = ("id", "family", "distro", "version", "base_image", "bootstrap_suite",
                   "package_install", "build_packages", "cflags", "ldflags")

#: The platform input of a platform-independent software's key, in place of a facts digest.
PLATFORM_INDEPENDENT = "independent"

#: What of an arch goes into keys: package names per format do not change what gets built.
ARCH_FIELDS = ("name", "package_arch", "docker_platform", "gnu_triplet", "cflags")


def path_source_digest(source: PathSource, root: Path) -> str:
    """One directory: its tree's digest. A list: a digest of each entry's name and tree (a
    missing entry counts as missing, not as empty)."""
    if isinstance(source.path, str):
        return digest_tree(root / source.path)
    digest = hashlib.sha256()
    for entry in source.path:
        directory = root / entry
        tree = digest_tree(directory) if directory.is_dir() else "missing"
        digest.update(f"D {entry} {tree}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """A software's key and the named inputs it was computed from (kept to explain rebuilds)."""

    name: str
    key: str
    inputs: Mapping[str, Any]


def source_identity(software: Software, root: Path, locks: Mapping[str, str]) -> str | None:
    """Checksum, commit or directory digest; a git ref without a lock keys on its name."""
    source = software.source
    if source is None:
        return None
    if isinstance(source, PathSource):
        return f"path:{path_source_digest(source, root)}"
    if isinstance(source, GitSource) and not source.locked:
        commit = locks.get(f"{source.git}@{source.ref}")
        if commit:
            return f"git:{commit}"
    return source.identity()


def _files_digest(paths: list[Path]) -> dict[str, str]:
    return {path.name: sha256_file(path) for path in paths}


def platform_inputs(platform: Platform, arch: str) -> str:
    facts = {name: plain(getattr(platform, name)) for name in PLATFORM_FIELDS}
    spec = platform.arches[arch]
    facts["arch"] = {name: plain(getattr(spec, name)) for name in ARCH_FIELDS}
    return sha256_json(facts)


def key_inputs(
    software: Software, root: Path, platform_digest: str, install_dir: str,
    dependency_keys: Mapping[str, str], locks: Mapping[str, str], builder: str | None = None,
    toolchains: Mapping[str, str] | None = None, edition: str | None = None,
) -> dict[str, Any]:
    """`toolchains`: name -> digest of each toolchain the build uses (only when it uses one,
    so a software without toolchains keeps the key it had); `edition`: given only for a
    software whose build reads it (reads_edition)."""
    definition = {name: plain(getattr(software, name)) for name in BUILD_FIELDS}
    if software.network:  # only when set, so offline builds keep the keys they had
        definition["network"] = True
    patches = [root / PATCHES_DIR / software.name / p for p in software.patches]
    templates = [root / "templates" / t for t in software.templates]
    extra: dict[str, Any] = {"toolchains": dict(sorted(toolchains.items()))} if toolchains else {}
    if edition:
        extra["edition"] = edition
    if software.vendored:  # the files that pin every vendored package
        extra["vendored"] = {f: sha256_file(root / f) for f in software.vendored.files()}
    return {**extra,
        "format": KEY_FORMAT,
        "version": software.version,
        "definition": sha256_json(definition),
        "source": source_identity(software, root, locks),
        "patches": _files_digest(patches),
        "templates": _files_digest(templates),
        "platform": platform_digest,
        "builder": builder,
        "install_dir": install_dir,
        "dependencies": dict(sorted(dependency_keys.items())),
    }


def reads_edition(software: Software) -> bool:
    """Its build steps or env read `edition` (e.g. CE deletes ee/): then CE and EE builds
    differ, and the edition must be part of its key."""
    location = Location(software.file, None, "build")
    texts = (*software.build, *software.env.values())
    return any("edition" in variables_used(text, location) for text in texts)


def toolchain_digests(graph: Graph, name: str) -> dict[str, str]:
    """The digest of each toolchain `name` builds with: its file's bytes (all arches), so a
    new pin rebuilds exactly the software that use the toolchain."""
    return {t.name: sha256_file(t.file) for t in graph.toolchains_of(name)}


def builder_digest(root: Path) -> str | None:
    """The builder image's recipe: changing Dockerfile.builder rebuilds everything."""
    recipe = root / "Dockerfile.builder"
    return sha256_file(recipe) if recipe.is_file() else None


def compute_keys(
    graph: Graph, root: Path, locks: Mapping[str, str] | None = None
) -> dict[str, KeyRecord]:
    """Keys for every software of the graph, dependencies before dependents.

    `locks` maps "remote@ref" to the commit `omnibus fetch` resolved the ref to.
    """
    platform_digest = platform_inputs(graph.platform, graph.arch)
    builder = builder_digest(root)
    records: dict[str, KeyRecord] = {}
    portable: dict[str, str] = {}
    for name in graph.order:
        software = graph.software[name]
        edition = graph.project.edition if reads_edition(software) else None  # parsed once
        # Every software also gets a key without the platform (chained the same way): the
        # key of a platform-independent one, and what such a one keys its dependencies by.
        portable_inputs = key_inputs(
            software, root, PLATFORM_INDEPENDENT, graph.project.install_dir,
            {dep: portable[dep] for dep in graph.edges[name]}, locks or {}, builder,
            toolchain_digests(graph, name), edition)
        portable[name] = sha256_json(portable_inputs)
        if software.platform_independent:
            records[name] = KeyRecord(name, portable[name], portable_inputs)
            continue
        dependency_keys = {dep: records[dep].key for dep in graph.edges[name]}
        inputs = key_inputs(software, root, platform_digest, graph.project.install_dir,
                            dependency_keys, locks or {}, builder, toolchain_digests(graph, name),
                            edition)
        records[name] = KeyRecord(name, sha256_json(inputs), inputs)
    return records
