"""The generated pipeline's jobs, run here as GitLab runners would run them.

Two package jobs of one pipeline, for two platforms, each on its own "machine" (its own
checkout and cache), inside the debian-12 builder image with the host runner, sharing one
remote cache (nginx WebDAV on loopback). The second platform is debian-12's facts under
another id: a platform of its own for every cache key, whose builder image is the same image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.ci.pipeline import generate_pipeline
from builder.definitions.loader import load_catalog
from tests.conftest import REPO, Root
from tests.integration.test_build import OMNIBUS, sidecars, toy_root
from tests.packaging_helpers import make_gpg_key

pytestmark = pytest.mark.integration

MOTD = "Welcome to the toy omnibus.\n"
#: Platform-independent: text only, one of them on top of a compiled dependency.
MOTD_YAML = """\
name: motd
version: "1"
license: MIT
platform_independent: true
source: {path: src/motd}
build:
  - install -D -m 0644 motd.txt {{ prefix }}/share/motd.txt
"""
GREETER_YAML = """\
name: greeter
version: "1"
license: MIT
platform_independent: true
dependencies: [hello, motd]
build:
  - mkdir -p {{ install_dir }}/bin
  - printf '#!/bin/sh\\ncat {{ prefix }}/share/motd.txt\\nexec {{ prefix }}/bin/hello\\n'
    > {{ install_dir }}/bin/greeter
  - chmod 0755 {{ install_dir }}/bin/greeter
