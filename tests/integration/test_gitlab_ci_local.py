"""The generated pipeline run by a real GitLab CI client, gitlab-ci-local.

The client reads the pipeline of gitlab-local (the project buildable here) from a git clone
of this checkout's committed tree, lists it, and executes two of its jobs as a runner would:
`facts` with the shell executor (omnibus on PATH), then `package:gitlab-local:debian-12:amd64`
with the docker executor in the locally made builder image (tagged as the job names it; the
pull policy only pulls an image that is missing, and none is), with CAP_SYS_ADMIN (the host runner's
mount namespace), omnibus mounted at $OMNIBUS_HOME, against a remote artifact cache served
over docker's bridge.

Time on this 2-core machine: listing ~4 s, the facts job ~4 s; the package job builds ~30
software: cold (the first run on a machine: an empty remote cache) about 20 minutes, warm
(the remote cache, REMOTE_STORE, kept from an earlier run or pre-filled from this checkout's
cache/artifacts, as after any `./dev build`) about a minute and a half. The job's sources
cache is what `omnibus fetch gitlab-local` on the host puts in cache/downloads. Skipped, with the
reason, without a Node.js >= 20 or the client (./dev test installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.httpserver import docker_bridge_gateway
from tests.integration import gitlab_ci_local as gcl

pytestmark = pytest.mark.integration

PROJECT = "gitlab-local"
PACKAGE_JOB = f"package:{PROJECT}:debian-12:amd64"
#: What $CI_REGISTRY_IMAGE is in these runs: a local name, never a registry's.
LOCAL_IMAGES = "omnibus-ci-local"
PYTHON_HOME = Path(os.path.realpath(sys.base_prefix))
#: The remote artifact cache the package job uses, kept between test runs as a CI's cache
#: server keeps it: the first run on a machine builds cold, later ones find the artifacts.
REMOTE_STORE = Path(os.environ.get("OMNIBUS_TEST_REMOTE_STORE")
                    or "/var/cache/omnibus-tests/remote-cache")


@pytest.fixture(scope="module")
def client() -> list[str]:
    command, why = gcl.client()
    if command is None:
        pytest.skip(why)
    return command


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return gcl.checkout(tmp_path_factory.mktemp("gcl") / "omnibus", [PROJECT])


def test_gitlab_ci_local_lists_every_generated_job_with_its_stage_and_needs(client, checkout):
    started = time.monotonic()
    listed = gcl.run(client, checkout, "--list-json")
    seconds = time.monotonic() - started
    assert listed.returncode == 0, listed.stderr[-3000:]
    jobs = {job["name"]: job for job in json.loads(listed.stdout)}
    pipeline = yaml.safe_load((checkout / ".gitlab-ci.yml").read_text())
    generated = [name for name in pipeline if name not in ("stages", "variables", "workflow")]
    assert list(jobs) == generated
    # every stage has jobs but assets: gitlab-local has no Rails
    assert {job["stage"] for job in jobs.values()} == set(pipeline["stages"]) - {"assets"}
    for name, job in jobs.items():
        assert job["stage"] == pipeline[name]["stage"], name
        wanted = [n if isinstance(n, str) else n["job"] for n in pipeline[name].get("needs", [])]
        assert [n["job"] for n in job.get("needs", [])] == wanted, name
    assert jobs["trigger"]["when"] == "manual"  # a branch push waits for the click
    assert f"test:{PROJECT}:opensuse-15.6:arm64" in jobs  # openSUSE builds CE
    print(f"\ngitlab-ci-local --list-json: {len(jobs)} jobs in {seconds:.1f} s")


def _builder_image(checkout: Path) -> str:
    """The locally made debian-12 builder image, tagged with the name the job gives."""
    pipeline = yaml.safe_load((checkout / ".gitlab-ci.yml").read_text())
    name = pipeline[PACKAGE_JOB]["image"].replace("$CI_REGISTRY_IMAGE", LOCAL_IMAGES)
    made = subprocess.run([str(gcl.OMNIBUS), "image", "build", "--platform", "debian-12",
                           "--arch", "amd64", "--tag", name, "--root", str(checkout)],
                          capture_output=True, text=True, timeout=3600)
    assert made.returncode == 0, made.stderr[-3000:]
    return name


def _docker_with_cap_add(directory: Path) -> Path:
    """docker, adding CAP_SYS_ADMIN to the containers it creates: the package runner's
    `cap_add = ["SYS_ADMIN"]` (docs/ci.md). gitlab-ci-local has only --privileged, which a
    docker inside a container may refuse ("unable to apply caps")."""
    wrapper = directory / "docker-cap-sys-admin"
    wrapper.write_text(f"""#!/bin/sh
