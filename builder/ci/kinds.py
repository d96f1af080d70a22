"""The kinds of pipeline and which jobs each runs: rules, as GitLab evaluates them.

  nightly        a schedule: everything, published to the nightly repositories by itself
  release        a tag: everything; staging uploads by themselves, the release by hand
  merge request  the fast subset (templates/ci/release.yml's merge_request): one platform
                 and arch of a few projects, built and package-tested; nothing published
  branch         a push (waits for a click on `trigger`) or a run by hand: every package,
                 the images, no upload
"""

from __future__ import annotations

from typing import Any

SCHEDULE = '$CI_PIPELINE_SOURCE == "schedule"'
TAG = "$CI_COMMIT_TAG"
BRANCH = "$CI_COMMIT_BRANCH"
MERGE_REQUEST = '$CI_PIPELINE_SOURCE == "merge_request_event"'
BY_HAND = '$CI_PIPELINE_SOURCE =~ /^(web|api|trigger)$/'
#: A push to a branch with an open merge request: the merge request pipeline runs instead.
DUPLICATE = '$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS && $CI_PIPELINE_SOURCE == "push"'

#: Nightly schedules (NIGHTLY=true: `omnibus package` versions them +rnightly.<pipeline>.<sha>),
#: tags (releases), merge requests and branches (+rfbranch); no other pipeline runs.
WORKFLOW = {"rules": [
    {"if": DUPLICATE, "when": "never"},
    {"if": SCHEDULE, "variables": {"NIGHTLY": "true", "OMNIBUS_BUILD_KIND": "nightly",
                                   "OMNIBUS_IMAGE_TAG": "nightly"}},
    {"if": TAG, "variables": {"OMNIBUS_BUILD_KIND": "release",
                              "OMNIBUS_IMAGE_TAG": "$CI_COMMIT_TAG"}},
    {"if": MERGE_REQUEST, "variables": {"OMNIBUS_BUILD_KIND": "branch",
                                        "OMNIBUS_IMAGE_TAG": "mr-$CI_MERGE_REQUEST_IID"}},
    {"if": BRANCH, "variables": {"OMNIBUS_BUILD_KIND": "branch"}},
]}
VARIABLES = {
    "OMNIBUS_BUILD_KIND": "branch",  # the workflow rules set it for each pipeline
    "OMNIBUS_IMAGE_TAG": "$CI_COMMIT_REF_SLUG",  # the all-in-one images' tag (workflow sets it)
    "OMNIBUS_REPO_DIR": "repo",  # the publish runner's repositories; keep them between runs
    "OMNIBUS_REPO_URL": "$CI_PAGES_URL",  # where clients reach OMNIBUS_REPO_DIR
    "GIT_DEPTH": "0",  # project versions come from `git describe --tags`
    # where package runners mount omnibus into the builder image (docs/ci.md)
    "OMNIBUS_HOME": "/opt/omnibus",
}


def trigger_rules() -> list[dict[str, Any]]:
    """By itself for schedules, tags, merge requests and runs by hand; a click on a push."""
    return [{"if": SCHEDULE}, {"if": TAG}, {"if": MERGE_REQUEST}, {"if": BY_HAND},
            {"if": BRANCH, "when": "manual"}]


def not_in_merge_requests() -> list[dict[str, Any]]:
    """Every pipeline but a merge request's (jobs outside the fast subset)."""
    return [{"if": MERGE_REQUEST, "when": "never"}, {"when": "on_success"}]


def staging_rules() -> list[dict[str, Any]]:
    """Uploads to staging: nightlies and tags, by themselves."""
    return [{"if": SCHEDULE}, {"if": TAG}]


def release_rules() -> list[dict[str, Any]]:
    """Uploads to the release repositories and registry: nightlies by themselves, tags when
    the release team plays the job; never a branch or merge request."""
    return [{"if": SCHEDULE}, {"if": TAG, "when": "manual"}]
