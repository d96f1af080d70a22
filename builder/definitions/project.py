"""Parsers for project (`projects/*.yml`) and platform (`platforms/*.yml`) files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder.definitions.model import (
    ARCHES,
    EDITIONS,
    FAMILIES,
    PACKAGE_FORMATS,
    RUNTIME_CONDITION_FACTS,
    ArchSpec,
    Compression,
    Platform,
    Project,
    ProjectNames,
    ProjectVersion,
    frozen_map,
)
from builder.definitions.software import check_name, read_dependencies, read_license, read_name
from builder.definitions.spdx import LicenseChecker
from builder.definitions.strict import Section

PROJECT_KEYS = frozenset({
    "name", "description", "maintainer", "homepage", "license", "install_dir", "edition",
    "version", "iteration", "dependencies", "replaces", "conflicts", "runtime_dependencies",
    "exclusions", "package_scripts", "vendor", "upgrade_stop", "upgrade_docs", "ctl_commands",
    "substitutes", "leave_out", "names",
})
PLATFORM_KEYS = frozenset({
    "family", "distro", "version", "codename", "base_image", "bootstrap_suite",
    "package_format", "compression", "dist_tag", "glibc", "editions", "arches",
    "package_install", "build_packages", "cflags", "ldflags", "allowed_libs",
})
ARCH_KEYS = frozenset({"package_arch", "package_arches", "docker_platform", "gnu_triplet",
                       "cflags"})
UPGRADE_STOP = re.compile(r"\d+\.\d+")
COMPRESSION_LEVELS = {"xz": range(0, 10), "zstd": range(1, 23), "gzip": range(1, 10)}


def _choice(section: Section, key: str, choices: tuple[str, ...], default: str | None) -> str:
    value = section.str(key, required=default is None, default=default)
    if value not in choices:
        raise section.error(key, f"'{value}' is not one of: {', '.join(choices)}")
    return value


def _read_version(section: Section) -> ProjectVersion:
    version = section.section("version", required=True)
    version.allow(frozenset({"value", "file", "git_describe"}))
    given = [key for key in ("value", "file", "git_describe") if version.has(key)]
    if len(given) != 1:
        raise section.error(
            "version", "must give exactly one of value, file or git_describe",
            hint="e.g. 'version: {file: VERSION}' reads the version from a file at the root",
        )
    return ProjectVersion(
        value=version.str("value"), file=version.str("file"),
        git_describe=version.bool("git_describe"),
    )


def _read_install_dir(section: Section) -> str:
    install_dir = section.str("install_dir", default="/opt/gitlab")
    if not install_dir.startswith("/") or ".." in install_dir.split("/"):
        raise section.error("install_dir", f"'{install_dir}' must be an absolute path")
    return install_dir.rstrip("/") or "/"


def _read_names(section: Section) -> ProjectNames | None:
    names = section.section("names")
    if names is None:
        return None
    names.allow(frozenset({"repository", "title", "labels"}))
    repository = names.str("repository", required=True)
    return ProjectNames(repository, names.str("title", default=repository),
                        names.str("labels", default=f"omnibus.{repository}"))


def parse_project(file: Path, data: Any, licenses: LicenseChecker) -> Project:
    section = Section(file, data)
    section.allow(PROJECT_KEYS)
    iteration = section.int("iteration", default=0)
    if iteration < 0:
        raise section.error("iteration", "must not be negative")
    return Project(
        name=read_name(section, file),
        description=section.str("description", required=True),
        maintainer=section.str("maintainer", required=True),
        homepage=section.str("homepage", required=True),
        license=read_license(section, licenses),
        file=file,
        install_dir=_read_install_dir(section),
        edition=_choice(section, "edition", EDITIONS, "ce"),
        version=_read_version(section),
        iteration=iteration,
        dependencies=read_dependencies(section, "dependencies"),
        replaces=tuple(check_name(section, "replaces", n) for n in section.str_list("replaces")),
        conflicts=tuple(check_name(section, "conflicts", n) for n in section.str_list("conflicts")),
        runtime_dependencies=read_dependencies(section, "runtime_dependencies",
                                               RUNTIME_CONDITION_FACTS),
        exclusions=section.str_list("exclusions"),
        package_scripts=section.str("package_scripts", default="package"),
        vendor=section.str("vendor", default="") or section.str("maintainer", required=True),
        names=_read_names(section),
        upgrade_stop=_read_upgrade_stop(section),
        upgrade_docs=section.str("upgrade_docs", default=""),
        ctl_commands=tuple(check_name(section, "ctl_commands", n)
                           for n in section.str_list("ctl_commands")),
        substitutes=frozen_map(_read_substitutes(section)),
        leave_out=tuple(check_name(section, "leave_out", n) for n in section.str_list("leave_out")),
    )


def _read_substitutes(section: Section) -> dict[str, str]:
    substitutes = section.str_map("substitutes")
    for wanted, used in substitutes.items():
        check_name(section, "substitutes", wanted)
        check_name(section, "substitutes", used)
        if used in substitutes:
            raise section.error("substitutes", f"'{used}' replaces '{wanted}' but is itself "
                                "replaced", hint="map each name straight to its final software")
    return substitutes


def _read_upgrade_stop(section: Section) -> str | None:
    stop = section.str("upgrade_stop")
    if stop is not None and not UPGRADE_STOP.fullmatch(stop):
        raise section.error("upgrade_stop", f"'{stop}' is not MAJOR.MINOR",
                            hint="e.g. upgrade_stop: \"17.11\" (quoted, so YAML keeps it a string)")
    return stop


def _read_compression(section: Section) -> Compression:
    compression = section.section("compression", required=True)
    compression.allow(frozenset({"type", "level"}))
    kind = _choice(compression, "type", tuple(COMPRESSION_LEVELS), None)
    level = compression.int("level", default=6)
    if level not in COMPRESSION_LEVELS[kind]:
        levels = COMPRESSION_LEVELS[kind]
        raise compression.error("level", f"{kind} takes levels {levels.start}..{levels.stop - 1}")
    return Compression(kind, level)


def _read_package_arches(spec: Section, native_format: str) -> dict[str, str]:
    names = {native_format: spec.str("package_arch", required=True)}
    for package_format, name in spec.str_map("package_arches").items():
        if package_format not in PACKAGE_FORMATS:
            raise spec.error("package_arches", f"'{package_format}' is not a package format",
                             hint=f"formats: {', '.join(PACKAGE_FORMATS)}")
        if package_format == native_format and name != names[native_format]:
            raise spec.error("package_arches", f"{package_format} name '{name}' differs from "
                             f"package_arch '{names[native_format]}'")
        names[package_format] = name
    return names


def _read_arches(section: Section, native_format: str) -> dict[str, ArchSpec]:
    arches = section.section("arches", required=True)
    arches.allow(frozenset(ARCHES))
    if not arches.data:
        raise section.error("arches", "needs at least one architecture")
    result = {}
    for name in arches.data:
        spec = arches.section(name, required=True)
        spec.allow(ARCH_KEYS)
        result[name] = ArchSpec(
            name=name,
            package_arch=spec.str("package_arch", required=True),
            docker_platform=spec.str("docker_platform", required=True),
            gnu_triplet=spec.str("gnu_triplet", required=True),
            cflags=spec.str("cflags", default=""),
            package_arches=frozen_map(_read_package_arches(spec, native_format)),
        )
    return result


def _read_editions(section: Section) -> tuple[str, ...]:
    editions = section.str_list("editions") if section.has("editions") else EDITIONS
    for edition in editions:
        if edition not in EDITIONS:
            raise section.error("editions", f"'{edition}' is not one of: {', '.join(EDITIONS)}")
    return editions


def _read_allowed_libs(section: Section) -> tuple[str, ...]:
    patterns = section.str_list("allowed_libs")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise section.error(
                "allowed_libs", f"'{pattern}' is not a regular expression: {error}"
            ) from error
    return patterns


def _read_package_install(section: Section) -> str:
    command = section.str("package_install", required=True)
    if "{packages}" not in command:
        raise section.error("package_install", "must contain {packages}",
                            hint="e.g. \"dnf install -y {packages}\"")
    return command


def parse_platform(file: Path, data: Any) -> Platform:
    section = Section(file, data)
    section.allow(PLATFORM_KEYS)
    package_format = _choice(section, "package_format", PACKAGE_FORMATS, None)
    return Platform(
        id=check_name(section, "name", file.stem),
        family=_choice(section, "family", FAMILIES, None),
        distro=section.str("distro", required=True),
        version=section.str("version", required=True),
        file=file,
        codename=section.str("codename"),
        base_image=section.str("base_image", required=True),
        bootstrap_suite=section.str("bootstrap_suite"),
        package_format=package_format,
        compression=_read_compression(section),
        dist_tag=section.str("dist_tag", default=""),
        glibc=section.str("glibc", required=True),
        editions=_read_editions(section),
        arches=frozen_map(_read_arches(section, package_format)),
        package_install=_read_package_install(section),
        build_packages=section.str_list("build_packages"),
        cflags=section.str("cflags", default=""),
        ldflags=section.str("ldflags", default=""),
        allowed_libs=_read_allowed_libs(section),
    )
