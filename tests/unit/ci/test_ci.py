"""`omnibus ci generate`: the pipeline a release engineer reads, checked by what they check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builder.ci.licensecheck import check_licenses
from builder.ci.pipeline import facts_targets, generate_pipeline, job_names, package_targets
from builder.ci.render import render_pipeline
from builder.cli.main import main
from builder.definitions.loader import load_catalog
from builder.definitions.model import GitSource
from builder.errors import BuilderError, DefinitionError, UnknownNameError
from builder.resolve.graph import resolve
from tests.conftest import REPO, Root

GITLAB = ("gitlab-ce", "gitlab-ee", "gitlab-fips")
GOLDEN = REPO / "tests" / "golden" / "ci-toy.gitlab-ci.yml"
RUNNERS = """\
arches:
  amd64: [amd64]
  arm64: [arm64, large]
images: [docker]
tools: [omnibus]
"""
RELEASE = (REPO / "templates/ci/release.yml").read_text().replace(
    "platform: ubuntu-24.04", "platform: debian-12")
#: What is true in each kind of pipeline, as GitLab sets its predefined variables.
KINDS = {
    "nightly": {'$CI_PIPELINE_SOURCE == "schedule"', "$CI_COMMIT_BRANCH"},
    "release": {"$CI_COMMIT_TAG"},
    "merge request": {'$CI_PIPELINE_SOURCE == "merge_request_event"'},
    "branch push": {"$CI_COMMIT_BRANCH"},
    "run by hand": {"$CI_PIPELINE_SOURCE =~ /^(web|api|trigger)$/", "$CI_COMMIT_BRANCH"},
}


@pytest.fixture(scope="module")
def real() -> dict:
    return generate_pipeline(load_catalog(REPO), GITLAB)


def packages(pipeline: dict, project: str) -> set[tuple[str, str]]:
    """(platform, arch) of every package job of `project`."""
    return {tuple(name.split(":")[2:]) for name in job_names(pipeline)
            if name.startswith(f"package:{project}:")}


def toy_root(path: Path) -> Root:
    """Two platforms of the conftest kind (debian-12 deb, el-9 rpm), one project, a fixed
    builder recipe and runner tags: nothing here changes when the repository's do."""
    root = Root(path)
    root.software("hello")
    root.project("demo", ["hello"])
    root.write("Dockerfile.builder", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    root.write("templates/ci/runners.yml", RUNNERS)
    root.write("templates/ci/release.yml", RELEASE)
    return root


def runs(job: dict, kind: str) -> str | None:
    """How the job runs in a pipeline of that kind: its first matching rule's `when`
    (None: not in the pipeline), as GitLab evaluates rules."""
    for rule in job.get("rules", [{}]):
        if "if" not in rule or rule["if"] in KINDS[kind]:
            when = rule.get("when", "on_success")
            return None if when == "never" else when
    return None


def pipeline_of(pipeline: dict, kind: str) -> dict[str, str]:
    return {name: when for name in job_names(pipeline)
            if (when := runs(pipeline[name], kind)) is not None}


def test_the_pipeline_validates_against_gitlab_ci_schema(tmp_path):
    """check-jsonschema's vendored copy of GitLab's own CI schema: an independent validator."""
    files = []
    for projects in (GITLAB, *((p,) for p in GITLAB)):
        out = tmp_path / f"{'-'.join(projects)}.yml"
        assert main(["ci", "generate", *projects, "--out", str(out), "--root", str(REPO)]) == 0
        files.append(str(out))
    validator = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(validator), "--builtin-schema", "vendor.gitlab-ci", *files],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # and a broken job is caught by it, so the check above can fail
    broken = yaml.safe_load(Path(files[0]).read_text())
    broken["facts"]["retry"] = {"max": 2, "when": ["a_failure_gitlab_does_not_know"]}
    Path(files[0]).write_text(yaml.safe_dump(broken))
    result = subprocess.run([str(validator), "--builtin-schema", "vendor.gitlab-ci", files[0]],
                            capture_output=True, text=True)
    assert result.returncode == 1


