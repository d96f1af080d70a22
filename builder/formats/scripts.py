"""What a project's package carries besides its software, in every format: maintainer scripts
rendered from `templates/<package_scripts>/` (each format says which it runs), the version
manifest and the copyright text (each format's extras place it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from builder.definitions.model import GitSource, PathSource, Project, Software, UrlSource
from builder.errors import BuilderError
from builder.formats.format import Format
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph


def template_environment(directory: Path) -> jinja2.Environment:
    """Templates of files we write (package scripts, the image's): no autoescape, and a
    misspelt variable fails."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(directory),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def render_scripts(root: Path, project: Project, version: PackageVersion,
                   package_format: Format, postgresql_majors: tuple[int, ...] = ()
                   ) -> dict[str, str]:
    """The scripts the format runs, from the project's templates; a template sees the
    format's name as `format`, and the PostgreSQL majors the package ships (the preinst
    refuses data on any other) as `postgresql_majors`."""
    directory = root / "templates" / project.package_scripts
    environment = template_environment(directory)
    context = {"name": project.name, "version": version, "install_dir": project.install_dir,
               "upgrade_stop": project.upgrade_stop or "", "upgrade_docs": project.upgrade_docs,
               "ctl_commands": project.ctl_commands, "format": package_format.name,
               "edition": project.edition, "postgresql_majors": postgresql_majors}
    scripts = {}
    for name in package_format.scripts:
        try:
            scripts[name] = environment.get_template(f"{name}.j2").render(context)
        except jinja2.TemplateNotFound as error:
            raise BuilderError(f"{directory}/{name}.j2 is missing",
                               hint=f"{project.file}: package_scripts names {directory}") from error
        except jinja2.TemplateError as error:
            raise BuilderError(f"{directory}/{name}.j2: {error}",
                               hint="fix the template") from error
    return scripts


#: The software that are PostgreSQL builds: omnibus-gitlab's postgresql, postgresql_old and
#: postgresql_new, and this project's postgresql-<major>[-debian] (not postgres-exporter)
POSTGRESQL_BUILD = re.compile(r"^postgresql(_old|_new|-\d+(-debian)?)?$")


def postgresql_majors(graph: Graph) -> tuple[int, ...]:
    """The PostgreSQL majors the package ships, from its software's versions."""
    return tuple(sorted({int(definition.version.split(".")[0])
                         for name, definition in graph.software.items()
                         if POSTGRESQL_BUILD.match(name)
                         and definition.version.split(".")[0].isdigit()}))


def _locked_source(software: Software, locks: Mapping[str, str]) -> dict[str, Any]:
    source = software.source
    if isinstance(source, UrlSource):
        found = {"url": source.url} if source.url else {}
        if source.pypi:
            found["pypi"] = source.pypi
        found.update({k: v for k, v in (("sha256", source.sha256), ("sha512", source.sha512)) if v})
        return found
    if isinstance(source, GitSource):
        return {"git": source.git, "ref": locks.get(software.name, source.ref)}
    if isinstance(source, PathSource):
        return {"path": source.path if isinstance(source.path, str) else list(source.path)}
    return {}


def version_manifest(graph: Graph, version: PackageVersion,
                     locks: Mapping[str, str]) -> dict[str, Any]:
    """omnibus's version-manifest.json (manifest format 2), plus the project's upgrade stop,
    which gitlab-ctl reads at runtime (the container image checks it on every start)."""
    software = {}
    for name in sorted(graph.software):
        definition = graph.software[name]
        source = definition.source
        locked = locks.get(name) if isinstance(source, GitSource) else definition.version
        software[name] = {
            "locked_version": locked or definition.version,
            "locked_source": _locked_source(definition, locks),
            "source_type": source.kind if source is not None else "project_local",
            "described_version": definition.version,
            "license": definition.license,
        }
    return {"manifest_format": 2, "software": software, "build_version": version.version,
            "build_git_revision": "", "license": graph.project.license,
            "upgrade_stop": graph.project.upgrade_stop or ""}


