"""`git` sources: a tag, branch or commit, kept in a cached bare repository.

The ref is resolved to a commit on fetch and the commit is recorded as the source's lock
("remote@ref" -> commit), so keys, the version manifest and every later build use exactly
that commit until the lock is refreshed (`omnibus fetch --refresh`). A commit already in
the cache needs no network. Fetches are shallow where the remote allows it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from builder.definitions.model import GitSource, Software
from builder.errors import FetchError
from builder.sources.fetchers.base import FetchContext, FetchedSource, SourceUnavailable

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}


def lock_key(source: GitSource) -> str:
    return f"{source.git}@{source.ref}"


def repository_dir(cache_dir: Path, software: Software, source: GitSource) -> Path:
    remote_id = hashlib.sha256(source.git.encode()).hexdigest()[:12]
    return cache_dir / "git" / f"{software.name}-{remote_id}.git"


def _git(repo: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **_GIT_ENV},
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        raise FetchError(f"git {args[0]} timed out after {timeout:.0f} s") from error


def _has_commit(repo: Path, commit: str) -> bool:
    return repo.is_dir() and _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _ensure_repository(repo: Path) -> None:
    if not (repo / "HEAD").is_file():
        repo.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["git", "init", "--bare", "-q", str(repo)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise FetchError(f"git init failed: {result.stderr.strip()}")


def _fetch_ref(repo: Path, remote: str, source: GitSource) -> str:
    """Fetch `source.ref` from `remote` into `repo` and return its commit."""
    shallow = _git(repo, "fetch", "-q", "--depth", "1", "--no-tags", remote, source.ref)
    if shallow.returncode == 0:
        return _git(repo, "rev-parse", "FETCH_HEAD^{commit}").stdout.strip()
    if not source.locked:
        raise FetchError(_reason(shallow.stderr))
    # Many servers refuse a bare commit id in a shallow fetch; fetch everything instead.
    full = _git(repo, "fetch", "-q", remote, "+refs/heads/*:refs/mirror/heads/*",
                "+refs/tags/*:refs/mirror/tags/*")
    if full.returncode != 0:
        raise FetchError(_reason(full.stderr))
    if not _has_commit(repo, source.ref):
        raise FetchError(f"the remote has no commit {source.ref}")
    return source.ref


def _reason(stderr: str) -> str:
    lines = [line.removeprefix("fatal: ") for line in stderr.strip().splitlines()]
    return "; ".join(lines[-2:]) or "git fetch failed"


def _remotes(context: FetchContext, software: Software, source: GitSource) -> Iterator[str]:
    for mirror in context.mirrors:
        if mirror.kind == "upstream":
            yield source.git
        elif mirror.kind == "git":
            yield mirror.location.format(name=software.name, version=software.version,
                                         filename="", sha256="", sha512="", checksum="")


def _pinned(source: GitSource, context: FetchContext) -> str | None:
    """The commit the source is held to: its own commit id, or its lock unless --refresh."""
    if source.locked:
        return source.ref
    return None if context.refresh else context.locks.get(lock_key(source))


def fetch(software: Software, context: FetchContext) -> FetchedSource:
    source = software.source
    assert isinstance(source, GitSource)
    repo = repository_dir(context.cache_dir, software, source)
    key = lock_key(source)
    pinned = _pinned(source, context)
    if pinned and _has_commit(repo, pinned):
        return FetchedSource(software.name, "git", repo, pinned, "cache", (key, pinned))
    if context.offline:
        raise SourceUnavailable(software.name, [], offline=True)
    _ensure_repository(repo)
    # A locked ref is fetched as its commit: a pipeline's jobs build what its facts job
    # locked, though the branch has moved on since.
    wanted = replace(source, ref=pinned) if pinned else source
    tried = []
    for remote in _remotes(context, software, source):
        context.report(software.name, f"fetching {wanted.ref} from {remote}")
        try:
            commit = _fetch_ref(repo, remote, wanted)
        except FetchError as error:
            tried.append(f"{remote}: {error.message}")
            continue
        # A ref under refs/omnibus keeps the commit from being garbage-collected.
        _git(repo, "update-ref", f"refs/omnibus/{commit}", commit)
        return FetchedSource(software.name, "git", repo, commit, remote, (key, commit))
    raise SourceUnavailable(software.name, tried)


def _remote_commit(remote: str, ref: str) -> str:
    """The commit `ref` names on `remote`, asked with `git ls-remote` (nothing downloaded);
    for an annotated tag, the commit it points at."""
    listed = subprocess.run(["git", "ls-remote", remote, ref, f"{ref}^{{}}"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **_GIT_ENV})
    if listed.returncode != 0:
        raise FetchError(_reason(listed.stderr))
    pairs = (line.split("\t", 1) for line in listed.stdout.splitlines() if "\t" in line)
    found = {name: commit for commit, name in pairs}
    wanted = [f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/heads/{ref}", ref]
    for name in wanted:
        if name in found:
            return found[name]
    raise FetchError(f"the remote has no ref {ref}")


def lock(software: Software, context: FetchContext) -> FetchedSource:
    """The lock of a git source without fetching it: what `omnibus fetch --locks-only` (a
    pipeline's facts job) needs, in seconds instead of a download of every repository."""
    source = software.source
    assert isinstance(source, GitSource)
    key = lock_key(source)
    repo = repository_dir(context.cache_dir, software, source)
    pinned = _pinned(source, context)
    if pinned:
        return FetchedSource(software.name, "git", repo, pinned, "locks", (key, pinned))
    if context.offline:
        raise SourceUnavailable(software.name, [], offline=True)
    tried = []
    for remote in _remotes(context, software, source):
        context.report(software.name, f"resolving {source.ref} at {remote}")
        try:
            commit = _remote_commit(remote, source.ref)
        except (FetchError, subprocess.TimeoutExpired) as error:
            tried.append(f"{remote}: {getattr(error, 'message', 'git ls-remote timed out')}")
            continue
        return FetchedSource(software.name, "git", repo, commit, remote, (key, commit))
    raise SourceUnavailable(software.name, tried)
