"""Building one software: source tree, isolated prefix, runner, artifact.

Each software builds with only its transitive dependencies' artifacts under the install
prefix (see `prefix`), so an undeclared dependency fails instead of working by accident, and
its artifact is exactly what its build added or changed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from builder.compile import artifacts
from builder.compile.buildenv import build_environment, build_script, failing_step, step_context
from builder.compile.cache import ArtifactCache
from builder.compile.prefix import PrefixMount, whiteouts
from builder.compile.remote import RemoteCache
from builder.compile.runners import CONTAINER_SOURCE, RUNNERS, BuildJob
from builder.errors import BuilderError
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord
from builder.sources.fetchers import FetchedSource
from builder.sources.workspace import prepare

#: 2024-01-01T00:00:00Z: the default SOURCE_DATE_EPOCH of builds and artifacts, so the same
#: inputs give the same bytes; packaging sets its own from the project.
DEFAULT_EPOCH = 1704067200
LOG_TAIL = 40


@dataclass(frozen=True)
class BuildSettings:
    root: Path
    cache_dir: Path
    jobs: int = 2
    runner: str = "docker"
    force: frozenset[str] = frozenset()
    epoch: int = DEFAULT_EPOCH
    remote: RemoteCache | None = None
    #: toolchain name -> its unpacked directory (sources.toolchains.ensure_toolchains)
    toolchain_dirs: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class BuildOutcome:
    name: str
    status: str  # cached | built | failed | skipped
    seconds: float = 0.0
    log: Path | None = None
    detail: str = ""  # for failures: the failing step and the log's tail
    tail: tuple[str, ...] = field(default=(), compare=False)


def transitive(graph: Graph, name: str) -> list[str]:
    """Every dependency of `name`, dependents before what they depend on (overlay order)."""
    seen: set[str] = set()
    stack = list(graph.edges[name])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.edges[current])
    return [n for n in reversed(graph.order) if n in seen]


def log_path(cache_dir: Path, graph: Graph, name: str) -> Path:
    return cache_dir / "logs" / graph.platform.id / graph.arch / f"{name}.log"


def work_dir(cache_dir: Path, graph: Graph, name: str) -> Path:
    return cache_dir / "work" / f"{graph.platform.id}-{graph.arch}" / f"{name}-{os.getpid()}"


def _job(graph: Graph, name: str, image: str, work: Path, settings: BuildSettings,
         fetched: FetchedSource | None, make_jobs: int) -> BuildJob:
    software = graph.software[name]
    install_dir = graph.project.install_dir
    host = settings.runner == "host"
    context = step_context(software, graph.platform, graph.arch, install_dir,
                           graph.project.edition, make_jobs, "")
    source_root = prepare(software, fetched, settings.root, work / "src", context,
                          settings.cache_dir)
    subdir = source_root.relative_to(work / "src").as_posix()
    inner_root = str(source_root) if host else f"{CONTAINER_SOURCE}/{subdir}".rstrip("/.")
    context = {**context, "source_dir": inner_root}
    script = work / "build.sh"
    script.write_text(build_script(software, context))
    toolchains = graph.toolchains_of(name)
    environment = build_environment(software, graph.platform, graph.arch, context,
                                    settings.epoch, toolchains)
    mounts = tuple((settings.toolchain_dirs[t.name], t.mount) for t in toolchains)
    return BuildJob(
        name=name, image=image, docker_platform=graph.platform.arches[graph.arch].docker_platform,
        script=script, source_dir=work / "src", source_subdir="" if subdir == "." else subdir,
        prefix=work / "prefix" / "merged", install_dir=install_dir, environment=environment,
        network=graph.software[name].network, mounts=mounts,
    )


def _failure(name: str, log: Path, seconds: float, why: str) -> BuildOutcome:
    text = log.read_text(errors="replace") if log.exists() else ""
    step = failing_step(text)
    detail = f"{why}{f' in step {step}' if step else ''}"
    return BuildOutcome(name, "failed", seconds, log, detail,
                        tuple(text.splitlines()[-LOG_TAIL:]))


def missing_toolchain(graph: Graph, name: str, dirs: Mapping[str, Path]) -> str | None:
    """Why `name` cannot build here for want of a toolchain, or None."""
    for toolchain in graph.toolchains_of(name):
        if toolchain.name in dirs:
            continue
        if toolchain.files_for(graph.arch) is None:
            shared = (" Its artifact is platform-independent: build it on an arch the "
                      "toolchain has (its cache key is the same there) and share it through "
                      "the cache." if graph.software[name].platform_independent else "")
            return (f"it builds with toolchain {toolchain.name}, which has no {graph.arch} "
                    f"build ({toolchain.file} has: {', '.join(toolchain.files)}).{shared}")
        return f"toolchain {toolchain.name} was not fetched for {graph.arch}"
    return None


def _run(graph: Graph, keys: Mapping[str, KeyRecord], name: str, image: str,
         settings: BuildSettings, fetched: FetchedSource | None, make_jobs: int) -> BuildOutcome:
    why = missing_toolchain(graph, name, settings.toolchain_dirs)
    if why:
        return BuildOutcome(name, "failed", 0.0, None, why)
    cache = ArtifactCache(settings.cache_dir)
    log = log_path(settings.cache_dir, graph, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    work = work_dir(settings.cache_dir, graph, name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    layers = [artifacts.ensure_unpacked(cache, keys[dep].key) for dep in transitive(graph, name)]
    job = _job(graph, name, image, work, settings, fetched, make_jobs)
    with PrefixMount(work / "prefix", layers) as mount, log.open("wb") as out:
        code = RUNNERS[settings.runner](job, out)
    seconds = time.monotonic() - started
    if code != 0:
        return _failure(name, log, seconds, f"exit code {code}")
    deleted = whiteouts(mount.upper)
    if deleted:
        return _failure(name, log, seconds, "it deleted its dependencies' files: "
                        + ", ".join(deleted[:5]))
    sidecar = {"name": name, "version": graph.software[name].version,
               "platform": graph.platform.id, "arch": graph.arch, "image": image,
               "build_seconds": round(seconds, 1), "log": str(log)}
    artifacts.store(cache, keys[name].key, mount.upper, sidecar, settings.epoch)
    cache.write_record(graph.platform.id, graph.arch, keys[name])
    shutil.rmtree(work, ignore_errors=True)
    return BuildOutcome(name, "built", seconds, log)


def build_one(graph: Graph, keys: Mapping[str, KeyRecord], name: str, image: str,
              settings: BuildSettings, fetched: FetchedSource | None,
              make_jobs: int) -> BuildOutcome:
    """Build `name`, whose dependencies' artifacts are all in the cache.

    A lock per key lets two runs on one machine share the cache: the second waits, then
    finds the artifact the first one made.
    """
    cache = ArtifactCache(settings.cache_dir)
    lock_file = settings.cache_dir / "locks" / f"{keys[name].key}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key = keys[name].key
        if name not in settings.force:
            if cache.has(key):
                return BuildOutcome(name, "cached")
            if settings.remote and settings.remote.download(key, cache):
                cache.write_record(graph.platform.id, graph.arch, keys[name])
                return BuildOutcome(name, "cached", detail="from the remote cache")
        try:
            outcome = _run(graph, keys, name, image, settings, fetched, make_jobs)
        except (BuilderError, OSError, subprocess.SubprocessError) as error:
            # One software's trouble (a bad archive, a full disk) fails that software only;
            # the other builds go on and the summary names it.
            log = log_path(settings.cache_dir, graph, name)
            message = error.message if isinstance(error, BuilderError) else str(error)
            return BuildOutcome(name, "failed", 0.0, log, message)
        if outcome.status == "built" and settings.remote:
            problem = settings.remote.upload(key, cache)
            if problem:
                return dataclasses.replace(outcome, detail=f"not shared: {problem}")
        return outcome
