"""A GitLab CI pipeline as a plain dict, made from the definitions and nothing else.

Jobs, in stage order:
  trigger                    runs by itself for schedules, tags and pipelines run by hand;
                             on a branch push it waits for a click (omnibus-gitlab's manual
                             Trigger jobs)
  facts                      locks every git source of the pipeline to a commit, once, into
                             build_facts/ (omnibus-gitlab's generate-facts): every package job
                             builds exactly those commits
  licenses                   judges every package's licenses before hours of compiling
  image:P:A                  the builder image of platform P and arch A, in the registry
  package:PROJECT:P:A        builds in that image with the host runner, sharing artifacts
                             through the remote cache; keeps pkg/ and the build logs
  publish:PROJECT:P:KIND     adds the packages to the signed apt or yum repository
Which platforms, arches and editions exist is platform data (`arches`, `editions`); the
runner tags of each arch are templates/ci/runners.yml.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.ci.runners import RunnerTags, load_runner_tags
from builder.compile.builder_images import RECIPE, install_command
from builder.definitions.model import Catalog, GitSource, Platform, Project
from builder.digests import sha256_json
from builder.errors import UnknownNameError, UsageError
from builder.formats import format_named
from builder.resolve.graph import resolve

STAGES = ("trigger", "facts", "images", "packages", "publish")
FACTS_DIR = "build_facts"
LOCKS = f"{FACTS_DIR}/source-locks.json"
#: Failures of the machinery, not of the build: worth another try on another runner.
RETRY = {"max": 2, "when": ["api_failure", "data_integrity_failure", "runner_system_failure",
                            "scheduler_failure", "stuck_or_timeout_failure"]}
SCHEDULE = '$CI_PIPELINE_SOURCE == "schedule"'
BY_HAND = '$CI_PIPELINE_SOURCE =~ /^(web|api|trigger)$/'
#: Nightly schedules (NIGHTLY=true: `omnibus package` versions them +rnightly.<pipeline>.<sha>),
#: tags (releases), and branches (+rfbranch); no other pipeline builds packages.
WORKFLOW = {"rules": [
    {"if": SCHEDULE, "variables": {"NIGHTLY": "true", "OMNIBUS_BUILD_KIND": "nightly"}},
    {"if": "$CI_COMMIT_TAG", "variables": {"OMNIBUS_BUILD_KIND": "release"}},
    {"if": "$CI_COMMIT_BRANCH", "variables": {"OMNIBUS_BUILD_KIND": "branch"}},
]}
VARIABLES = {
    "OMNIBUS_BUILD_KIND": "branch",  # the workflow rules set it for each pipeline
    "OMNIBUS_REPO_DIR": "repo",  # the publish runner's repositories; keep them between runs
    "OMNIBUS_REPO_URL": "$CI_PAGES_URL",  # where clients reach OMNIBUS_REPO_DIR
    "GIT_DEPTH": "0",  # project versions come from `git describe --tags`
    # where package runners mount omnibus into the builder image (docs/ci.md)
    "OMNIBUS_HOME": "/opt/omnibus",
}


@dataclass(frozen=True)
class Target:
    """One package of the pipeline: a project for one platform and arch."""

    project: Project
    platform: Platform
    arch: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return self.project.name, self.platform.id, self.arch


def package_targets(catalog: Catalog, project_names: Iterable[str]) -> list[Target]:
    """Every platform and arch that builds each project's edition (platform data decides)."""
    names = sorted(set(project_names))
    if not names:
        raise UsageError("no project given", hint=f"name one or more of: "
                         f"{', '.join(sorted(catalog.projects))}")
    targets = []
    for name in names:
        if name not in catalog.projects:
            raise UnknownNameError("project", name, sorted(catalog.projects))
        project = catalog.projects[name]
        for platform in catalog.platforms.values():
            if project.edition in platform.editions:
                targets += [Target(project, platform, arch) for arch in platform.arches]
    if not targets:
        raise UsageError(f"no platform builds the editions of {', '.join(names)}",
                         hint="list the edition under `editions:` in a platforms/*.yml file")
    return sorted(targets, key=lambda t: t.sort_key)


