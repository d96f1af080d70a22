"""Every software a GitLab project builds matches omnibus-gitlab's HEAD (version, source pin,
dependencies with their conditions), as tests/data/omnibus-gitlab-head.yml records it, or its
definition says why not in `upstream_differences`.

The test fails on a difference without a reason, and on a reason where nothing differs (so a
reason cannot outlive its difference). See every difference and its reason with

    .venv/bin/python tests/unit/definitions/test_upstream_versions.py

How sources compare: a url source by url and checksum (the same algorithm); a git source by
remote (`git:` is omnibus-gitlab's default, "alternative", channel), ref (unless the version
is read from a file: the ref is then the version) and the other channels' remotes; a PyPI
source by project name (omnibus-gitlab pins no checksum there); a definition that fetches
nothing or takes this repository's own files equals one that takes omnibus-gitlab's own files
(`path`) or fetches nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from builder.definitions.loader import load_catalog  # noqa: E402
from builder.definitions.model import (  # noqa: E402
    Catalog,
    Condition,
    Dependency,
    GitSource,
    Software,
    UrlSource,
)
from builder.resolve.graph import resolve  # noqa: E402

FACTS_FILE = REPO / "tests/data/omnibus-gitlab-head.yml"
GITLAB_PROJECTS = ("gitlab-ce", "gitlab-ee", "gitlab-fips")
ASPECTS = ("version", "source", "dependencies")
LOCAL = "this repository's or omnibus-gitlab's own files, or nothing fetched"


def load_facts() -> Mapping[str, Any]:
    return yaml.safe_load(FACTS_FILE.read_text())["software"]


def used_by_gitlab_projects(catalog: Catalog) -> dict[str, set[str]]:
    """Software name -> the editions whose builds (on any platform and arch) include it."""
    used: dict[str, set[str]] = {}
    for name in GITLAB_PROJECTS:
        project = catalog.projects[name]
        for platform in catalog.platforms.values():
            if project.edition not in platform.editions:
                continue
            for arch in platform.arches:
                graph = resolve(catalog, project, platform, arch)
                for software in graph.software:
                    used.setdefault(software, set()).add(project.edition)
    return used


# --- one aspect at a time: None when equal, else what differs ------------------------------

def version_difference(ours: Software, upstream: Any) -> str | None:
    if upstream is None:  # omnibus-gitlab gives it no version of its own
        return None
    if isinstance(upstream, dict):
        origin = ours.version_from
        mine = None if origin is None else \
            {"file": origin.file, "env": origin.env, "tag_prefix": origin.tag_prefix}
        return None if mine == upstream else f"read from {mine}, upstream from {upstream}"
    return None if ours.version == str(upstream) else f"{ours.version}, upstream {upstream}"


def _pypi(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def source_of(ours: Software) -> dict[str, Any] | str:
    """Our source in the facts file's vocabulary."""
    source = ours.source
    if isinstance(source, GitSource):
        spelled: dict[str, Any] = {"git": source.git}
        if ours.version_from is None:
            spelled["ref"] = source.ref
        if source.channels:
            spelled["channels"] = dict(source.channels)
        return spelled
    if isinstance(source, UrlSource) and source.pypi:
        return {"pypi": _pypi(source.pypi)}
    if isinstance(source, UrlSource):
        spelled = {"url": source.url} if source.url else \
            {"debian": source.debian.package if source.debian else None}
        return spelled | ({"sha512": source.sha512} if source.sha512 else
                          {"sha256": source.sha256})
    return LOCAL  # a path of this repository, or nothing to fetch


def source_difference(ours: Software, upstream: Any) -> str | None:
    wanted: dict[str, Any] | str = LOCAL if upstream is None or "path" in upstream else \
        dict(upstream)
    if isinstance(wanted, dict) and "pypi" in wanted:
        wanted["pypi"] = _pypi(wanted["pypi"])
    mine = source_of(ours)
    return None if mine == wanted else f"{mine}, upstream {wanted}"


def _condition(when: Mapping[str, Any], unless: Mapping[str, Any]) -> tuple:
    def part(values: Mapping[str, Any]) -> tuple:
        return tuple(sorted((fact, tuple(sorted([v] if isinstance(v, str) else v)))
                            for fact, v in values.items()))
    return part(when), part(unless)


def _describe(name: str, condition: tuple) -> str:
    text = Condition(dict(condition[0]), dict(condition[1])).describe()
    return f"{name} ({text})" if text else name


