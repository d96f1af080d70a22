"""What a project's package carries besides its software: maintainer scripts rendered from
`templates/<package_scripts>/`, the version manifest, and the deb's copyright, changelog and
lintian overrides."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from builder.errors import BuilderError
from builder.graph import Graph
from builder.model import GitSource, PathSource, Project, Software, UrlSource
from builder.packaging.meta import ExtraFile
from builder.version import PackageVersion

#: Which scripts each format runs; rpm's %posttrans runs the upgrade after the transaction,
#: its %preun is "prerm".
SCRIPTS = {"deb": ("preinst", "postinst", "prerm", "postrm"),
           "rpm": ("preinst", "postinst", "prerm", "postrm", "posttrans")}


def template_environment(directory: Path) -> jinja2.Environment:
    """Templates of files we write (package scripts, the image's): no autoescape, and a
    misspelt variable fails."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(directory),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def render_scripts(root: Path, project: Project, version: PackageVersion,
                   package_format: str) -> dict[str, str]:
    directory = root / "templates" / project.package_scripts
    environment = template_environment(directory)
    context = {"name": project.name, "version": version, "install_dir": project.install_dir,
               "upgrade_stop": project.upgrade_stop or "", "upgrade_docs": project.upgrade_docs,
               "ctl_commands": project.ctl_commands, "format": package_format,
               "edition": project.edition}
    scripts = {}
    for name in SCRIPTS[package_format]:
        try:
            scripts[name] = environment.get_template(f"{name}.j2").render(context)
        except jinja2.TemplateNotFound as error:
            raise BuilderError(f"{directory}/{name}.j2 is missing",
                               hint=f"{project.file}: package_scripts names {directory}") from error
        except jinja2.TemplateError as error:
            raise BuilderError(f"{directory}/{name}.j2: {error}",
                               hint="fix the template") from error
    return scripts


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


def _copyright(graph: Graph, epoch: int, debian: bool = False) -> str:
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


def _changelog(project: Project, version: PackageVersion, epoch: int) -> bytes:
    date = format_datetime(datetime.fromtimestamp(epoch, UTC))
    text = (f"{project.name} ({version.full}) unstable; urgency=medium\n\n"
            f"  * Built by omnibus from {len(project.dependencies)} software definitions.\n\n"
            f" -- {project.maintainer}  {date}\n")
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def deb_extras(root: Path, graph: Graph, version: PackageVersion, epoch: int) -> list[ExtraFile]:
    project = graph.project
    doc = f"usr/share/doc/{project.name}"
    extras = [ExtraFile(f"{doc}/changelog.Debian.gz", _changelog(project, version, epoch)),
              ExtraFile(f"{doc}/copyright", _copyright(graph, epoch, debian=True).encode(),
                        role="license")]
    overrides = root / "templates" / project.package_scripts / "lintian-overrides.j2"
    if overrides.is_file():
        text = template_environment(overrides.parent).get_template(overrides.name).render(
            name=project.name, install_dir=project.install_dir.lstrip("/"))
        extras.append(ExtraFile(f"usr/share/lintian/overrides/{project.name}", text.encode()))
    return extras


def rpm_extras(graph: Graph, epoch: int) -> list[ExtraFile]:
    licenses = f"usr/share/licenses/{graph.project.name}"
    return [ExtraFile(f"{licenses}/COPYRIGHT", _copyright(graph, epoch).encode(), role="license")]


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
