"""`platform_independent: true`: one artifact for every platform and arch, and no way to lie."""

from __future__ import annotations

import subprocess

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError
from builder.package.healthcheck import check_stage
from builder.package.stage import make_stage
from builder.resolve.graph import resolve
from builder.resolve.keys import compute_keys
from tests.conftest import REPO

INDEPENDENT = "platform_independent: true\n"
TARGETS = (("debian-12", "amd64"), ("debian-12", "arm64"), ("el-9", "amd64"), ("el-9", "arm64"))


def keys(root, project="demo"):
    """{(platform, arch): {software: key}} for every target of the conftest platforms."""
    catalog = load_catalog(root.path)
    found = {}
    for platform, arch in TARGETS:
        graph = resolve(catalog, catalog.projects[project], catalog.platforms[platform], arch)
        found[platform, arch] = {n: r.key for n, r in compute_keys(graph, root.path).items()}
    return found


@pytest.fixture
def ctl_root(root):
    """`ctl` (platform-independent) runs on `python` (compiled) and renders `wrapper`."""
    root.software("python")
    root.software("ctl", ["python"], extra=INDEPENDENT)
    root.project("demo", ["ctl"])
    return root


def test_a_platform_independent_software_has_one_key_everywhere(ctl_root):
    found = keys(ctl_root)
    assert len({k["ctl"] for k in found.values()}) == 1
    assert len({k["python"] for k in found.values()}) == len(TARGETS)  # compiled: its own each


def test_its_key_still_follows_its_dependencies_and_itself(ctl_root):
    before = keys(ctl_root)[TARGETS[0]]["ctl"]
    ctl_root.software("python", version="1.1")
    after = keys(ctl_root)
    assert len({k["ctl"] for k in after.values()}) == 1 and after[TARGETS[0]]["ctl"] != before
    ctl_root.software("ctl", ["python"], version="2", extra=INDEPENDENT)
    assert keys(ctl_root)[TARGETS[0]]["ctl"] not in (before, after[TARGETS[0]]["ctl"])


def test_the_flag_changes_the_key_so_old_artifacts_are_never_shared(ctl_root):
    shared = keys(ctl_root)[TARGETS[0]]["ctl"]
    ctl_root.software("ctl", ["python"])
    assert keys(ctl_root)[TARGETS[0]]["ctl"] != shared


@pytest.mark.parametrize(("extra", "problem"), [
    ("platform_independent: true\nenv: {TRIPLET: '{{ gnu_triplet }}'}\n", "uses gnu_triplet"),
    ("platform_independent: true\nplatforms: {rhel: {env: {A: b}}}\n",
     "cannot have per-family overrides"),
])
def test_a_build_that_reads_platform_facts_cannot_claim_it(root, extra, problem):
    root.software("ctl", extra=extra)
    with pytest.raises(DefinitionError, match=problem):
        load_catalog(root.path)


def test_a_build_step_reading_the_arch_cannot_claim_it(root):
    root.write("software/ctl.yml", 'name: ctl\nversion: "1"\nlicense: MIT\n' + INDEPENDENT
               + "build:\n  - echo {{ arch }} > {{ prefix }}/arch\n")
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    assert "key 'build': uses arch, which differ between platforms" in caught.value.message
    assert "drop platform_independent" in caught.value.hint


def test_a_template_reading_the_platform_cannot_claim_it(root):
    root.write("templates/software/ctl/wrapper.j2", "#!/bin/sh\necho {{ platform }}\n")
    root.software("ctl", extra=INDEPENDENT + "templates: [software/ctl/wrapper.j2]\n")
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    assert "template 'software/ctl/wrapper.j2' uses platform" in caught.value.message


def test_packaging_refuses_compiled_code_in_a_platform_independent_artifact(tmp_path):
    tree = tmp_path / "tree" / "embedded" / "bin"
    tree.mkdir(parents=True)
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", "-o", str(tree / "tool"), str(tmp_path / "main.c")], check=True)
    (tree / "script").write_text("#!/bin/sh\n")
    stage = make_stage([("ctl", tmp_path / "tree", ())], "/opt/toy", [], tmp_path / "stage")
    allowed = ("ld-linux", r"libc\.so")
    assert check_stage(stage, allowed, "", {}) == []
    offences = check_stage(stage, allowed, "", {}, frozenset({"ctl"}))
    assert [(o.path, o.owner, o.rule) for o in offences] == [
        ("/opt/toy/embedded/bin/tool", "ctl", "compiled code in a platform-independent software")]


def test_the_repositorys_wrappers_and_gitlab_ctl_are_shared_by_every_platform():
    catalog = load_catalog(REPO)
    independent = {n for n, s in catalog.software.items() if s.platform_independent}
    assert {"gitlab-ctl", "gitlab-psql", "gitlab-config-template"} <= independent
    project = catalog.projects["gitlab-ce"]
    found = []
    for platform, arch in (("debian-12", "amd64"), ("el-9", "arm64"),
                           ("raspbian-bookworm", "armhf")):
        graph = resolve(catalog, project, catalog.platforms[platform], arch)
        found.append({n: r.key for n, r in compute_keys(graph, REPO).items()})
    for name in independent & set(found[0]):
        assert found[0][name] == found[1][name] == found[2][name], name
    assert found[0]["python3"] != found[1]["python3"]
