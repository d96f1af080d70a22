"""The frozen model of definitions. No I/O here: `loader` builds these from YAML."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

EDITIONS = ("ce", "ee", "fips")
FAMILIES = ("debian", "rhel", "suse", "amazon")
ARCHES = ("amd64", "arm64", "armhf")
#: The package formats: the folders of builder/formats/ with an __init__ (builder.formats
#: fills its registry, FORMATS, from the same folders; that layer is above this one).
PACKAGE_FORMATS = tuple(sorted(
    path.parent.name for path in (Path(__file__).resolve().parents[1] / "formats").glob(
        "*/__init__.py")))
#: Facts a dependency condition may test, and the values each may take (None: any string).
CONDITION_FACTS: Mapping[str, tuple[str, ...] | None] = MappingProxyType(
    {"edition": EDITIONS, "family": FAMILIES, "arch": ARCHES, "platform": None, "distro": None}
)
#: A package's runtime dependencies may also depend on the package format.
RUNTIME_CONDITION_FACTS: Mapping[str, tuple[str, ...] | None] = MappingProxyType(
    {**CONDITION_FACTS, "format": PACKAGE_FORMATS}
)


def frozen_map(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


def plain(value: Any) -> Any:
    """Model objects as JSON-ready data: dataclasses and mappings become dicts, tuples lists.

    Fields declared with compare=False (such as the file a definition came from) are left out.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare
        }
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class Condition:
    """`when`: every listed fact must take one of its values; `unless`: none of them may."""

    when: Mapping[str, tuple[str, ...]] = field(default_factory=frozen_map)
    unless: Mapping[str, tuple[str, ...]] = field(default_factory=frozen_map)

    def holds(self, facts: Mapping[str, str]) -> bool:
        if any(facts.get(name) not in values for name, values in self.when.items()):
            return False
        return not any(facts.get(name) in values for name, values in self.unless.items())

    def describe(self) -> str:
        parts = [f"{k} in {'|'.join(v)}" for k, v in sorted(self.when.items())]
        parts += [f"{k} not in {'|'.join(v)}" for k, v in sorted(self.unless.items())]
        return ", ".join(parts)


@dataclass(frozen=True)
class Dependency:
    name: str
    condition: Condition = field(default_factory=Condition)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DebianOrig:
    """A Debian source package that carries the source tarball (found by its checksum).

    `version` is the Debian version it was checked against: a hint, tried first.
    """

    package: str
    version: str | None = None


@dataclass(frozen=True)
class UrlSource:
    """A file pinned by checksum: at `url` upstream, and/or in a Debian source package."""

    url: str | None
    sha256: str | None = None
    sha512: str | None = None
    debian: DebianOrig | None = None
    #: The project's name on the Python package index: the sdist `<name>-<version>.tar.gz`.
    pypi: str | None = None
    kind: str = "url"

    def identity(self) -> str:
        return f"sha512:{self.sha512}" if self.sha512 else f"sha256:{self.sha256}"


@dataclass(frozen=True)
class VersionFrom:
    """A version read at load time: environment variable `env`, else the first line of `file`
    at the definitions root. A release number gets `tag_prefix` when it names a git ref."""

    file: str
    env: str | None = None
    tag_prefix: str = ""


@dataclass(frozen=True)
class GitSource:
    git: str
    ref: str
    kind: str = "git"
    #: Other remotes of the same repository by sources channel ("remote", "security"); `git`
    #: is the default ("alternative") one. `overrides` picks one at load time.
    channels: Mapping[str, str] = field(default_factory=frozen_map)

    @property
    def locked(self) -> bool:
        return len(self.ref) == 40 and all(c in "0123456789abcdef" for c in self.ref)

    def identity(self) -> str:
        return f"git:{self.ref}" if self.locked else f"git:{self.git}@{self.ref}"


@dataclass(frozen=True)
class PathSource:
    """Directories of this repository. One (a string): its contents are the source root. A
    list: each directory is copied to the same relative path under the source root."""

    path: str | tuple[str, ...]
    kind: str = "path"

    @property
    def entries(self) -> tuple[str, ...]:
        return self.path if isinstance(self.path, tuple) else (self.path,)

    def identity(self) -> str:
        return f"path:{','.join(self.entries)}"


Source = UrlSource | GitSource | PathSource


@dataclass(frozen=True)
class VersionPin:
    """One version a variable may select: what replaces the source's pin (url and checksum,
    or a git ref), or another definition built in this one's place."""

    url: str | None = None
    sha256: str | None = None
    sha512: str | None = None
    ref: str | None = None
    definition: str | None = None