def test_the_job_matrix_follows_each_platforms_editions_and_arches(real):
    both = {"amd64", "arm64"}
    dual = ["amazon-2023", "debian-11", "debian-12", "debian-13", "el-8", "el-9", "el-10",
            "opensuse-15.6", "ubuntu-22.04", "ubuntu-24.04", "ubuntu-26.04"]
    pi = {("raspbian-bookworm", "armhf"), ("raspbian-bullseye", "armhf")}
    # openSUSE builds CE and EE, as upstream does; the Pi CE only
    assert packages(real, "gitlab-ce") == {(p, a) for p in dual for a in both} | pi
    assert packages(real, "gitlab-ee") == {(p, a) for p in dual for a in both}
    assert packages(real, "gitlab-fips") == {(p, a) for p in ("amazon-2023", "el-8", "el-9",
                                                              "ubuntu-22.04") for a in both}
    images = {tuple(n.split(":")[1:]) for n in job_names(real) if n.startswith("image:")}
    assert images == {(p, a) for p in dual for a in both} | pi
    # every package is install-tested in a clean container of its platform
    tests = {n.replace("test:", "package:", 1) for n in job_names(real)
             if n.startswith("test:")}
    assert tests == {n for n in job_names(real) if n.startswith("package:")}
    for kind in ("staging", "publish"):
        uploads = {n for n in job_names(real) if n.startswith(f"{kind}:")}
        assert len(uploads) == 13 + 11 + 4, kind
        assert {f"{kind}:gitlab-ce:opensuse-15.6:yum", f"{kind}:gitlab-fips:el-9:yum"} <= uploads
        assert all(n.endswith(":yum") == any(d in n for d in ("el-", "amazon", "opensuse"))
                   for n in uploads)


def test_stages_run_in_release_order_and_every_job_has_one(real):
    assert real["stages"] == ["trigger", "facts", "images", "assets", "packages",
                              "package-test", "docker", "staging", "release"]
    order = [real["stages"].index(real[name]["stage"]) for name in job_names(real)]
    assert order == sorted(order)
    for name in job_names(real):  # a job only needs jobs of its own or earlier stages
        for need in real[name].get("needs", []):
            needed = need if isinstance(need, str) else need["job"]
            assert real["stages"].index(real[needed]["stage"]) <= \
                real["stages"].index(real[name]["stage"]), (name, needed)


def test_each_pipeline_kind_runs_a_closed_set_of_jobs(real):
    """GitLab refuses a pipeline in which a job needs a job its rules left out."""
    for kind in KINDS:
        included = pipeline_of(real, kind)
        for name in included:
            for need in real[name].get("needs", []):
                needed = need if isinstance(need, str) else need["job"]
                assert needed in included, f"{kind}: {name} needs {needed}, not in it"
    mr = pipeline_of(real, "merge request")
    assert sorted(mr) == ["assets:gitlab-ce", "facts", "image:debian-12:amd64", "licenses",
                          "package:gitlab-ce:debian-12:amd64", "test:gitlab-ce:debian-12:amd64",
                          "trigger"]
    assert set(mr.values()) == {"on_success"}  # a merge request pipeline starts by itself
    branch = pipeline_of(real, "branch push")
    assert branch["trigger"] == "manual"
    assert not [n for n in branch if n.split(":")[0] in ("staging", "publish", "release-image")]
    assert {"docker:gitlab-ce:arm64", "docker-manifest:gitlab-ee"} <= set(branch)
    nightly, release = pipeline_of(real, "nightly"), pipeline_of(real, "release")
    assert set(nightly) == set(release) == set(job_names(real))
    assert set(nightly.values()) == {"on_success"}  # nightlies publish by themselves
    manual = {n for n, when in release.items() if when == "manual"}
    assert manual == {n for n in job_names(real) if n.split(":")[0] in ("publish",
                                                                        "release-image")}


