"""License compliance: the policy in `licenses/policy.yml`, judged on SPDX expressions, and
the license files a package carries (`LICENSE`, `dependency_licenses.json`)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.definitions.spdx import LicenseChecker
from builder.definitions.strict import Section
from builder.definitions.yamlfile import load_yaml_file
from builder.errors import BuilderError
from builder.resolve.graph import Graph

POLICY_FILE = Path("licenses") / "policy.yml"
RANK = {"denied": 0, "unknown": 1, "allowed": 2}


@dataclass(frozen=True)
class Policy:
    file: Path
    allowed: tuple[str, ...]
    denied: tuple[str, ...]
    exceptions: Mapping[str, str]  # software -> reason

    def judge_key(self, key: str) -> tuple[str, str]:
        """(allowed|denied|unknown, the rule) of one license id; denial wins."""
        for pattern in self.denied:
            if fnmatch.fnmatchcase(key.lower(), pattern.lower()):
                return "denied", f"denied: {pattern}"
        for pattern in self.allowed:
            if fnmatch.fnmatchcase(key.lower(), pattern.lower()):
                return "allowed", f"allowed: {pattern}"
        return "unknown", "on neither list"


def load_policy(root: Path) -> Policy:
    file = root / POLICY_FILE
    if not file.is_file():
        raise BuilderError(f"{file} is missing: packages are never written without a license "
                           "policy", hint="create it with `allowed`, `denied` and `exceptions`")
    section = Section(file, load_yaml_file(file))
    section.allow(frozenset({"allowed", "denied", "exceptions"}))
    return Policy(file, section.str_list("allowed"), section.str_list("denied"),
                  section.str_map("exceptions"))


def _judge(node: Any, policy: Policy) -> tuple[str, str]:
    from license_expression import AND, OR, LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        return _judge(node.license_symbol, policy)
    if isinstance(node, OR | AND):
        results = [_judge(arg, policy) for arg in node.args]
        pick = max if isinstance(node, OR) else min
        return pick(results, key=lambda result: RANK[result[0]])
    return policy.judge_key(node.key)


def judge(expression: str, policy: Policy,
          checker: LicenseChecker | None = None) -> tuple[str, str]:
    """(allowed|denied|unknown, the rule that decided) of an SPDX expression."""
    return _judge((checker or LicenseChecker()).parse(expression), policy)


def license_status(graph: Graph, policy: Policy) -> dict[str, dict[str, str]]:
    """omnibus-gitlab's license-status.json: {software: {license, version, status, reason}}."""
    status = {}
    checker = LicenseChecker()  # one key index for every software
    for name in sorted(graph.software):
        software = graph.software[name]
        verdict, rule = judge(software.license, policy, checker)
        if name in policy.exceptions:
            verdict, rule = "allowed", f"exception: {policy.exceptions[name]}"
        status[name] = {"license": software.license, "version": software.version,
                        "status": "ok" if verdict == "allowed" else "violation",
                        "reason": rule if verdict != "unknown" else f"unknown license ({rule})"}
    return status


def violations_error(graph: Graph, status: Mapping[str, Mapping[str, str]],
                     report: Path, policy: Policy) -> BuilderError | None:
    bad = [(name, entry) for name, entry in status.items() if entry["status"] == "violation"]
    if not bad:
        return None
    lines = "\n".join(f"  {name} {entry['version']}: license \"{entry['license']}\": "
                      f"{entry['reason']}" for name, entry in bad)
    return BuilderError(
        f"license policy violations in {graph.project.name}; no package was written "
        f"(report: {report}):\n{lines}",
        hint=f"replace the software, correct its license, or add an exception with the reason "
        f"to {policy.file}")


def license_text(graph: Graph, version: str) -> str:
    """<install_dir>/LICENSE: the project's license, then every bundled component."""
    project = graph.project
    parts = [f'{project.name} {version} license: "{project.license}"', ""]
    for name in sorted(graph.software):
        software = graph.software[name]
        files = [f"{project.install_dir}/LICENSES/{name}-{f.rsplit('/', 1)[-1]}"
                 for f in software.license_files]
        parts += [f"This product bundles {name} {software.version},",
                  f'which is available under a "{software.license}" License.',
                  "For details, see:", *(files or ["(no license file declared)"]), ""]
    return "\n".join(parts)


def dependency_licenses(graph: Graph) -> str:
    """<install_dir>/dependency_licenses.json, in omnibus-gitlab's shape."""
    entries = [{"name": name, "version": graph.software[name].version,
                "license": graph.software[name].license, "dependencies": []}
               for name in sorted(graph.software)]
    return json.dumps(entries, indent=2) + "\n"