@dataclass(frozen=True)
class SelectableVersions:
    """Versions the environment variable `env` may select at load time, each with its pin;
    `aliases` name some of them (ruby's `current` and `next`)."""

    env: str
    versions: Mapping[str, VersionPin] = field(default_factory=frozen_map)
    aliases: Mapping[str, str] = field(default_factory=frozen_map)


@dataclass(frozen=True)
class Vendored:
    """Dependencies a build would download, fetched instead like sources and handed to the
    build offline. Paths are relative to the definitions root (see sources/vendored.py)."""

    #: A yarn v1 lockfile: each package it pins, from the npm registry, verified by its
    #: integrity, into <source>/.yarn-offline-mirror/ (`yarn install --offline`).
    yarn_lock: str | None = None
    #: A list of Go modules, each the orig tarball of a Debian source package pinned by
    #: sha256, unpacked into <source>/vendor/<module>/ (`go build -mod=vendor`) ...
    go_modules: str | None = None
    #: ... and the vendor/modules.txt that lists them.
    go_modules_txt: str | None = None

    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.yarn_lock, self.go_modules, self.go_modules_txt) if f)


@dataclass(frozen=True)
class HealthCheckRules:
    allow_files: tuple[str, ...] = ()
    allow_libs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """Per-family values of the software fields `fields.SOFTWARE_FIELDS` marks per_family
    (None: not overridden); a test holds the two to each other."""

    build: tuple[str, ...] | None = None
    env: Mapping[str, str] | None = None
    patches: tuple[str, ...] | None = None
    package_excludes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Software:
    name: str
    version: str
    license: str
    file: Path = field(compare=False)
    description: str = ""
    license_files: tuple[str, ...] = ()
    source: Source | None = None
    dependencies: tuple[Dependency, ...] = ()
    patches: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=frozen_map)
    build: tuple[str, ...] = ()
    platforms: Mapping[str, Override] = field(default_factory=frozen_map)
    package_excludes: tuple[str, ...] = ()
    health_check: HealthCheckRules = field(default_factory=HealthCheckRules)
    #: Where `version` was read from, when it is not written in the definition.
    version_from: VersionFrom | None = None
    #: The build may reach the network, for dependencies its source pins by checksum in a
    #: lockfile (go.sum, Cargo.lock, Gemfile.lock, yarn.lock); every other build is offline.
    network: bool = False
    #: Its artifact holds no compiled code (Python files, templates, text), so its key leaves
    #: out the platform and arch and every platform shares one artifact; packaging refuses it
    #: if it holds an ELF file, so the flag cannot lie.
    platform_independent: bool = False
    #: The toolchains its build uses (platforms/toolchains/<name>.yml), mounted read-only
    #: into its build and never packaged.
    toolchains: tuple[str, ...] = ()
    #: Dependencies fetched at fetch time and placed into the source before the build.
    vendored: Vendored | None = None
    #: Versions an environment variable may select at load time (see `overrides`).
    selectable_versions: SelectableVersions | None = None
    #: Why this definition differs from omnibus-gitlab's: "version", "source" or
    #: "dependencies" -> the reason (tests/unit/definitions/test_upstream_versions.py).
    upstream_differences: Mapping[str, str] = field(default_factory=frozen_map)

    def for_family(self, family: str) -> Software:
        """This definition with a family's overrides applied: mappings (env) merged, the
        rest replaced."""
        override = self.platforms.get(family)
        if override is None:
            return self
        changes: dict[str, Any] = {"platforms": frozen_map()}
        for name in (f.name for f in dataclasses.fields(override)):
            value = getattr(override, name)
            if isinstance(value, Mapping):
                changes[name] = frozen_map({**getattr(self, name), **value})
            elif value is not None:
                changes[name] = value
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ProjectVersion:
    """Where a project's version comes from: a literal, a file at the root, or `git describe`."""

    value: str | None = None
    file: str | None = None
    git_describe: bool = False


@dataclass(frozen=True)
class ProjectNames:
    """What a project calls what its users see, so that the engine names no project:
    `repository` is apt's Origin and Label and the stem of the client files
    (NAME-archive-keyring.gpg, NAME.sources, NAME.list, NAME.repo and its [NAME-<repo>]
    section), `title` yum's "TITLE packages for <repo>", `labels` the prefix (reverse DNS)
    of the all-in-one image's own labels."""

    repository: str
    title: str
    labels: str

    @classmethod
    def of(cls, name: str) -> ProjectNames:
        """A project that declares none is called by its own name."""
        return cls(name, name, f"omnibus.{name}")