def dependency_difference(ours: Software, upstream: list[Any]) -> str | None:
    def spelled(dependency: Dependency) -> tuple[str, tuple]:
        return dependency.name, _condition(dependency.condition.when,
                                           dependency.condition.unless)
    mine = dict(spelled(d) for d in ours.dependencies)
    theirs = {}
    for item in upstream:
        if isinstance(item, str):
            theirs[item] = _condition({}, {})
        else:
            theirs[item["name"]] = _condition(item.get("when", {}), item.get("unless", {}))
    parts = []
    if missing := sorted(set(theirs) - set(mine)):
        parts.append("upstream's not ours: " + ", ".join(_describe(n, theirs[n]) for n in missing))
    if extra := sorted(set(mine) - set(theirs)):
        parts.append("ours not upstream's: " + ", ".join(_describe(n, mine[n]) for n in extra))
    changed = sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n])
    parts += [f"{_describe(n, mine[n])} where upstream has {_describe(n, theirs[n])}"
              for n in changed]
    return "; ".join(parts) or None


def differences(ours: Software, upstream: Mapping[str, Any],
                editions: set[str]) -> dict[str, str]:
    """Aspect -> what differs, in any of the editions that build it."""
    found = {}
    if (what := version_difference(ours, upstream["version"])) is not None:
        found["version"] = what
    for edition in sorted(editions):
        source = upstream.get("source_by_edition", {}).get(edition, upstream["source"])
        if (what := source_difference(ours, source)) is not None:
            found["source"] = f"{edition}: {what}" if source is not upstream["source"] else what
            break
    if (what := dependency_difference(ours, upstream["dependencies"])) is not None:
        found["dependencies"] = what
    return found


# --- the report ------------------------------------------------------------------------------

def compare(catalog: Catalog, facts: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(every difference with its reason, every problem: a difference without a reason or a
    reason without a difference), one line each."""
    report, problems = [], []
    for name, editions in sorted(used_by_gitlab_projects(catalog).items()):
        ours = catalog.software[name]
        where = ours.file.relative_to(catalog.root)
        if name not in facts:
            problems += [f"{name} ({where}): upstream_differences.{aspect} given, but "
                         "omnibus-gitlab has no such software: remove it"
                         for aspect in ours.upstream_differences]
            continue
        found = differences(ours, facts[name], editions)
        reasons = ours.upstream_differences
        for aspect, what in found.items():
            if aspect in reasons:
                report.append(f"{name} {aspect}: {what}\n    why: {reasons[aspect]}")
            else:
                problems.append(
                    f"{name} {aspect} differs from omnibus-gitlab's with no reason: {what}\n"
                    f"    match omnibus-gitlab ({FACTS_FILE.name}), or say why in {where}: "
                    f"upstream_differences: {{{aspect}: \"...\"}}")
        problems += [f"{name} ({where}): upstream_differences.{aspect} says why it differs, "
                     f"but its {aspect} matches omnibus-gitlab's: remove the reason"
                     for aspect in reasons if aspect not in found]
    return report, problems


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO, environ={})


def test_the_facts_name_their_commit():
    header = FACTS_FILE.read_text().split("\nsoftware:", 1)[0]
    assert "omnibus-gitlab @ 440b1f835eb205885d22933ac074cc11c1148609" in header


def test_every_difference_from_omnibus_gitlab_has_a_reason_and_every_reason_a_difference(
        catalog):
    report, problems = compare(catalog, load_facts())
    assert report, "no difference at all: the comparison compares nothing"
    assert not problems, (
        f"{len(problems)} problem(s) against omnibus-gitlab's HEAD:\n\n" + "\n".join(problems))


def test_every_upstream_software_a_gitlab_project_builds_is_compared(catalog):
    used = used_by_gitlab_projects(catalog)
    facts = load_facts()
    compared = set(used) & set(facts)
    assert {"nginx", "redis", "openssl", "curl", "python3", "git", "ruby"} <= compared
    # ours only (tests/unit/definitions/test_catalog.py's ONLY_OURS says why)
    assert set(used) - compared <= {"python-jinja2", "python-markupsafe", "python-pyyaml",
                                    "python-flit-core", "gitlab-rails-assets",
                                    "python-acme-tiny"}


def test_a_difference_is_found_and_named():
    facts = {"version": "1.2", "source": {"url": "https://x/a-1.2.tgz", "sha256": "0" * 64},
             "dependencies": ["zlib-ng", {"name": "openssl", "unless": {"edition": "fips"}}]}
    ours = Software("a", "1.1", "MIT", Path("software/a.yml"),
                    source=UrlSource("https://x/a-1.1.tgz", sha256="1" * 64),
                    dependencies=(Dependency("openssl"), Dependency("libtool")))
    found = differences(ours, facts, {"ce"})
    assert found["version"] == "1.1, upstream 1.2"
    assert "a-1.1.tgz" in found["source"] and "a-1.2.tgz" in found["source"]
    assert found["dependencies"] == (
        "upstream's not ours: zlib-ng; ours not upstream's: libtool; "
        "openssl where upstream has openssl (edition not in fips)")


if __name__ == "__main__":
    lines, issues = compare(load_catalog(REPO, environ={}), load_facts())
    summary = f"{len(lines)} differences with a reason, {len(issues)} problems"
    print("\n".join([*lines, "", summary, *issues]))