def test_assets_are_compiled_once_per_rails_commit_and_given_to_every_package(real):
    assets = [n for n in job_names(real) if n.startswith("assets:")]
    assert assets == ["assets:gitlab-ce"]  # CE, EE and FIPS build the same Rails commit
    job = real["assets:gitlab-ce"]
    # the assets software alone; its platform-independent artifact reaches every package job
    # through the remote cache, under a key that is the same on every platform and arch
    assert job["script"] == [
        "omnibus build gitlab-ce --platform debian-12 --arch amd64 --only gitlab-rails-assets "
        '--runner host --locks build_facts/source-locks.json --remote-cache '
        '"$OMNIBUS_REMOTE_CACHE"']
    assert job["cache"] == [
        {"key": "assets-$OMNIBUS_ASSETS_COMMIT", "paths": ["cache/downloads/"], "when": "always"}]
    # the facts job reports the Rails commit the cache is keyed by
    facts = real["facts"]
    assert facts["artifacts"]["reports"] == {"dotenv": "build_facts/facts.env"}
    assert "'OMNIBUS_ASSETS_COMMIT=' + json.load(open('build_facts/source-locks.json'))" \
        "['https://gitlab.com/gitlab-org/gitlab.git@" in facts["script"][-1]
    for name in job_names(real):
        if name.startswith("package:"):
            assert {"job": "assets:gitlab-ce", "artifacts": False} in real[name]["needs"]


def test_package_jobs_cache_sources_by_the_locks_digest(real):
    facts = real["facts"]["script"]
    assert ('echo "OMNIBUS_SOURCES_KEY=$(sha256sum build_facts/source-locks.json | cut -c1-16)"'
            ' > build_facts/facts.env') in facts
    for name in job_names(real):
        if name.startswith("package:"):
            assert real[name]["cache"] == [{"key": "sources-$OMNIBUS_SOURCES_KEY",
                                            "paths": ["cache/downloads/"], "when": "always"}]


def test_package_tests_install_in_a_clean_container_and_smoke_test(real):
    deb = real["test:gitlab-ce:debian-12:amd64"]
    assert deb["image"] == "debian:bookworm"  # the platform's base image, not the builder's
    assert deb["needs"] == [{"job": "package:gitlab-ce:debian-12:amd64", "artifacts": True}]
    assert deb["tags"] == ["amd64"]
    assert "apt-get install -y --no-install-recommends ./pkg/gitlab-ce/debian-12/amd64/*.deb" \
        in deb["script"][0]
    assert deb["script"][1:] == ["/opt/gitlab/bin/gitlab-ctl --help",
                                 "test -s /opt/gitlab/version-manifest.json"]
    suse = real["test:gitlab-ee:opensuse-15.6:arm64"]
    assert suse["image"] == "opensuse/leap:15.6" and suse["tags"] == ["arm64"]
    assert suse["script"][0].startswith("zypper --no-gpg-checks --non-interactive install")
    assert real["test:gitlab-fips:el-9:amd64"]["script"][0].startswith(
        "dnf install -y ./pkg/gitlab-fips/el-9/amd64/*.rpm")


