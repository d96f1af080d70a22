"""The toolchains proven on real code: project toolchain-proof, built like `./dev build`
builds gitlab-local (every software in its builder container, with no network), from the
repository's own definitions.

  redis-exporter-debian  redis_exporter 1.69.0 (GitLab bundles redis_exporter), Go from
                         Debian 13's golang-1.24, its 13 modules vendored from Debian's
                         source packages at fetch time; run here against a real redis-server
  gitlab-assets-proof    webpack 5 assets (Vue 2.7, jQuery, lodash) with yarn 1.22 and
                         Node.js 22 from the npm registry, offline from yarn.lock's packages;
                         the stand-in for gitlab-rails-assets

Cold (empty cache: toolchains, modules and npm packages fetched, both built) this takes about
a minute and a half here; the sources come from the Debian mirror apt uses and the registry
npm uses, as a build's do.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from builder.compile import artifacts
from builder.compile.cache import ArtifactCache
from tests.conftest import REPO

pytestmark = pytest.mark.integration
OMNIBUS = REPO / ".venv" / "bin" / "omnibus"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("proof-cache")
    result = omnibus("build", "toolchain-proof", "--no-package", "--cache-dir", str(cache))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return cache


def omnibus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(OMNIBUS), *args, "--root", str(REPO)], capture_output=True,
                          text=True, timeout=1800)


def tree_of(cache: Path, name: str) -> Path:
    for sidecar in (cache / "artifacts").glob("*.json"):
        if json.loads(sidecar.read_text())["name"] == name:
            return artifacts.ensure_unpacked(ArtifactCache(cache), sidecar.stem)
    raise AssertionError(f"no artifact of {name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_redis_exporter_built_with_vendored_modules_scrapes_a_real_redis(built):
    exporter = tree_of(built, "redis-exporter-debian") / "embedded/bin/redis_exporter"
    version = subprocess.run([str(exporter), "--version"], capture_output=True, text=True,
                             check=True)
    text = version.stdout + version.stderr
    assert "v1.69.0" in text and "go1.24.4" in text, text
    redis_port, metrics_port = free_port(), free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL)
    scraper = subprocess.Popen([str(exporter), "--redis.addr", f"redis://127.0.0.1:{redis_port}",
                                "--web.listen-address", f"127.0.0.1:{metrics_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{metrics_port}/")
        subprocess.run(["redis-cli", "-p", str(redis_port), "set", "proof", "1"], check=True,
                       capture_output=True)
        metrics = wait_for(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        scraper.terminate()
        redis.terminate()
        scraper.wait(10)
        redis.wait(10)
    assert "redis_up 1" in metrics
    assert 'redis_db_keys{db="db0"} 1' in metrics


def test_webpack_assets_built_offline_with_yarn_and_node(built):
    assets = tree_of(built, "gitlab-assets-proof") / "embedded/service/gitlab-assets-proof"
    manifest = json.loads((assets / "public/assets/manifest.json").read_text())
    assert manifest, "an empty manifest"
    for logical, emitted in manifest.items():
        path = assets / "public" / emitted.lstrip("/") if emitted.startswith("/") \
            else assets / "public/assets" / Path(emitted).name
        assert path.is_file(), (logical, emitted)
    names = [Path(v).name for v in manifest.values()]
    assert any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names)
    # hashed names, as GitLab's webpack writes them: a changed file gets a new name
    assert all(re.search(r"-[0-9a-f]{16}\.", n) for n in names), names
    files = [p for p in assets.rglob("*") if p.is_file()]
    assert not [p for p in files if "node_modules" in p.parts or p.name == "node"]


def test_the_assets_are_one_artifact_for_every_arch_and_rebuild_bit_for_bit(built):
    plan = omnibus("plan", "toolchain-proof", "--arch", "arm64", "--cache-dir", str(built),
                   "--json")
    assert plan.returncode == 0, plan.stderr
    entries = {e["name"]: e for e in json.loads(plan.stdout)["software"]}
    assert entries["gitlab-assets-proof"]["status"] == "cached"  # built on amd64, shared
    before = {p.name: p.read_bytes() for p in (built / "artifacts").glob("*.tar.zst")}
    again = omnibus("build", "toolchain-proof", "--no-package", "--cache-dir", str(built),
                    "--force", "gitlab-assets-proof", "--force", "redis-exporter-debian")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    after = {p.name: p.read_bytes() for p in (built / "artifacts").glob("*.tar.zst")}
    assert after == before  # same inputs, same bytes: both builds are reproducible
