"""The standard build environment and the build script of one software, from platform data.

Every build sees the same conventions: the embedded bin first on PATH, CFLAGS and CPPFLAGS
with the embedded include dir, LDFLAGS with the embedded lib dir and an rpath to it,
PKG_CONFIG_PATH, SOURCE_DATE_EPOCH, plus the platform's and the arch's compiler flags.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from builder.definitions.model import Platform, Software, Toolchain
from builder.definitions.templating import render_step

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Marks the start of each step in a build log, so a failure can name its step.
STEP_MARKER = "==> omnibus step"


def step_context(software: Software, platform: Platform, arch: str, install_dir: str,
                 edition: str, jobs: int, source_dir: str) -> dict[str, Any]:
    """The variables a build step's jinja2 template sees (see templating.STEP_VARIABLES)."""
    return {
        "name": software.name, "version": software.version, "prefix": f"{install_dir}/embedded",
        "install_dir": install_dir, "source_dir": source_dir, "jobs": jobs,
        "platform": platform.id, "family": platform.family, "distro": platform.distro,
        "arch": arch, "gnu_triplet": platform.arches[arch].gnu_triplet,
        "package_format": platform.package_format, "edition": edition, "env": {},
    }


def build_environment(software: Software, platform: Platform, arch: str,
                      context: Mapping[str, Any], epoch: int,
                      toolchains: tuple[Toolchain, ...] = ()) -> dict[str, str]:
    """The environment of a build; its toolchains' bin dirs come after the embedded ones
    (what the build made wins) and before the system's."""
    prefix = context["prefix"]
    tools = ":".join(f"{t.mount}/{p}".removesuffix("/.") for t in toolchains for p in t.path)
    cflags = " ".join(f for f in (f"-I{prefix}/include", platform.cflags,
                                  platform.arches[arch].cflags) if f)
    ldflags = " ".join(f for f in (f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib",
                                   platform.ldflags) if f)
    environment = {
        "PATH": ":".join(filter(None, (f"{context['install_dir']}/bin", f"{prefix}/bin", tools,
                                       SYSTEM_PATH))),
        "CFLAGS": cflags, "CXXFLAGS": cflags, "CPPFLAGS": f"-I{prefix}/include",
        "LDFLAGS": ldflags, "LD_RUN_PATH": f"{prefix}/lib",
        "PKG_CONFIG_PATH": f"{prefix}/lib/pkgconfig:{prefix}/share/pkgconfig",
        "SOURCE_DATE_EPOCH": str(epoch), "OMNIBUS_JOBS": str(context["jobs"]),
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "HOME": "/tmp",
    }
    for toolchain in toolchains:
        environment.update(toolchain.env)
    for name, value in software.env.items():  # a definition's env wins, and may use templates
        environment[name] = render_step(value, {**context, "env": environment})
    return environment


def build_script(software: Software, context: Mapping[str, Any]) -> str:
    """A bash script running each rendered step from the source root, marking each step."""
    steps = [render_step(step, context) for step in software.build]
    lines = ["#!/bin/bash", f"# Build of {software.name} {software.version}, made by omnibus.",
             "set -e -o pipefail"]
    for number, step in enumerate(steps, 1):
        first_line = step.strip().splitlines()[0] if step.strip() else ""
        lines.append(f"echo {shlex.quote(f'{STEP_MARKER} {number}/{len(steps)}: {first_line}')}")
        lines.append(f'cd "$OMNIBUS_SOURCE_DIR"\n(\nset -e\n{step.rstrip()}\n)')
    lines += _license_step(software, context["install_dir"])
    lines.append(f"echo {shlex.quote(f'{STEP_MARKER} done')}")
    return "\n".join(lines) + "\n"


def _license_step(software: Software, install_dir: str) -> list[str]:
    """Copy the license files into <install_dir>/LICENSES/<name>-<file>, as chef/omnibus
    does after a build; a missing one fails the build, naming it."""
    if not software.license_files:
        return []
    lines = [f"echo {shlex.quote(f'{STEP_MARKER} licenses')}", 'cd "$OMNIBUS_SOURCE_DIR"']
    for file in software.license_files:
        target = f"{install_dir}/LICENSES/{software.name}-{file.rsplit('/', 1)[-1]}"
        missing = (f"omnibus: license file '{file}' of {software.name} is not in its source; "
                   f"fix license_files in software/{software.name}.yml")
        check = f"[ -f {shlex.quote(file)} ]"
        lines.append(f"{check} || {{ echo {shlex.quote(missing)} >&2; exit 1; }}")
        lines.append(f"install -D -m 0644 {shlex.quote(file)} {shlex.quote(target)}")
    return lines


def failing_step(log_text: str) -> str | None:
    """The marker line of the last step a log started, unless the build finished."""
    markers = [line for line in log_text.splitlines() if line.startswith(STEP_MARKER)]
    if not markers or markers[-1] == f"{STEP_MARKER} done":
        return None
    return markers[-1].removeprefix(STEP_MARKER).strip()