if [ "$1" = create ]; then shift; exec {shutil.which('docker')} create --cap-add SYS_ADMIN "$@"; fi
exec {shutil.which('docker')} "$@"
""")
    wrapper.chmod(0o755)
    return wrapper


def _prefill_sources(checkout: Path) -> None:
    """The job's `sources-$OMNIBUS_SOURCES_KEY` cache, as an earlier pipeline with the same
    locks left it: fetched here on the host first (every build fetches all its sources
    first, and the builder container reaches no source host here)."""
    fetched = subprocess.run([str(gcl.OMNIBUS), "fetch", PROJECT, "--root", str(REPO)],
                             capture_output=True, text=True, timeout=1800)
    assert fetched.returncode == 0, fetched.stdout[-2000:] + fetched.stderr[-2000:]
    key = (checkout / "build_facts/facts.env").read_text().split("=", 1)[1].strip()
    downloads = REPO / "cache" / "downloads"
    if downloads.is_dir():
        target = checkout / ".gitlab-ci-local/cache" / f"sources-{key}" / "cache/downloads"
        target.parent.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(downloads), str(target)], check=True)


def _prefill(store: Path) -> int:
    """The shared remote cache: the store (kept between runs, like a CI's cache server;
    content-addressed, so an artifact found there is the one its key describes), plus this
    checkout's built artifacts. Returns how many artifacts it holds before the job."""
    (store / "omnibus").mkdir(parents=True, exist_ok=True)
    artifacts = REPO / "cache" / "artifacts"
    for path in sorted(artifacts.glob("*")) if artifacts.is_dir() else []:
        target = store / "omnibus" / path.name
        if (path.suffix == ".json" or path.name.endswith(".tar.zst")) and not target.exists():
            shutil.copy(path, target)
    return len(list((store / "omnibus").glob("*.json")))


def test_gitlab_ci_local_runs_the_facts_job_then_a_package_job(client, checkout, tmp_path):
    path = f"{REPO / '.venv/bin'}:{os.environ['PATH']}"  # the tool runner's omnibus
    started = time.monotonic()
    facts = gcl.run(client, checkout, "facts", path=path)
    facts_seconds = time.monotonic() - started
    assert facts.returncode == 0, facts.stdout[-3000:] + facts.stderr[-3000:]
    assert (checkout / "build_facts/source-locks.json").read_text() == "{}\n"
    assert (checkout / "build_facts/facts.env").read_text().startswith("OMNIBUS_SOURCES_KEY=")
    image = _builder_image(checkout)
    _prefill_sources(checkout)
    prefilled = _prefill(REMOTE_STORE)
    with gcl.http_store(REMOTE_STORE, docker_bridge_gateway()) as (url, puts):
        started = time.monotonic()
        job = gcl.run(
            client, checkout, PACKAGE_JOB, "--pull-policy", "if-not-present",
            "--container-executable", str(_docker_with_cap_add(tmp_path)),
            "--helper-image", image, "--ignore-predefined-vars", "CI_REGISTRY_IMAGE",
            "--variable", f"CI_REGISTRY_IMAGE={LOCAL_IMAGES}",
            "--variable", f"OMNIBUS_HOME={REPO / '.venv'}",
            "--variable", f"OMNIBUS_REMOTE_CACHE={url}/omnibus",
            "--volume", f"{REPO}:{REPO}:ro", "--volume", f"{PYTHON_HOME}:{PYTHON_HOME}:ro",
            timeout=3600, path=path)
        package_seconds = time.monotonic() - started
    output = job.stdout + job.stderr
    assert job.returncode == 0, output[-5000:]
    assert "PASS" in output and PACKAGE_JOB in output
    out = checkout / f"pkg/{PROJECT}/debian-12/amd64"
    debs = list(out.glob(f"{PROJECT}_*_amd64.deb"))
    assert len(debs) == 1, sorted(p.name for p in out.iterdir()) if out.is_dir() else output[-3000:]
    metadata = json.loads((out / f"{debs[0].name}.metadata.json").read_text())
    assert metadata["platform"] == "debian-12"
    assert {"postgresql-15", "nginx-debian", "gitlab-ctl"} <= set(
        metadata["version_manifest"]["software"])
    listing = subprocess.run(["dpkg-deb", "-c", str(debs[0])], capture_output=True,
                             text=True).stdout
    assert "./opt/gitlab/bin/gitlab-ctl" in listing
    print(f"\ngitlab-ci-local facts: {facts_seconds:.1f} s; {PACKAGE_JOB}: "
          f"{package_seconds:.1f} s with {prefilled} artifacts pre-filled, {len(puts)} PUT")
