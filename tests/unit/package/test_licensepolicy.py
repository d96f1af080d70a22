"""The license policy, judged on SPDX expressions, and the files it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import BuilderError, DefinitionError
from builder.package.licensepolicy import (
    Policy,
    dependency_licenses,
    judge,
    license_status,
    license_text,
    load_policy,
    violations_error,
)
from builder.resolve.graph import resolve

POLICY = Policy(Path("licenses/policy.yml"), allowed=("MIT", "BSD-*"), denied=("GPL-*",),
                exceptions={"git": "a separate program"})


@pytest.mark.parametrize(("expression", "verdict", "rule"), [
    ("MIT", "allowed", "allowed: MIT"),
    ("GPL-2.0-only OR MIT", "allowed", "allowed: MIT"),
    ("GPL-2.0-only", "denied", "denied: GPL-*"),
    ("MIT AND GPL-3.0-or-later", "denied", "denied: GPL-*"),
    ("BSD-3-Clause WITH PCRE2-exception", "allowed", "allowed: BSD-*"),
    ("LGPL-2.1-only", "unknown", "on neither list"),
    ("Beerware OR GPL-2.0-only", "unknown", "on neither list"),
])
def test_expressions_are_judged_as_a_whole(expression, verdict, rule):
    assert judge(expression, POLICY) == (verdict, rule)


def project_graph(root, licenses: dict[str, str]):
    for name, license in licenses.items():
        root.write(f"software/{name}.yml", f'name: {name}\nversion: "1.0"\nlicense: {license}\n'
                   "license_files: [COPYING]\nbuild: [make]\n")
    root.project("demo", list(licenses))
    catalog = load_catalog(root.path)
    return resolve(catalog, catalog.projects["demo"], catalog.platforms["debian-12"], "amd64")


def test_status_names_software_license_and_rule(root):
    graph = project_graph(root, {"ok": "MIT", "bad": "GPL-2.0-only", "git": "GPL-2.0-only"})
    status = license_status(graph, POLICY)
    assert status["ok"] == {"license": "MIT", "version": "1.0", "status": "ok",
                            "reason": "allowed: MIT"}
    assert status["git"]["status"] == "ok"
    assert status["git"]["reason"] == "exception: a separate program"
    assert status["bad"]["status"] == "violation"
    error = violations_error(graph, status, Path("pkg/demo.license-status.json"), POLICY)
    assert isinstance(error, BuilderError)
    assert 'bad 1.0: license "GPL-2.0-only": denied: GPL-*' in error.message
    assert "ok 1.0" not in error.message
    assert "licenses/policy.yml" in error.hint


def test_license_summary_and_dependency_list(root):
    graph = project_graph(root, {"zlib": "Zlib"})
    text = license_text(graph, "1.2.3")
    assert text.startswith('demo 1.2.3 license: "MIT"\n')
    assert ('This product bundles zlib 1.0,\nwhich is available under a "Zlib" License.\n'
            "For details, see:\n/opt/gitlab/LICENSES/zlib-COPYING\n") in text
    assert json.loads(dependency_licenses(graph)) == [
        {"name": "zlib", "version": "1.0", "license": "Zlib", "dependencies": []}]


def test_the_repository_policy_loads_and_bad_policies_are_refused(root):
    policy = load_policy(root.path)  # the repository's, copied by the fixture
    assert "MIT" in policy.allowed and "GPL-*" in policy.denied
    root.write("licenses/policy.yml", "allowed: [MIT]\nforbidden: [GPL-*]\n")
    with pytest.raises(DefinitionError) as error:
        load_policy(root.path)
    assert "licenses/policy.yml:2: key 'forbidden'" in str(error.value)
    (root.path / "licenses/policy.yml").unlink()
    with pytest.raises(BuilderError) as missing:
        load_policy(root.path)
    assert "policy.yml is missing" in missing.value.message
