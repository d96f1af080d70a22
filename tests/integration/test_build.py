"""Builds in real builder containers: isolation, caching, failures, interruption.

Small C programs from `path` sources keep these fast; the builder image is the real
debian-12 one (made once per machine, as `./dev build` makes it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Root

pytestmark = pytest.mark.integration
OMNIBUS = Path(sys.executable).parent / "omnibus"

GREET_C = 'const char *greet(void) { return "hello from libgreet"; }\n'
GREET_H = "const char *greet(void);\n"
GREET_MAKE = """\
libgreet.so: greet.c
\t$(CC) $(CFLAGS) -fPIC -shared -o $@ greet.c $(LDFLAGS)
install: libgreet.so
\tmkdir -p $(PREFIX)/lib $(PREFIX)/include
\tcp libgreet.so $(PREFIX)/lib/ && cp greet.h $(PREFIX)/include/
"""
HELLO_C = '#include <stdio.h>\n#include <greet.h>\nint main(void) { puts(greet()); return 0; }\n'
HELLO_MAKE = """\
hello: main.c
\t$(CC) $(CFLAGS) -o hello main.c $(LDFLAGS) -lgreet
install: hello
\tmkdir -p $(PREFIX)/bin && cp hello $(PREFIX)/bin/
"""


def toy_root(path: Path) -> Root:
    """A root with the real debian-12 platform and builder recipe, and two toy programs."""
    root = Root(path)
    shutil.copy(REPO / "platforms" / "debian-12.yml", root.path / "platforms" / "debian-12.yml")
    shutil.copy(REPO / "Dockerfile.builder", root.path / "Dockerfile.builder")
    for name, content in {"greet.c": GREET_C, "greet.h": GREET_H, "Makefile": GREET_MAKE}.items():
        root.write(f"src/libgreet/{name}", content)
    for name, content in {"main.c": HELLO_C, "Makefile": HELLO_MAKE}.items():
        root.write(f"src/hello/{name}", content)
    steps = "build:\n  - make PREFIX={{ prefix }}\n  - make install PREFIX={{ prefix }}\n"
    root.write("software/libgreet.yml", f'name: libgreet\nversion: "1.0"\nlicense: MIT\n'
                                        f"source: {{path: src/libgreet}}\n{steps}")
    root.write("software/hello.yml", f'name: hello\nversion: "1.0"\nlicense: MIT\n'
                                     f"source: {{path: src/hello}}\ndependencies: [libgreet]\n"
                                     f"{steps}")
    root.project("demo", ["hello"])
    return root


def omnibus(root: Root, cache: Path, *args: str, timeout: float = 1800):
    mirror = ["--mirror", "upstream"] if args[0] == "build" else []
    return subprocess.run([str(OMNIBUS), *args, "--root", str(root.path), "--cache-dir",
                           str(cache), *mirror], capture_output=True, text=True,
                          timeout=timeout)


def build(root: Root, cache: Path, project: str = "demo", *extra: str):
    return omnibus(root, cache, "build", project, "--platform", "debian-12", "--arch", "amd64",
                   *extra)


def sidecars(cache: Path) -> dict[str, dict]:
    found = {}
    for path in (cache / "artifacts").glob("*.json"):
        document = json.loads(path.read_text())
        found[document["name"]] = document
    return found


@pytest.fixture
def toy(tmp_path) -> Root:
    return toy_root(tmp_path / "defs")


def test_build_is_isolated_cached_and_incremental(toy, tmp_path):
    cache = tmp_path / "cache"
    first = build(toy, cache)
    assert first.returncode == 0, first.stderr + first.stdout
    built = sidecars(cache)
    assert sorted(built) == ["hello", "libgreet"]
    # Each artifact holds exactly what its own build added under the install dir.
    assert {f["path"] for f in built["hello"]["files"]} == {"embedded", "embedded/bin",
                                                            "embedded/bin/hello"}
    assert "embedded/lib/libgreet.so" in {f["path"] for f in built["libgreet"]["files"]}
    assert "2 software: 2 built" in first.stdout

    started = time.monotonic()
    again = build(toy, cache)
    assert again.returncode == 0 and "2 software: 2 cached" in again.stdout
    assert time.monotonic() - started < 30

    toy.write("src/libgreet/greet.c", GREET_C.replace("hello from", "hi from"))
    third = build(toy, cache)
    assert third.returncode == 0 and "2 software: 2 built" in third.stdout
    toy.write("src/hello/main.c", HELLO_C.replace("return 0", "return 0 "))
    fourth = build(toy, cache)
    assert "2 software: 1 built, 1 cached" in fourth.stdout
    forced = build(toy, cache, "demo", "--force", "libgreet")
    assert "2 software: 2 built" in forced.stdout  # libgreet and its dependent hello
    assert build(toy, cache, "demo", "--force", "nope").returncode == 2


def test_built_program_runs_with_its_rpath(toy, tmp_path):
    cache = tmp_path / "cache"
    assert build(toy, cache).returncode == 0
    unpacked = {d["name"]: cache / "unpacked" / d["key"] for d in sidecars(cache).values()}
    prefix = tmp_path / "opt-gitlab"
    for tree in unpacked.values():
        shutil.copytree(tree, prefix, dirs_exist_ok=True, symlinks=True)
    readelf = subprocess.run(["readelf", "-d", str(prefix / "embedded/bin/hello")],
                             capture_output=True, text=True).stdout
    assert "/opt/gitlab/embedded/lib" in readelf
    run = subprocess.run([str(prefix / "embedded/bin/hello")], capture_output=True, text=True,
                         env={"LD_LIBRARY_PATH": str(prefix / "embedded/lib")})
    assert run.stdout.strip() == "hello from libgreet"


def test_undeclared_dependency_fails_its_build(toy, tmp_path):
    toy.write("software/hello.yml", (toy.path / "software/hello.yml").read_text()
              .replace("dependencies: [libgreet]\n", ""))
    toy.project("demo", ["hello", "libgreet"])
    result = build(toy, tmp_path / "cache")
    assert result.returncode == 1
    assert "hello failed: exit code 2 in step 1/2: make PREFIX=/opt/gitlab/embedded" in (
        result.stderr)
    assert "greet.h: No such file or directory" in result.stderr
    assert "1 of 2 software failed: 1 failed to build (hello)" in result.stderr


def test_deleting_a_dependency_file_is_refused(toy, tmp_path):
    toy.write("software/hello.yml", (toy.path / "software/hello.yml").read_text()
              + "  - rm {{ prefix }}/include/greet.h\n")
    result = build(toy, tmp_path / "cache")
    assert result.returncode == 1
    assert "deleted its dependencies' files: embedded/include/greet.h" in result.stderr


def test_killed_build_resumes_and_gives_the_same_artifacts(toy, tmp_path):
    toy.write("software/hello.yml", (toy.path / "software/hello.yml").read_text()
              .replace("build:\n", "build:\n  - sleep 20\n"))
    killed_cache, clean_cache = tmp_path / "killed", tmp_path / "clean"
    command = [str(OMNIBUS), "build", "demo", "--root", str(toy.path), "--cache-dir",
               str(killed_cache), "--mirror", "upstream"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list((killed_cache / "work").glob("*/hello-*")) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # hello's build is running its sleep
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not any(d["name"] == "hello" for d in sidecars(killed_cache).values())
    resumed = build(toy, killed_cache)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 built, 1 cached" in resumed.stdout
    assert build(toy, clean_cache).returncode == 0

    def digests(cache):
        return {d["name"]: hashlib.sha256((cache / "artifacts" / f"{d['key']}.tar.zst")
                                          .read_bytes()).hexdigest()
                for d in sidecars(cache).values()}
    assert digests(killed_cache) == digests(clean_cache)
    # The killed run's containers (other builds on this machine may be running).
    leftovers = subprocess.run(["docker", "ps", "-q", "--filter",
                                f"label=omnibus.build-pid={process.pid}"],
                               capture_output=True, text=True).stdout.split()
    assert leftovers == []
    assert not list((killed_cache / "work").glob("*/*"))


def test_two_machines_share_artifacts_through_a_remote_cache(toy, tmp_path):
    from tests.webdav import WebDav

    with WebDav(tmp_path / "webdav") as server:
        first = omnibus(toy, tmp_path / "machine-a", "build", "demo", "--remote-cache",
                        server.url)
        assert first.returncode == 0, first.stderr
        assert "2 built" in first.stdout
        plan = omnibus(toy, tmp_path / "machine-b", "plan", "demo", "--remote-cache",
                       server.url)
        assert plan.stdout.count("cached (remote)") == 2
        second = omnibus(toy, tmp_path / "machine-b", "build", "demo", "--remote-cache",
                         server.url)
        assert second.returncode == 0, second.stderr
        assert "2 software: 2 cached" in second.stdout
        assert second.stdout.count("from the remote cache") == 2
        puts = [line for line in server.access_log().splitlines() if '"PUT ' in line]
        assert len(puts) == 4  # two artifacts, each tar.zst then sidecar
        packaged = omnibus(toy, tmp_path / "machine-c", "package", "demo", "--remote-cache",
                           server.url, "--out", str(tmp_path / "pkg-c"))
        assert packaged.returncode == 0, packaged.stderr  # a packaging-only job, empty cache
        assert (tmp_path / "pkg-c/demo_1.2.3-ce.0_amd64.deb").is_file()
    a, b = sidecars(tmp_path / "machine-a"), sidecars(tmp_path / "machine-b")
    assert {n: d["key"] for n, d in a.items()} == {n: d["key"] for n, d in b.items()}
    for document in b.values():
        key = document["key"]
        assert (tmp_path / "machine-b/artifacts" / f"{key}.tar.zst").read_bytes() == (
            tmp_path / "machine-a/artifacts" / f"{key}.tar.zst").read_bytes()


def test_real_zlib_from_the_debian_mirror_builds_in_a_builder_container(tmp_path):
    """The real zlib definition, fetched through the mirror chain, built for debian-12."""
    root = Root(tmp_path / "defs")
    root.copy_catalog()
    shutil.copy(REPO / "Dockerfile.builder", root.path)
    root.project("demo", ["zlib"])
    cache = tmp_path / "cache"
    result = subprocess.run([str(OMNIBUS), "build", "demo", "--root", str(root.path),
                             "--cache-dir", str(cache), "--mirror", "debian"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    zlib = sidecars(cache)["zlib"]
    library = cache / "unpacked" / zlib["key"] / "embedded/lib/libz.so.1.3.1"
    header = subprocess.run(["readelf", "-h", str(library)], capture_output=True,
                            text=True).stdout
    assert "Advanced Micro Devices X86-64" in header
    assert "embedded/include/zlib.h" in {f["path"] for f in zlib["files"]}


def test_host_runner_builds_in_a_private_namespace_without_network(toy, tmp_path):
    """For CI jobs that already run inside a builder image: no container, same isolation."""
    toy.write("software/hello.yml", (toy.path / "software/hello.yml").read_text()
              + "  - \"tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
                " > {{ prefix }}/netdevs\"\n")
    result = omnibus(toy, tmp_path / "cache", "build", "demo", "--runner", "host")
    assert result.returncode == 0, result.stderr[-3000:]
    hello = sidecars(tmp_path / "cache")["hello"]
    assert "embedded/bin/hello" in {f["path"] for f in hello["files"]}
    unpacked = tmp_path / "cache" / "unpacked" / hello["key"]
    assert (unpacked / "embedded/netdevs").read_text().split() == ["lo"]
    assert not Path("/opt/gitlab/embedded/bin/hello").exists()  # nothing leaked to the host


def test_two_concurrent_builds_share_one_cache(toy, tmp_path):
    toy.write("software/libgreet.yml", (toy.path / "software/libgreet.yml").read_text()
              .replace("build:\n", "build:\n  - sleep 3\n"))
    cache = tmp_path / "cache"
    command = [str(OMNIBUS), "build", "demo", "--root", str(toy.path), "--cache-dir",
               str(cache), "--mirror", "upstream"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600  # start the second run while the first one builds
    while not list((cache / "work").glob("*/libgreet-*/prefix/merged")):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.2)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    progress = [stderr for _stdout, stderr in outputs]
    assert sum(text.count("built in") for text in progress) == 2  # each built once, by one run
    assert sum(text.count(": cached") for text in progress) == 2  # the other run waited for it
    assert sorted(sidecars(cache)) == ["hello", "libgreet"]


def test_cleanup_of_killed_runs_never_touches_a_live_run(tmp_path):
    from builder.compile.prefix import PrefixMount, release_stale

    work_root = tmp_path / "work"
    live = work_root / "debian-12-amd64" / f"hello-{os.getpid()}"
    dead_pid = 4_000_000  # above Linux's pid_max: no such process
    dead = work_root / "debian-12-amd64" / f"hello-{dead_pid}"
    layer = tmp_path / "layer"
    (layer / "embedded").mkdir(parents=True)
    (layer / "embedded" / "greet.h").write_text(GREET_H)
    with PrefixMount(live / "prefix", [layer]) as mine, PrefixMount(dead / "prefix", [layer]):
        release_stale(work_root)
        assert (mine.merged / "embedded" / "greet.h").read_text() == GREET_H
        assert os.path.ismount(mine.merged)
        assert not dead.exists()
    assert not os.path.ismount(mine.merged)


def test_a_binary_linked_against_a_disallowed_system_library_is_never_packaged(toy, tmp_path):
    """The health check runs on the real build output: libatomic is not an allowed library."""
    toy.write("src/leaky/main.c", "int main(void) { return 0; }\n")
    toy.write("software/leaky.yml", 'name: leaky\nversion: "1.0"\nlicense: MIT\n'
              "source: {path: src/leaky}\nbuild:\n  - mkdir -p {{ prefix }}/bin\n"
              "  - gcc -o {{ prefix }}/bin/leaky main.c -Wl,--no-as-needed -latomic\n")
    toy.project("leak", ["leaky", "hello"])
    result = build(toy, tmp_path / "cache", "leak")
    assert result.returncode == 1
    assert "the health check of leak for debian-12/amd64 found 1 problem(s)" in result.stderr
    assert ("/opt/gitlab/embedded/bin/leaky (leaky): unresolved or disallowed library: needs "
            "libatomic.so.1") in result.stderr
    assert "hint: fix the build of leaky" in result.stderr
    assert not list((toy.path / "pkg").glob("leak_*.deb"))
    assert not list((toy.path / "pkg").glob("leak_*.spdx.json"))  # nothing describes it


def test_a_missing_license_file_fails_the_build_naming_it(toy, tmp_path):
    text = (toy.path / "software/hello.yml").read_text()
    toy.write("software/hello.yml", text + "license_files: [COPYING]\n")
    result = build(toy, tmp_path / "cache")
    assert result.returncode == 1
    assert "license file 'COPYING' of hello is not in its source" in result.stderr
    toy.write("src/hello/COPYING", "MIT License\n")
    result = build(toy, tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    stage = tmp_path / "cache/stage/demo/debian-12/amd64/opt/gitlab"
    assert (stage / "LICENSES/hello-COPYING").read_text() == "MIT License\n"
    assert "This product bundles hello 1.0," in (stage / "LICENSE").read_text()
    assert json.loads((stage / "dependency_licenses.json").read_text())[0]["name"] == "hello"
    assert (stage / "version-manifest.txt").read_text().startswith("demo 1.2.3\n")


def test_a_denied_license_stops_packaging_with_a_report(toy, tmp_path):
    text = (toy.path / "software/libgreet.yml").read_text()
    toy.write("software/libgreet.yml", text.replace("license: MIT", "license: GPL-2.0-only"))
    result = build(toy, tmp_path / "cache")
    assert result.returncode == 1
    assert 'libgreet 1.0: license "GPL-2.0-only": denied: GPL-*' in result.stderr
    status = json.loads((toy.path / "pkg/demo_1.2.3-ce.0.license-status.json").read_text())
    assert status["libgreet"]["status"] == "violation" and status["hello"]["status"] == "ok"
    assert not list((toy.path / "pkg").glob("*.deb"))
    toy.write("software/libgreet.yml", text.replace("license: MIT",
                                                    "license: GPL-2.0-only OR MIT"))
    assert build(toy, tmp_path / "cache").returncode == 0