#: SPDX license ids (by prefix) -> the text Debian keeps in /usr/share/common-licenses/.
COMMON_LICENSES = (("GPL-1.0", "GPL-1"), ("GPL-2.0", "GPL-2"), ("GPL-3.0", "GPL-3"),
                   ("LGPL-2.0", "LGPL-2"), ("LGPL-2.1", "LGPL-2.1"), ("LGPL-3.0", "LGPL-3"),
                   ("GFDL-1.2", "GFDL-1.2"), ("GFDL-1.3", "GFDL-1.3"),
                   ("Apache-2.0", "Apache-2.0"), ("Artistic-1.0", "Artistic"),
                   ("CC0-1.0", "CC0-1.0"), ("MPL-1.1", "MPL-1.1"), ("MPL-2.0", "MPL-2.0"))


def common_licenses(expressions: list[str]) -> list[tuple[str, str]]:
    """(SPDX id, /usr/share/common-licenses/FILE) for every id in `expressions` whose text a
    Debian system has, as Debian policy 12.5 wants a copyright file to point to it."""
    ids = sorted({token for text in expressions for token in re.findall(r"[\w.+-]+", text)})
    found = []
    for license_id in ids:
        for prefix, file in COMMON_LICENSES:
            if license_id == prefix or license_id.startswith((prefix + "-", prefix + "+")):
                found.append((license_id, f"/usr/share/common-licenses/{file}"))
    return found


def copyright_text(graph: Graph, epoch: int, debian: bool = False) -> str:
    """Plain text: the packaging's license, then every bundled component and its license;
    for a .deb, where a Debian system keeps the texts of the common ones."""
    project = graph.project
    width = max(len(name) for name in graph.software) if graph.software else 0
    summary = project.description.strip().splitlines()[0]
    lines = [f"{project.name}: {summary}",
             f"Copyright (c) {datetime.fromtimestamp(epoch, UTC).year} {project.vendor} "
             "(the packaging) and the authors of each component",
             f"Homepage: {project.homepage}", f"License of the packaging: {project.license}", "",
             "This package bundles the software below. Each component's license texts are in",
             f"{project.install_dir}/LICENSES/ where the component ships them.", ""]
    for name in sorted(graph.software):
        definition = graph.software[name]
        lines.append(f"  {name:<{width}}  {definition.version:<12}  {definition.license}")
    common = common_licenses([project.license] + [graph.software[name].license
                                                  for name in graph.software])
    if debian and common:
        width = max(len(license_id) for license_id, _ in common)
        lines += ["", "On Debian systems, the complete texts of these licenses are in "
                  "/usr/share/common-licenses/:", ""]
        lines += [f"  {license_id:<{width}}  {path}" for license_id, path in common]
    return "\n".join(lines) + "\n"


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def _joined(path: str | list[str]) -> str:
    return path if isinstance(path, str) else ",".join(path)


def manifest_text(manifest: Mapping[str, Any], project_name: str) -> bytes:
    """version-manifest.txt, as chef/omnibus writes it: a padded table of every component."""
    rows = [("Component", "Installed Version", "Version GUID", "Overridden From")]
    for name, entry in manifest["software"].items():
        source = entry["locked_source"]
        guid = (f"git:{entry['locked_version']}" if "git" in source
                else f"sha256:{source['sha256']}" if "sha256" in source
                else f"sha512:{source['sha512']}" if "sha512" in source
                else f"path:{_joined(source['path'])}" if "path" in source else "")
        rows.append((name, str(entry["locked_version"]), guid, ""))
    widths = [max(len(row[i]) for row in rows) + 3 for i in range(4)]
    lines = [f"{project_name} {manifest['build_version']}", ""]
    lines += ["".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip() for row in rows]
    return ("\n".join(lines) + "\n").encode()