def test_all_in_one_images_per_arch_then_one_manifest_then_release(real):
    amd = real["docker:gitlab-ee:amd64"]
    assert amd["needs"] == [{"job": "package:gitlab-ee:ubuntu-24.04:amd64", "artifacts": True},
                            {"job": "test:gitlab-ee:ubuntu-24.04:amd64", "artifacts": False}]
    assert amd["script"][0] == (
        "omnibus image package gitlab-ee --platform ubuntu-24.04 --arch amd64 --from "
        'pkg/gitlab-ee/ubuntu-24.04/amd64 --tag "$CI_REGISTRY_IMAGE/gitlab-ee:'
        '$OMNIBUS_IMAGE_TAG-amd64"')
    manifest = real["docker-manifest:gitlab-ee"]
    assert [n["job"] for n in manifest["needs"]] == ["docker:gitlab-ee:amd64",
                                                     "docker:gitlab-ee:arm64"]
    image = "$CI_REGISTRY_IMAGE/gitlab-ee:$OMNIBUS_IMAGE_TAG"
    assert manifest["script"] == [f'docker manifest create "{image}" "{image}-amd64" '
                                  f'"{image}-arm64"', f'docker manifest push "{image}"']
    assert "docker-manifest:gitlab-fips" not in real  # FIPS is not built on the image platform
    release = real["release-image:gitlab-ee"]
    assert release["needs"] == [{"job": "docker-manifest:gitlab-ee", "artifacts": False}]
    tags = {rule["if"]: rule["variables"].get("OMNIBUS_IMAGE_TAG")
            for rule in real["workflow"]["rules"] if "variables" in rule}
    assert tags['$CI_PIPELINE_SOURCE == "schedule"'] == "nightly"
    assert tags["$CI_COMMIT_TAG"] == "$CI_COMMIT_TAG"


def test_each_package_job_builds_the_facts_jobs_commits_in_its_builder_image(real):
    facts = real["facts"]
    assert facts["artifacts"]["paths"] == ["build_facts/"]
    assert facts["script"][:2] == ["mkdir -p build_facts",
                                   "echo '{}' > build_facts/source-locks.json"]
    job = real["package:gitlab-ce:debian-12:arm64"]
    assert {"job": "facts", "artifacts": True} in job["needs"]
    assert {"job": "image:debian-12:arm64", "artifacts": False} in job["needs"]
    assert job["image"].startswith("$CI_REGISTRY_IMAGE/builder/debian-12:arm64-")
    assert job["image"] in real["image:debian-12:arm64"]["script"][0]
    assert job["script"] == [
        "omnibus build gitlab-ce --platform debian-12 --arch arm64 --runner host --locks "
        'build_facts/source-locks.json --remote-cache "$OMNIBUS_REMOTE_CACHE" --build-kind '
        '"$OMNIBUS_BUILD_KIND" --out pkg/gitlab-ce/debian-12/arm64']
    assert job["artifacts"]["paths"] == ["pkg/gitlab-ce/debian-12/arm64/",
                                         "cache/logs/debian-12/arm64/"]
    assert job["artifacts"]["when"] == "always"  # the license report of a failed policy
    for name in job_names(real):
        if name.startswith("package:"):
            assert real[name]["needs"][0] == {"job": "facts", "artifacts": True}, name


def test_the_facts_job_locks_every_git_ref_of_every_package():
    catalog = load_catalog(REPO)
    targets = package_targets(catalog, GITLAB)

    def refs(target):
        graph = resolve(catalog, target.project, target.platform, target.arch)
        return {f"{s.source.git}@{s.source.ref}" for s in graph.software.values()
                if isinstance(s.source, GitSource) and not s.source.locked}

    chosen = facts_targets(catalog, targets)
    wanted = set().union(*(refs(t) for t in targets))
    assert len(wanted) > 5  # GitLab's own components come from git
    assert set().union(*(refs(t) for t in chosen)) == wanted
    assert len(chosen) < len(targets) / 4  # a few fetches, not one per package
    script = generate_pipeline(catalog, GITLAB)["facts"]["script"]
    assert len(script) == 2 + len(chosen) + 2  # and the sources key, the assets commit
    # ls-remote only: the facts job downloads no source
    assert all(line.endswith("--locks build_facts/source-locks.json --locks-only")
               for line in script[2:-2])