@dataclass(frozen=True)
class Project:
    name: str
    description: str
    maintainer: str
    homepage: str
    license: str
    file: Path = field(compare=False)
    install_dir: str = "/opt/gitlab"
    edition: str = "ce"
    version: ProjectVersion = field(default_factory=lambda: ProjectVersion(value="0.0.0"))
    iteration: int = 0
    dependencies: tuple[Dependency, ...] = ()
    replaces: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    runtime_dependencies: tuple[Dependency, ...] = ()
    exclusions: tuple[str, ...] = ()
    package_scripts: str = "package"
    vendor: str = ""
    #: Declared in the project's `names:`; None: called by its own name (ProjectNames.of).
    names: ProjectNames | None = None
    #: Upgrades from a version below this MAJOR.MINOR are refused by the package's preinst.
    upgrade_stop: str | None = None
    upgrade_docs: str = ""
    #: Commands under <install_dir>/bin that the package links into /usr/bin.
    ctl_commands: tuple[str, ...] = ()
    #: Dependency name -> the software this project builds in its place, everywhere in its graph.
    substitutes: Mapping[str, str] = field(default_factory=frozen_map)
    #: Dependencies this project builds without, everywhere in its graph (optional parts whose
    #: source it cannot reach; builds find out by what is under the prefix).
    leave_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchSpec:
    """How one CPU architecture is named and compiled for on one platform."""

    name: str
    package_arch: str
    docker_platform: str
    gnu_triplet: str
    cflags: str = ""
    #: The arch's name in each package format (deb: amd64, rpm: x86_64); never a build input.
    package_arches: Mapping[str, str] = field(default_factory=frozen_map)

    def for_format(self, package_format: str) -> str | None:
        return self.package_arches.get(package_format)


@dataclass(frozen=True)
class Compression:
    type: str
    level: int


@dataclass(frozen=True)
class Platform:
    id: str
    family: str
    distro: str
    version: str
    file: Path = field(compare=False)
    codename: str | None = None
    base_image: str = ""
    bootstrap_suite: str | None = None
    package_format: str = "deb"
    compression: Compression = field(default_factory=lambda: Compression("xz", 6))
    dist_tag: str = ""
    glibc: str = ""
    editions: tuple[str, ...] = EDITIONS
    arches: Mapping[str, ArchSpec] = field(default_factory=frozen_map)
    package_install: str = ""
    build_packages: tuple[str, ...] = ()
    cflags: str = ""
    ldflags: str = ""
    allowed_libs: tuple[str, ...] = ()

    def facts(self, arch: str, edition: str) -> dict[str, str]:
        """The values dependency conditions are evaluated against."""
        return {
            "edition": edition, "family": self.family, "arch": arch,
            "platform": self.id, "distro": self.distro,
        }


@dataclass(frozen=True)
class ToolchainFile:
    """One pinned file a toolchain is unpacked from: a Debian binary package (its pool path
    on the Debian mirror apt is configured with) or an npm package (`name@version` on the
    registry npm is configured with)."""

    kind: str  # "debian" or "npm"
    location: str  # the pool path, or name@version
    sha256: str | None = None
    #: npm's Subresource Integrity string (sha512-<base64>), as `npm view ... dist` shows it.
    integrity: str | None = None

    @property
    def file_name(self) -> str:
        if self.kind == "npm":
            name, _, version = self.location.rpartition("@")
            return f"{name.rsplit('/', 1)[-1]}-{version}.tgz"
        return self.location.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Toolchain:
    """A build-only toolchain (Go, Node.js, yarn): pinned files per arch, unpacked once,
    mounted read-only at `mount` into the builds of the software that name it."""

    name: str
    version: str
    license: str
    file: Path = field(compare=False)
    description: str = ""
    mount: str = ""
    #: The directory of the unpacked files that is mounted (e.g. usr/lib/go-1.24).
    root: str = "."
    #: Directories under `mount` put first on the build's PATH.
    path: tuple[str, ...] = ("bin",)
    env: Mapping[str, str] = field(default_factory=frozen_map)
    #: Other toolchains every user of this one also gets (yarn runs on node).
    requires: tuple[str, ...] = ()
    #: arch (or "all") -> the files unpacked on top of each other, in order.
    files: Mapping[str, tuple[ToolchainFile, ...]] = field(default_factory=frozen_map)

    def files_for(self, arch: str) -> tuple[ToolchainFile, ...] | None:
        """The files for `arch`, None when the toolchain has no build for it."""
        return self.files.get(arch, self.files.get("all"))


@dataclass(frozen=True)
class Catalog:
    """Everything under one definitions root, validated as a whole."""

    root: Path
    software: Mapping[str, Software]
    projects: Mapping[str, Project]
    platforms: Mapping[str, Platform]
    toolchains: Mapping[str, Toolchain] = field(default_factory=frozen_map)

    def names_of(self, project: str) -> ProjectNames:
        """The project's `names:`; a project that declares none, or one not defined here
        (its package files given by path), is called by its own name."""
        defined = self.projects.get(project)
        return (defined.names if defined else None) or ProjectNames.of(project)