"""
#: The Python the checkout's .venv (mounted as $OMNIBUS_HOME) runs on, mounted beside it.
PYTHON_HOME = Path(os.path.realpath(sys.base_prefix))


def ci_root(path: Path) -> Root:
    root = toy_root(path)
    shutil.copy(REPO / "platforms/debian-12.yml", root.path / "platforms/debian-12-twin.yml")
    root.write("templates/ci/runners.yml", (REPO / "templates/ci/runners.yml").read_text())
    root.write("templates/ci/release.yml", (REPO / "templates/ci/release.yml").read_text())
    root.write("src/motd/motd.txt", MOTD)
    root.write("software/motd.yml", MOTD_YAML)
    root.write("software/greeter.yml", GREETER_YAML)
    root.project("demo", ["hello", "greeter"])
    return root


def builder_image(root: Root) -> str:
    made = subprocess.run([str(OMNIBUS), "image", "build", "--platform", "debian-12",
                           "--root", str(root.path)], capture_output=True, text=True,
                          timeout=1800)
    assert made.returncode == 0, made.stderr
    return made.stdout.split()[0]


def run_job(job: dict, image: str, checkout: Path, environment: dict[str, str]):
    """`docker run` of the job's image with its before_script and script in one shell, as a
    package runner configured per docs/ci.md: CAP_SYS_ADMIN for the host runner's private
    mount namespace and overlay mounts (no --privileged), omnibus mounted at $OMNIBUS_HOME,
    and a network that reaches the remote cache."""
    script = "\n".join([*job.get("before_script", []), *job["script"]])
    command = ["docker", "run", "--rm", "--network", "host", "--cap-add", "SYS_ADMIN",
               "-v", f"{checkout}:{checkout}", "-w", str(checkout),
               "-v", f"{REPO}:{REPO}:ro", "-v", f"{PYTHON_HOME}:{PYTHON_HOME}:ro"]
    for name, value in sorted(environment.items()):
        command += ["-e", f"{name}={value}"]
    return subprocess.run([*command, image, "bash", "-ec", script], capture_output=True,
                          text=True, timeout=900)


def run_tool_job(job: dict, checkout: Path, environment: dict[str, str]):
    """A job for a shell runner with omnibus installed (facts, licenses, publish)."""
    path = f"{REPO / '.venv/bin'}:{os.environ['PATH']}"
    return subprocess.run(["bash", "-ec", "\n".join(job["script"])], cwd=checkout,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **environment, "PATH": path})


def test_two_platforms_package_jobs_share_platform_independent_artifacts(tmp_path):
    from tests.webdav import WebDav

    source = ci_root(tmp_path / "source")
    pipeline = generate_pipeline(load_catalog(source.path), ["demo"])
    image = builder_image(source)
    machines = {}
    for machine, platform in (("a", "debian-12"), ("b", "debian-12-twin")):
        checkout = tmp_path / f"machine-{machine}"
        shutil.copytree(source.path, checkout)  # each runner clones the repository
        facts = run_tool_job(pipeline["facts"], checkout, {})
        assert facts.returncode == 0, facts.stderr
        assert (checkout / "build_facts/source-locks.json").read_text() == "{}\n"
        machines[machine] = (checkout, pipeline[f"package:demo:{platform}:amd64"])
    licenses = run_tool_job(pipeline["licenses"], machines["a"][0], {})
    assert licenses.returncode == 0, licenses.stderr
    assert "licenses: 4 software in 6 packages of demo pass policy.yml" in licenses.stdout
    with WebDav(tmp_path / "webdav") as server:
        # the pipeline's variables, as a nightly schedule's workflow rule sets them
        environment = {**pipeline["variables"], "OMNIBUS_HOME": str(REPO / ".venv"),
                       "OMNIBUS_REMOTE_CACHE": server.url, "NIGHTLY": "true",
                       "OMNIBUS_BUILD_KIND": "nightly", "CI_PIPELINE_ID": "4711",
                       "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567"}
        results = {m: run_job(job, image, checkout, environment)
                   for m, (checkout, job) in machines.items()}
        puts = [line for line in server.access_log().splitlines() if '"PUT ' in line]
    for machine, result in results.items():
        assert result.returncode == 0, f"machine {machine}:\n{result.stderr[-3000:]}"
    first, second = results["a"].stdout, results["b"].stdout
    assert "4 software: 4 built" in first
    # motd and greeter (which runs on compiled hello) are keyed without the platform
    assert "4 software: 2 built, 2 cached" in second
    assert second.count("from the remote cache") == 2
    assert len(puts) == 2 * (4 + 2)  # every artifact once, tar.zst then sidecar
    a, b = (sidecars(machines[m][0] / "cache") for m in ("a", "b"))
    shared = {name for name in a if a[name]["key"] == b[name]["key"]}
    assert shared == {"motd", "greeter"}
    for machine, platform in (("a", "debian-12"), ("b", "debian-12-twin")):
        out = machines[machine][0] / "pkg/demo" / platform / "amd64"
        deb = out / "demo_1.2.3+rnightly.4711.01234567-0_amd64.deb"
        assert deb.is_file() and (out / f"{deb.name}.sha256").is_file()
        metadata = json.loads((out / f"{deb.name}.metadata.json").read_text())
        assert metadata["platform"] == platform
        assert {"motd", "greeter", "hello", "libgreet"} <= set(
            metadata["version_manifest"]["software"])
        assert (out / "demo_1.2.3+rnightly.4711.01234567-0.license-status.json").is_file()
        assert (out / "demo_1.2.3+rnightly.4711.01234567-0.spdx.json").is_file()
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True,
                                 text=True).stdout
        assert "./opt/gitlab/bin/greeter" in listing
        assert "./opt/gitlab/embedded/share/motd.txt" in listing
    home = tmp_path / "gnupg"
    try:
        published = run_tool_job(pipeline["publish:demo:debian-12:apt"], machines["a"][0], {
            **environment, "OMNIBUS_REPO_URL": "http://localhost/repo",
            "OMNIBUS_SIGN_KEY": make_gpg_key(home), "GNUPGHOME": str(home)})
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    assert published.returncode == 0, published.stderr[-2000:]
    repository = machines["a"][0] / "repo/nightly/demo/debian-12"
    assert (repository / "dists/bookworm/InRelease").is_file()
    assert list(repository.glob("pool/main/d/demo/demo_1.2.3+rnightly.4711.01234567-0_*.deb"))
