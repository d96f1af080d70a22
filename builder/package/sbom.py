"""The package's SBOM (SPDX 2.3 JSON) and its human-readable licenses page (HTML).

Every bundled software is an SPDX package with its version, where its source comes from
(URL, or git remote at the locked commit), its checksum and its license expression; the
project's package CONTAINS each of them, and each DEPENDS_ON its declared dependencies.
Deterministic: the creation time is SOURCE_DATE_EPOCH and the namespace is derived from the
contents.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from builder.definitions.model import GitSource, UrlSource
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph
from builder.sources.pypi import normalise

TOOL = "Tool: omnibus-gitlab-py"


def _spdx_id(name: str) -> str:
    return "SPDXRef-Package-" + re.sub(r"[^A-Za-z0-9.\-]", "-", name)


def _software_package(graph: Graph, name: str, locks: Mapping[str, str]) -> dict[str, Any]:
    software = graph.software[name]
    source = software.source
    entry: dict[str, Any] = {
        "SPDXID": _spdx_id(name), "name": name, "versionInfo": software.version,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
        "licenseConcluded": software.license, "licenseDeclared": software.license,
        "copyrightText": "NOASSERTION",
    }
    if software.description:
        entry["summary"] = software.description
    if isinstance(source, UrlSource):
        if source.url:
            entry["downloadLocation"] = source.url
        algorithm, value = ("SHA512", source.sha512) if source.sha512 else ("SHA256",
                                                                             source.sha256)
        entry["checksums"] = [{"algorithm": algorithm, "checksumValue": value}]
        if source.pypi:
            entry["externalRefs"] = [{
                "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                "referenceLocator": f"pkg:pypi/{normalise(source.pypi)}@{software.version}",
            }]
    elif isinstance(source, GitSource):
        entry["downloadLocation"] = f"git+{source.git}@{locks.get(name, source.ref)}"
    return entry


def spdx_document(graph: Graph, version: PackageVersion, locks: Mapping[str, str],
                  epoch: int) -> dict[str, Any]:
    project = graph.project
    top = _spdx_id(project.name)
    packages = [{
        "SPDXID": top, "name": project.name, "versionInfo": version.full,
        "supplier": f"Organization: {project.vendor}", "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False, "licenseConcluded": project.license,
        "licenseDeclared": project.license, "copyrightText": "NOASSERTION",
        "homepage": project.homepage, "summary": project.description.strip().splitlines()[0],
    }]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": top}]
    for name in sorted(graph.software):
        packages.append(_software_package(graph, name, locks))
        relationships.append({"spdxElementId": top, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": _spdx_id(name)})
        relationships += [{"spdxElementId": _spdx_id(name), "relationshipType": "DEPENDS_ON",
                           "relatedSpdxElement": _spdx_id(dependency)}
                          for dependency in graph.edges[name]]
    content = json.dumps([packages, relationships], sort_keys=True).encode()
    return {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{project.name}-{version.full}",
        "documentNamespace": f"{project.homepage.rstrip('/')}/spdx/{project.name}-"
                             f"{version.full}-{hashlib.sha256(content).hexdigest()[:16]}",
        "creationInfo": {"created": datetime.fromtimestamp(epoch, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"), "creators": [TOOL]},
        "packages": packages, "relationships": relationships,
    }


def licenses_page(graph: Graph, version: PackageVersion,
                  status: Mapping[str, Mapping[str, str]]) -> str:
    """One HTML page listing every bundled component, its license and the policy's verdict."""
    project = graph.project
    title = html.escape(f"{project.name} {version.full}: bundled software and licenses")
    rows = []
    for name in sorted(graph.software):
        software = graph.software[name]
        verdict = status.get(name, {})
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in (
            name, software.version, software.license, verdict.get("status", ""),
            verdict.get("reason", ""))) + "</tr>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{title}</title>", "</head>", "<body>", f"<h1>{title}</h1>",
        f"<p>{html.escape(project.name)} is licensed under "
        f"{html.escape(project.license)}. It bundles the software below; each "
        f"component's license texts are installed in {html.escape(project.install_dir)}"
        "/LICENSES/.</p>",
        "<table>", "<tr><th>Component</th><th>Version</th><th>License</th><th>Status</th>"
        "<th>Reason</th></tr>", *rows, "</table>", "</body>", "</html>", ""])
