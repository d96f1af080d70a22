"""The jobs that make packages: trigger, facts, licenses, assets, builder images, packages.

Each job function returns the job as a plain dict; `pipeline.generate_pipeline` names and
orders them. The jobs after packages (tests, images, uploads) are in `release`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.ci.kinds import trigger_rules
from builder.ci.runners import RunnerTags
from builder.ci.settings import ReleaseSettings
from builder.ci.targets import Target, facts_targets, image_name
from builder.definitions.model import Catalog, Platform

FACTS_DIR = "build_facts"
LOCKS = f"{FACTS_DIR}/source-locks.json"
#: The facts job's dotenv report: variables every job that needs the facts job gets.
FACTS_ENV = f"{FACTS_DIR}/facts.env"
#: Failures of the machinery, not of the build: worth another try on another runner.
RETRY = {"max": 2, "when": ["api_failure", "data_integrity_failure", "runner_system_failure",
                            "scheduler_failure", "stuck_or_timeout_failure"]}
#: What package jobs download again and again: sources and git mirrors, keyed by the locks
#: (the facts job's OMNIBUS_SOURCES_KEY), so a pipeline with the same commits finds them all.
SOURCES_CACHE = {"key": "sources-$OMNIBUS_SOURCES_KEY", "paths": ["cache/downloads/"],
                 "when": "always"}


@dataclass(frozen=True)
class Assets:
    """One assets job: the frontend assets of one commit of the assets software."""

    name: str  # the job's name
    variable: str  # the facts job's dotenv variable holding the commit
    identity: str  # "remote@ref" in the locks file, or "git:<commit>" when pinned
    projects: tuple[str, ...]  # the projects whose packages take these assets


def make_job(stage: str, tags: Iterable[str], script: list[str], **more: Any) -> dict[str, Any]:
    return {"stage": stage, "tags": list(tags), **more, "script": script, "retry": RETRY}


def trigger_job(projects: list[str], tags: RunnerTags) -> dict[str, Any]:
    return make_job("trigger", tags.tools, [
        f'echo "packages of {" ".join(projects)}: a $OMNIBUS_BUILD_KIND build of $CI_COMMIT_SHA"'
    ], rules=trigger_rules())


def _commit_line(assets: Assets) -> str:
    if assets.identity.startswith("git:"):
        return f"echo '{assets.variable}={assets.identity[4:]}' >> {FACTS_ENV}"
    read = f"json.load(open('{LOCKS}'))['{assets.identity}']"
    return (f"python3 -c \"import json; print('{assets.variable}=' + {read})\" "
            f">> {FACTS_ENV}")


def facts_job(catalog: Catalog, targets: list[Target], assets: list[Assets],
              tags: RunnerTags) -> dict[str, Any]:
    # A new, empty locks file: every git ref is resolved anew, once, for the whole pipeline,
    # with git ls-remote (--locks-only): nothing is downloaded here. Then the cache keys the
    # later jobs need, as a dotenv report: a digest of the locks, each assets commit.
    script = [f"mkdir -p {FACTS_DIR}", f"echo '{{}}' > {LOCKS}"]
    script += [f"omnibus fetch {t.project.name} --platform {t.platform.id} --arch {t.arch} "
               f"--locks {LOCKS} --locks-only" for t in facts_targets(catalog, targets)]
    script.append(f'echo "OMNIBUS_SOURCES_KEY=$(sha256sum {LOCKS} | cut -c1-16)" > {FACTS_ENV}')
    script += [_commit_line(a) for a in assets]
    return make_job("facts", tags.tools, script, needs=["trigger"],
                artifacts={"paths": [f"{FACTS_DIR}/"], "expire_in": "7 days",
                           "reports": {"dotenv": FACTS_ENV}})


def licenses_job(projects: list[str], tags: RunnerTags) -> dict[str, Any]:
    return make_job("facts", tags.tools, [f"omnibus ci check-licenses {' '.join(projects)}"],
                needs=["trigger"])


def plan_assets(sources: dict[str, str]) -> list[Assets]:
    """One job per distinct source of the assets software (projects sharing a commit share
    its assets), named after the first project."""
    groups: dict[str, list[str]] = {}
    for project, identity in sorted(sources.items()):
        groups.setdefault(identity, []).append(project)
    plan = []
    for number, (identity, projects) in enumerate(sorted(groups.items(),
                                                         key=lambda g: g[1][0])):
        suffix = "" if number == 0 else f"_{number + 1}"
        plan.append(Assets(f"assets:{projects[0]}", f"OMNIBUS_ASSETS_COMMIT{suffix}", identity,
                           tuple(projects)))
    return plan


def assets_job(assets: Assets, settings: ReleaseSettings, catalog: Catalog,
               tags: RunnerTags) -> dict[str, Any]:
    """Builds the assets software alone (`--only`): its artifact is platform-independent,
    keyed by the Rails commit, and reaches every package job through the remote cache."""
    where = settings.assets_on
    platform = catalog.platforms[where.platform]
    command = (f"omnibus build {assets.projects[0]} --platform {platform.id} --arch "
               f"{where.arch} --only {settings.assets_software} --runner host --locks {LOCKS} "
               f"--remote-cache \"$OMNIBUS_REMOTE_CACHE\"")
    return make_job(
        "assets", tags.for_arch(where.arch, platform.file), [command],
        image=image_name(platform, where.arch, catalog.root),
        needs=[{"job": "facts", "artifacts": True},
               {"job": f"image:{platform.id}:{where.arch}", "artifacts": False}],
        before_script=['export PATH="$OMNIBUS_HOME/bin:$PATH"'],
        # the Rails sources and the toolchains, once per commit
        cache=[{"key": f"assets-${assets.variable}", "paths": ["cache/downloads/"],
                "when": "always"}],
        artifacts={"when": "always", "expire_in": "7 days",
                   "paths": [f"cache/logs/{platform.id}/{where.arch}/"]},
    )


def image_job(platform: Platform, arch: str, root: Path, tags: RunnerTags) -> dict[str, Any]:
    image = image_name(platform, arch, root)
    script = [f'docker pull "{image}" || {{ omnibus image build --platform {platform.id} '
              f'--arch {arch} --tag "{image}" && docker push "{image}"; }}']
    return make_job("images", (*tags.for_arch(arch, platform.file), *tags.images), script,
                needs=["trigger"], before_script=[
                    'echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" '
                    '--password-stdin "$CI_REGISTRY"'])


def package_job(target: Target, assets: Assets | None, root: Path,
                tags: RunnerTags) -> dict[str, Any]:
    platform, arch = target.platform, target.arch
    command = (f"omnibus build {target.project.name} --platform {platform.id} --arch {arch} "
               f"--runner host --locks {LOCKS} --remote-cache \"$OMNIBUS_REMOTE_CACHE\" "
               f"--build-kind \"$OMNIBUS_BUILD_KIND\" --out {target.out}")
    needs: list[dict[str, Any]] = [
        {"job": "facts", "artifacts": True}, {"job": "licenses", "artifacts": False},
        {"job": f"image:{platform.id}:{arch}", "artifacts": False}]
    if assets is not None:  # its artifact comes through the remote cache
        needs.append({"job": assets.name, "artifacts": False})
    return make_job(
        "packages", tags.for_arch(arch, platform.file), [command],
        image=image_name(platform, arch, root), needs=needs, timeout="4h",
        before_script=['export PATH="$OMNIBUS_HOME/bin:$PATH"'], cache=[dict(SOURCES_CACHE)],
        # the license status is written even when the policy fails the job
        artifacts={"when": "always", "expire_in": "7 days",
                   "paths": [f"{target.out}/", f"cache/logs/{platform.id}/{arch}/"]},
    )