def test_runner_tags_per_arch_come_from_data(tmp_path):
    root = toy_root(tmp_path / "defs")
    pipeline = generate_pipeline(load_catalog(root.path), ["demo"])
    assert pipeline["package:demo:el-9:amd64"]["tags"] == ["amd64"]
    assert pipeline["package:demo:el-9:arm64"]["tags"] == ["arm64", "large"]
    assert pipeline["image:el-9:arm64"]["tags"] == ["arm64", "large", "docker"]
    assert pipeline["facts"]["tags"] == ["omnibus"]
    root.write("templates/ci/runners.yml", RUNNERS.replace("  arm64: [arm64, large]\n", ""))
    with pytest.raises(DefinitionError) as caught:
        generate_pipeline(load_catalog(root.path), ["demo"])
    assert "arch 'arm64' has no runner tags in" in caught.value.message
    assert "add 'arm64: [TAG, ...]' under arches:" in caught.value.hint


def test_rules_nightly_schedules_tags_release_branches_wait_for_a_click(real):
    workflow = {rule["if"]: rule["variables"] for rule in real["workflow"]["rules"]
                if "variables" in rule}
    assert workflow['$CI_PIPELINE_SOURCE == "schedule"'] == {
        "NIGHTLY": "true", "OMNIBUS_BUILD_KIND": "nightly", "OMNIBUS_IMAGE_TAG": "nightly"}
    assert workflow["$CI_COMMIT_TAG"] == {"OMNIBUS_BUILD_KIND": "release",
                                          "OMNIBUS_IMAGE_TAG": "$CI_COMMIT_TAG"}
    assert workflow["$CI_COMMIT_BRANCH"] == {"OMNIBUS_BUILD_KIND": "branch"}
    assert real["workflow"]["rules"][0]["when"] == "never"  # no branch twin of an MR pipeline
    trigger = real["trigger"]["rules"]
    assert trigger[-1] == {"if": "$CI_COMMIT_BRANCH", "when": "manual"}
    assert all("when" not in rule for rule in trigger[:-1])  # schedules, tags, run by hand
    assert real["facts"]["needs"] == ["trigger"] == real["image:debian-12:amd64"]["needs"]
    publish = real["publish:gitlab-ee:el-9:yum"]
    assert publish["stage"] == "release"
    assert publish["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'},
                                {"if": "$CI_COMMIT_TAG", "when": "manual"}]  # never a branch
    assert publish["resource_group"] == "publish-gitlab-ee-el-9"
    assert '--sign-key "$OMNIBUS_SIGN_KEY"' in publish["script"][0]
    assert "pkg/gitlab-ee/el-9/*/*.rpm --platform el-9" in publish["script"][0]
    assert [n["job"] for n in publish["needs"]] == ["package:gitlab-ee:el-9:amd64",
                                                    "package:gitlab-ee:el-9:arm64",
                                                    "staging:gitlab-ee:el-9:yum"]
    staging = real["staging:gitlab-ee:el-9:yum"]
    assert '--repo "$OMNIBUS_REPO_DIR/staging/$OMNIBUS_BUILD_KIND/gitlab-ee"' in \
        staging["script"][0]
    assert {"job": "test:gitlab-ee:el-9:arm64", "artifacts": False} in staging["needs"]
    assert staging["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'},
                                {"if": "$CI_COMMIT_TAG"}]


def test_every_job_retries_runner_failures_and_nothing_else(real):
    for name in job_names(real):
        retry = real[name]["retry"]
        assert retry["max"] == 2, name
        assert {"runner_system_failure", "stuck_or_timeout_failure"} <= set(retry["when"])
        assert "script_failure" not in retry["when"] and "always" not in retry["when"]