def facts_targets(catalog: Catalog, targets: list[Target]) -> list[Target]:
    """Few targets whose fetches lock every git ref any package of the pipeline builds
    (a ref can be conditional on edition, family or arch); in target order."""
    covered: set[str] = set()
    chosen = []
    for target in targets:
        graph = resolve(catalog, target.project, target.platform, target.arch)
        refs = {f"{s.source.git}@{s.source.ref}" for s in graph.software.values()
                if isinstance(s.source, GitSource) and not s.source.locked}
        if refs - covered:
            covered |= refs
            chosen.append(target)
    return chosen


def image_name(platform: Platform, arch: str, root: Path) -> str:
    """The builder image in this project's registry, tagged by a digest of what makes it, so
    a changed recipe or platform gets a new image and an unchanged one is only pulled."""
    recipe = root / RECIPE
    digest = sha256_json({
        "recipe": hashlib.sha256(recipe.read_bytes()).hexdigest() if recipe.is_file() else "",
        "base_image": platform.base_image, "bootstrap_suite": platform.bootstrap_suite,
        "install": install_command(platform), "docker_platform":
        platform.arches[arch].docker_platform,
    })[:16]
    return f"$CI_REGISTRY_IMAGE/builder/{platform.id}:{arch}-{digest}"


def _job(stage: str, tags: Iterable[str], script: list[str], **more: Any) -> dict[str, Any]:
    return {"stage": stage, "tags": list(tags), **more, "script": script}


def trigger_job(projects: list[str], tags: RunnerTags) -> dict[str, Any]:
    rules = [{"if": SCHEDULE}, {"if": "$CI_COMMIT_TAG"}, {"if": BY_HAND},
             {"if": "$CI_COMMIT_BRANCH", "when": "manual"}]
    return _job("trigger", tags.tools, [
        f'echo "packages of {" ".join(projects)}: a $OMNIBUS_BUILD_KIND build of $CI_COMMIT_SHA"'
    ], rules=rules, retry=RETRY)


def facts_job(catalog: Catalog, targets: list[Target], tags: RunnerTags) -> dict[str, Any]:
    # A new, empty locks file: every git ref is resolved anew, once, for the whole pipeline,
    # with git ls-remote (--locks-only): nothing is downloaded here.
    script = [f"mkdir -p {FACTS_DIR}", f"echo '{{}}' > {LOCKS}"]
    script += [f"omnibus fetch {t.project.name} --platform {t.platform.id} --arch {t.arch} "
               f"--locks {LOCKS} --locks-only" for t in facts_targets(catalog, targets)]
    return _job("facts", tags.tools, script, needs=["trigger"], retry=RETRY,
                artifacts={"paths": [f"{FACTS_DIR}/"], "expire_in": "7 days"})


def licenses_job(projects: list[str], tags: RunnerTags) -> dict[str, Any]:
    return _job("facts", tags.tools, [f"omnibus ci check-licenses {' '.join(projects)}"],
                needs=["trigger"], retry=RETRY)


def image_job(platform: Platform, arch: str, root: Path, tags: RunnerTags) -> dict[str, Any]:
    image = image_name(platform, arch, root)
    script = [f'docker pull "{image}" || {{ omnibus image build --platform {platform.id} '
              f'--arch {arch} --tag "{image}" && docker push "{image}"; }}']
    return _job("images", (*tags.for_arch(arch, platform.file), *tags.images), script,
                needs=["trigger"], retry=RETRY,
                before_script=['echo "$CI_REGISTRY_PASSWORD" | docker login -u '
                               '"$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"'])


def package_dir(target: Target) -> str:
    return f"pkg/{target.project.name}/{target.platform.id}/{target.arch}"


