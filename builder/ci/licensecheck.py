"""Every package of a pipeline judged by the license policy, before anything is built.

Packaging judges licenses too (and writes the report beside the package); this check runs
first, in seconds, so a violation stops the pipeline before hours of compiling.
"""

from __future__ import annotations

from collections.abc import Iterable

from builder.ci.targets import package_targets
from builder.definitions.model import Catalog
from builder.errors import BuilderError
from builder.package.licensepolicy import license_status, load_policy
from builder.resolve.graph import resolve


def check_licenses(catalog: Catalog, project_names: Iterable[str]) -> str:
    """A summary line when every package passes; else an error naming each violation once,
    with the packages it is in."""
    policy = load_policy(catalog.root)
    targets = package_targets(catalog, project_names)
    judged: set[str] = set()
    violations: dict[str, tuple[dict[str, str], list[str]]] = {}
    for target in targets:
        graph = resolve(catalog, target.project, target.platform, target.arch)
        for name, entry in license_status(graph, policy).items():
            judged.add(name)
            if entry["status"] == "violation":
                where = f"{target.project.name} {target.platform.id}/{target.arch}"
                violations.setdefault(name, (entry, []))[1].append(where)
    if violations:
        lines = "\n".join(
            f"  {name} {entry['version']}: license \"{entry['license']}\": {entry['reason']} "
            f"(in {len(where)} package(s), e.g. {where[0]})"
            for name, (entry, where) in sorted(violations.items()))
        raise BuilderError(f"license policy violations:\n{lines}",
                           hint=f"replace the software, correct its license, or add an "
                           f"exception with the reason to {policy.file}")
    projects = sorted({t.project.name for t in targets})
    return (f"licenses: {len(judged)} software in {len(targets)} packages of "
            f"{', '.join(projects)} pass {policy.file.name}")