def test_a_new_platform_file_adds_its_jobs_without_code(tmp_path):
    root = toy_root(tmp_path / "defs")
    before = set(job_names(generate_pipeline(load_catalog(root.path), ["demo"])))
    text = (root.path / "platforms/debian-12.yml").read_text()
    root.write("platforms/debian-14.yml", text.replace("editions: [ce, ee, fips]",
                                                       "editions: [ce]")
               .replace('version: "12"', 'version: "14"'))
    after = set(job_names(generate_pipeline(load_catalog(root.path), ["demo"])))
    assert after - before == {"image:debian-14:amd64", "image:debian-14:arm64",
                              "package:demo:debian-14:amd64", "package:demo:debian-14:arm64",
                              "test:demo:debian-14:amd64", "test:demo:debian-14:arm64",
                              "staging:demo:debian-14:apt", "publish:demo:debian-14:apt"}
    root.project("demo-ee", ["hello"], edition="ee")  # not an edition debian-14 builds
    names = job_names(generate_pipeline(load_catalog(root.path), ["demo-ee"]))
    assert not [n for n in names if "debian-14" in n]


def test_the_same_definitions_give_the_same_bytes_golden(tmp_path):
    root = toy_root(tmp_path / "defs")
    catalog = load_catalog(root.path)
    text = render_pipeline(generate_pipeline(catalog, ["demo"]), ["demo"])
    assert text == render_pipeline(generate_pipeline(catalog, ["demo", "demo"]), ["demo"])
    assert text.startswith("# Generated by `omnibus ci generate demo` (or `./dev ci`): "
                           "do not edit.\n")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "run with UPDATE_GOLDEN=1 if the change is intended"
    assert "&id" not in text and "*id" not in text  # no YAML anchors or aliases


def test_the_repositorys_gitlab_ci_yml_is_what_the_definitions_give(tmp_path):
    committed = REPO / ".gitlab-ci.yml"
    out = tmp_path / "generated.yml"
    assert main(["ci", "generate", *GITLAB, "--out", str(out), "--root", str(REPO)]) == 0
    assert committed.read_text() == out.read_text(), (
        "platforms, projects, Dockerfile.builder or templates/ci/ changed: run `./dev ci` "
        "and commit .gitlab-ci.yml")


def test_unknown_projects_and_no_edition_are_clear_errors(tmp_path, capsys):
    root = toy_root(tmp_path / "defs")
    catalog = load_catalog(root.path)
    with pytest.raises(UnknownNameError) as caught:
        generate_pipeline(catalog, ["demo", "gitlab-xe"])
    assert caught.value.message == "no project named 'gitlab-xe'"
    assert main(["ci", "generate", "gitlab-xe", "--root", str(root.path)]) == 2
    assert "hint: known projects: demo" in capsys.readouterr().err
    for platform in ("debian-12", "el-9"):
        path = root.path / f"platforms/{platform}.yml"
        path.write_text(path.read_text().replace("editions: [ce, ee, fips]", "editions: [ee]"))
    with pytest.raises(BuilderError) as caught:
        generate_pipeline(load_catalog(root.path), ["demo"])
    assert caught.value.message == "no platform builds the editions of demo"
    fresh = toy_root(tmp_path / "fresh")
    shutil.rmtree(fresh.path / "templates/ci")
    with pytest.raises(DefinitionError, match=r"runners\.yml: is missing"):
        generate_pipeline(load_catalog(fresh.path), ["demo"])


def test_the_license_check_judges_every_package_before_building(tmp_path):
    assert check_licenses(load_catalog(REPO), GITLAB).endswith(
        "packages of gitlab-ce, gitlab-ee, gitlab-fips pass policy.yml")
    root = toy_root(tmp_path / "defs")
    root.software("shady", extra="")
    path = root.path / "software/shady.yml"
    path.write_text(path.read_text().replace("license: MIT", "license: AGPL-3.0-only"))
    root.project("demo", ["hello", "shady"])
    with pytest.raises(BuilderError) as caught:
        check_licenses(load_catalog(root.path), ["demo"])
    assert 'shady 1.0: license "AGPL-3.0-only"' in caught.value.message
    assert "(in 4 package(s), e.g. demo debian-12/amd64)" in caught.value.message