def package_job(target: Target, root: Path, tags: RunnerTags) -> dict[str, Any]:
    platform, arch = target.platform, target.arch
    command = (f"omnibus build {target.project.name} --platform {platform.id} --arch {arch} "
               f"--runner host --locks {LOCKS} --remote-cache \"$OMNIBUS_REMOTE_CACHE\" "
               f"--build-kind \"$OMNIBUS_BUILD_KIND\" --out {package_dir(target)}")
    return _job(
        "packages", tags.for_arch(arch, platform.file), [command],
        image=image_name(platform, arch, root),
        needs=[{"job": "facts", "artifacts": True}, {"job": "licenses", "artifacts": False},
               {"job": f"image:{platform.id}:{arch}", "artifacts": False}],
        retry=RETRY, timeout="4h", before_script=['export PATH="$OMNIBUS_HOME/bin:$PATH"'],
        # the license status is written even when the policy fails the job
        artifacts={"when": "always", "expire_in": "7 days",
                   "paths": [f"{package_dir(target)}/", f"cache/logs/{platform.id}/{arch}/"]},
    )


def publish_job(project: Project, platform: Platform, packaged: list[Target],
                tags: RunnerTags) -> dict[str, Any]:
    repo = f"$OMNIBUS_REPO_DIR/$OMNIBUS_BUILD_KIND/{project.name}"
    extension = format_named(platform.package_format).extension
    command = (f"omnibus publish {project.name} pkg/{project.name}/{platform.id}/*/*"
               f"{extension} --platform {platform.id} --repo \"{repo}\" "
               f"--sign-key \"$OMNIBUS_SIGN_KEY\" --base-url \"$OMNIBUS_REPO_URL/"
               f"$OMNIBUS_BUILD_KIND/{project.name}/\"")
    return _job(
        "publish", tags.tools, [command],
        needs=[{"job": f"package:{project.name}:{t.platform.id}:{t.arch}", "artifacts": True}
               for t in packaged],
        # nightlies go out by themselves, releases when the release team says so; branch
        # builds are never published
        rules=[{"if": SCHEDULE}, {"if": "$CI_COMMIT_TAG", "when": "manual"}],
        resource_group=f"publish-{project.name}-{platform.id}",  # one writer per repository
        retry=RETRY,
        artifacts={"expire_in": "7 days", "paths": ["repo/"]},
    )


def _publish_jobs(targets: list[Target], tags: RunnerTags) -> dict[str, dict[str, Any]]:
    groups: dict[tuple[str, str], list[Target]] = {}
    for target in targets:
        groups.setdefault((target.project.name, target.platform.id), []).append(target)
    jobs = {}
    for (project, platform_id), packaged in groups.items():
        platform = packaged[0].platform
        kind = format_named(platform.package_format).repository_kind
        jobs[f"publish:{project}:{platform_id}:{kind}"] = publish_job(
            packaged[0].project, platform, packaged, tags)
    return jobs


def generate_pipeline(catalog: Catalog, project_names: Iterable[str]) -> dict[str, Any]:
    """The whole pipeline: stages, variables, workflow, then the jobs sorted by stage and name."""
    targets = package_targets(catalog, project_names)
    projects = sorted({t.project.name for t in targets})
    tags = load_runner_tags(catalog.root)
    jobs: dict[str, dict[str, Any]] = {
        "trigger": trigger_job(projects, tags),
        "facts": facts_job(catalog, targets, tags),
        "licenses": licenses_job(projects, tags),
    }
    for platform, arch in sorted({(t.platform.id, t.arch) for t in targets}):
        jobs[f"image:{platform}:{arch}"] = image_job(catalog.platforms[platform], arch,
                                                     catalog.root, tags)
    for target in targets:
        name = f"package:{target.project.name}:{target.platform.id}:{target.arch}"
        jobs[name] = package_job(target, catalog.root, tags)
    jobs.update(_publish_jobs(targets, tags))
    ordered = sorted(jobs.items(), key=lambda item: (STAGES.index(item[1]["stage"]), item[0]))
    # a copy: jobs share the module's rule and retry dicts, which a caller must not change
    return copy.deepcopy({"stages": list(STAGES), "variables": dict(sorted(VARIABLES.items())),
                          "workflow": WORKFLOW, **dict(ordered)})


def job_names(pipeline: Mapping[str, Any]) -> list[str]:
    """The jobs of a pipeline dict (every key that is not a global keyword)."""
    return [name for name in pipeline if name not in ("stages", "variables", "workflow")]
