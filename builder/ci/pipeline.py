"""A GitLab CI pipeline as a plain dict, made from the definitions and nothing else.

Stages, in order (each job's own docstring is in `jobs` and `release`):
  trigger       starts the pipeline (by itself, or a click on a branch push)
  facts         `facts` locks every git source to a commit once (omnibus-gitlab's
                generate-facts) and reports cache keys; `licenses` judges every package
  images        the builder image of each platform and arch
  assets        GitLab's frontend assets, once per Rails commit, in a builder image
  packages      each project on each platform and arch, in its builder image
  package-test  each package installed in a clean container of its platform
  docker        the all-in-one image per arch and the multi-arch manifest
  staging       packages into the staging repositories (nightlies and tags)
  release       packages and images released (nightlies by themselves, tags by hand)
Which platforms, arches and editions exist is platform data (`arches`, `editions`); runner
tags are templates/ci/runners.yml; the release settings templates/ci/release.yml. A merge
request pipeline runs only the fast subset (`kinds`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from builder.ci.jobs import (
    Assets,
    assets_job,
    facts_job,
    image_job,
    licenses_job,
    package_job,
    plan_assets,
    trigger_job,
)
from builder.ci.kinds import VARIABLES, WORKFLOW, not_in_merge_requests
from builder.ci.release import image_jobs, test_job, upload_jobs
from builder.ci.runners import load_runner_tags
from builder.ci.settings import ReleaseSettings, load_release_settings
from builder.ci.targets import Target, assets_sources, facts_targets, image_name, package_targets
from builder.definitions.model import Catalog

__all__ = ["Target", "facts_targets", "generate_pipeline", "image_name", "job_names",
           "merge_request_targets", "package_targets"]

STAGES = ("trigger", "facts", "images", "assets", "packages", "package-test", "docker",
          "staging", "release")
GLOBAL_KEYWORDS = ("stages", "variables", "workflow")


def merge_request_targets(targets: list[Target], settings: ReleaseSettings) -> list[Target]:
    """The fast subset: the listed projects (else all) on the merge request platform/arch."""
    where = settings.mr_on
    on = [t for t in targets if (t.platform.id, t.arch) == (where.platform, where.arch)]
    listed = [t for t in on if t.project.name in settings.mr_projects]
    return listed or on


def _package_jobs(catalog: Catalog, targets: list[Target], assets: list[Assets],
                  settings: ReleaseSettings) -> dict[str, dict[str, Any]]:
    tags = load_runner_tags(catalog.root)
    by_project = {project: a for a in assets for project in a.projects}
    jobs: dict[str, dict[str, Any]] = {}
    for a in assets:
        jobs[a.name] = assets_job(a, settings, catalog, tags)
    wanted = {(t.platform.id, t.arch) for t in targets}
    if assets:
        wanted.add((settings.assets_on.platform, settings.assets_on.arch))
    for platform, arch in sorted(wanted):
        jobs[f"image:{platform}:{arch}"] = image_job(catalog.platforms[platform], arch,
                                                     catalog.root, tags)
    for target in targets:
        jobs[target.job] = package_job(target, by_project.get(target.project.name),
                                       catalog.root, tags)
        if target.platform.base_image:  # a clean container of the platform to install in
            jobs[target.test_job] = test_job(target, settings, tags)
    jobs.update(image_jobs(targets, settings, tags))
    jobs.update(upload_jobs(targets, tags))
    return jobs


def _merge_request_subset(jobs: dict[str, dict[str, Any]], subset: list[Target]) -> set[str]:
    """The jobs a merge request pipeline runs: the subset's packages, their tests, and every
    job those need."""
    wanted = {"trigger", "facts", "licenses"}
    for target in subset:
        wanted |= {target.job, target.test_job}
    pending = list(wanted)
    while pending:
        job = jobs.get(pending.pop())
        for need in (job or {}).get("needs", []):
            name = need if isinstance(need, str) else need["job"]
            if name not in wanted:
                wanted.add(name)
                pending.append(name)
    return wanted & set(jobs)


def generate_pipeline(catalog: Catalog, project_names: Iterable[str]) -> dict[str, Any]:
    """The whole pipeline: stages, variables, workflow, then the jobs sorted by stage and name."""
    targets = package_targets(catalog, project_names)
    projects = sorted({t.project.name for t in targets})
    tags = load_runner_tags(catalog.root)
    settings = load_release_settings(catalog.root)
    assets = plan_assets(assets_sources(catalog, targets, settings.assets_software))
    jobs: dict[str, dict[str, Any]] = {
        "trigger": trigger_job(projects, tags),
        "facts": facts_job(catalog, targets, assets, tags),
        "licenses": licenses_job(projects, tags),
        **_package_jobs(catalog, targets, assets, settings),
    }
    subset = _merge_request_subset(jobs, merge_request_targets(targets, settings))
    for name, job in jobs.items():
        if "rules" not in job and name not in subset:
            job["rules"] = not_in_merge_requests()
    ordered = sorted(jobs.items(), key=lambda item: (STAGES.index(item[1]["stage"]), item[0]))
    # a copy: jobs share the module's rule and retry dicts, which a caller must not change
    return copy.deepcopy({"stages": list(STAGES), "variables": dict(sorted(VARIABLES.items())),
                          "workflow": WORKFLOW, **dict(ordered)})


def job_names(pipeline: Mapping[str, Any]) -> list[str]:
    """The jobs of a pipeline dict (every key that is not a global keyword)."""
    return [name for name in pipeline if name not in GLOBAL_KEYWORDS]
