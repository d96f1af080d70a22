"""The jobs after packages: package tests, all-in-one images, staging and release uploads.

  test:PROJECT:P:A          installs the package in a clean container of platform P (its
                            base_image) on a runner of arch A and runs the smoke commands
  docker:PROJECT:A          the all-in-one image of arch A from the images platform's .deb,
                            pushed to this project's registry as :$OMNIBUS_IMAGE_TAG-A
  docker-manifest:PROJECT   the multi-arch manifest :$OMNIBUS_IMAGE_TAG over those images
  staging:PROJECT:P:KIND    the platform's packages into the staging repository
  publish:PROJECT:P:KIND    the same packages into the release (or nightly) repository
  release-image:PROJECT     the multi-arch image copied to $OMNIBUS_RELEASE_IMAGE
"""

from __future__ import annotations

from typing import Any

from builder.ci.jobs import make_job
from builder.ci.kinds import release_rules, staging_rules
from builder.ci.runners import RunnerTags
from builder.ci.settings import ReleaseSettings
from builder.ci.targets import Target
from builder.definitions.model import Platform, Project
from builder.formats import format_named

LOGIN = ('echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" '
         '--password-stdin "$CI_REGISTRY"')


def install_command(platform: Platform, files: str, settings: ReleaseSettings) -> str:
    """The platform's own install command for local package files."""
    command = platform.package_install.replace("{packages}", files)
    tool, _, rest = command.partition(" ")
    extra = settings.global_options.get(tool)
    return f"{tool} {extra} {rest}" if extra else command


def test_job(target: Target, settings: ReleaseSettings, tags: RunnerTags) -> dict[str, Any]:
    platform, project = target.platform, target.project
    extension = format_named(platform.package_format).extension
    script = [install_command(platform, f"./{target.out}/*{extension}", settings)]
    script += [line.replace("{install_dir}", project.install_dir) for line in settings.smoke]
    return make_job("package-test", tags.for_arch(target.arch, platform.file), script,
                image=platform.base_image, needs=[{"job": target.job, "artifacts": True}],
                variables={"GIT_STRATEGY": "none"})  # the artifact is all it needs


def image_ref(project: str, suffix: str = "") -> str:
    return f"$CI_REGISTRY_IMAGE/{project}:$OMNIBUS_IMAGE_TAG{suffix}"


def docker_job(target: Target, tags: RunnerTags) -> dict[str, Any]:
    project, arch, platform = target.project.name, target.arch, target.platform
    image = image_ref(project, f"-{arch}")
    script = [f'omnibus image package {project} --platform {platform.id} --arch {arch} '
              f'--from {target.out} --tag "{image}"', f'docker push "{image}"']
    return make_job("docker", (*tags.for_arch(arch, platform.file), *tags.images), script,
                needs=[{"job": target.job, "artifacts": True},
                       {"job": target.test_job, "artifacts": False}],
                before_script=[LOGIN])


def manifest_job(project: str, arches: list[str], tags: RunnerTags) -> dict[str, Any]:
    images = " ".join(f'"{image_ref(project, f"-{arch}")}"' for arch in arches)
    script = [f'docker manifest create "{image_ref(project)}" {images}',
              f'docker manifest push "{image_ref(project)}"']
    return make_job("docker", tags.images, script, before_script=[LOGIN],
                needs=[{"job": f"docker:{project}:{arch}", "artifacts": False}
                       for arch in arches])


def release_image_job(project: str, tags: RunnerTags) -> dict[str, Any]:
    target = f"$OMNIBUS_RELEASE_IMAGE/{project}:$OMNIBUS_IMAGE_TAG"
    script = [f'docker buildx imagetools create --tag "{target}" "{image_ref(project)}"']
    return make_job("release", tags.images, script, rules=release_rules(),
                before_script=[LOGIN, 'echo "$OMNIBUS_RELEASE_PASSWORD" | docker login -u '
                               '"$OMNIBUS_RELEASE_USER" --password-stdin '
                               '"${OMNIBUS_RELEASE_IMAGE%%/*}"'],
                needs=[{"job": f"docker-manifest:{project}", "artifacts": False}],
                resource_group=f"release-image-{project}")


def _publish_command(project: Project, platform: Platform, where: str) -> str:
    repo = f"$OMNIBUS_REPO_DIR/{where}/{project.name}"
    extension = format_named(platform.package_format).extension
    return (f"omnibus publish {project.name} pkg/{project.name}/{platform.id}/*/*"
            f"{extension} --platform {platform.id} --repo \"{repo}\" "
            f"--sign-key \"$OMNIBUS_SIGN_KEY\" --base-url \"$OMNIBUS_REPO_URL/"
            f"{where}/{project.name}/\"")


def staging_job(packaged: list[Target], tags: RunnerTags) -> dict[str, Any]:
    """The packages of one project and platform into the staging repository, once each
    passed its package test."""
    project, platform = packaged[0].project, packaged[0].platform
    needs = [{"job": t.job, "artifacts": True} for t in packaged]
    needs += [{"job": t.test_job, "artifacts": False} for t in packaged]
    return make_job("staging", tags.tools,
                [_publish_command(project, platform, "staging/$OMNIBUS_BUILD_KIND")],
                needs=needs, rules=staging_rules(),
                resource_group=f"staging-{project.name}-{platform.id}",
                artifacts={"expire_in": "7 days", "paths": ["repo/"]})


def publish_job(packaged: list[Target], staging: str, tags: RunnerTags) -> dict[str, Any]:
    """The same packages into the nightly or release repository: nightlies by themselves,
    releases when the release team plays the job; one writer per repository."""
    project, platform = packaged[0].project, packaged[0].platform
    needs = [{"job": t.job, "artifacts": True} for t in packaged]
    needs.append({"job": staging, "artifacts": False})
    return make_job("release", tags.tools,
                [_publish_command(project, platform, "$OMNIBUS_BUILD_KIND")],
                needs=needs, rules=release_rules(),
                resource_group=f"publish-{project.name}-{platform.id}",
                artifacts={"expire_in": "7 days", "paths": ["repo/"]})


def upload_jobs(targets: list[Target], tags: RunnerTags) -> dict[str, dict[str, Any]]:
    """staging:PROJECT:P:KIND and publish:PROJECT:P:KIND for each project and platform."""
    groups: dict[tuple[str, str], list[Target]] = {}
    for target in targets:
        groups.setdefault((target.project.name, target.platform.id), []).append(target)
    jobs = {}
    for (project, platform_id), packaged in groups.items():
        kind = format_named(packaged[0].platform.package_format).repository_kind
        staging = f"staging:{project}:{platform_id}:{kind}"
        jobs[staging] = staging_job(packaged, tags)
        jobs[f"publish:{project}:{platform_id}:{kind}"] = publish_job(packaged, staging, tags)
    return jobs


def image_jobs(targets: list[Target], settings: ReleaseSettings,
               tags: RunnerTags) -> dict[str, dict[str, Any]]:
    """docker:PROJECT:A per arch of the images platform, its manifest and its release."""
    by_project: dict[str, list[Target]] = {}
    for target in targets:
        if target.platform.id == settings.images_platform:
            by_project.setdefault(target.project.name, []).append(target)
    jobs = {}
    for project, chosen in by_project.items():
        for target in chosen:
            jobs[f"docker:{project}:{target.arch}"] = docker_job(target, tags)
        jobs[f"docker-manifest:{project}"] = manifest_job(
            project, [t.arch for t in chosen], tags)
        jobs[f"release-image:{project}"] = release_image_job(project, tags)
    return jobs
