"""The .deb format's repository writer: signed apt repositories, one per platform (its
codename, one component, `main`).

Layout of `<repo_root>/<platform id>/`:

    pool/main/<first letter>/<name>/<file>.deb   every version and arch, side by side
    dists/<codename>/main/binary-<arch>/Packages, Packages.gz, Packages.xz
    dists/<codename>/main/binary-<arch>/by-hash/<MD5Sum|SHA1|SHA256|SHA512>/<hex digest>
    dists/<codename>/Release, Release.gpg (detached, armored), InRelease (clear-signed)
    gpg.key                      the signing key, armored, for people and `gpg --import`
    NAME-archive-keyring.gpg     the same key, binary: /usr/share/keyrings/ for signed-by
    NAME.sources                 deb822 source for /etc/apt/sources.list.d/ (apt >= 1.1)
    NAME.list                    the same source as a one-line entry, for older tools
    .publish/                    the lock and the by-hash generations: state, not for clients

NAME is the project's `names: {repository}`, also Release's Origin and
Label.

Release lists `Architectures:` the platform's deb arches (plus any other arch in the pool)
but only arches with packages get a Packages index: apt silently treats a listed arch
without an index as empty.

Order of the writes, so that a client never reads an index its Release does not describe,
nor a Release naming files that are not served:

 1. Every package is read and every conflict found before anything is written.
 2. The key and the source snippets (a client fetching the key after a new Release gets the
    key that signed it).
 3. New pool files, each under a new name (a pool file is never rewritten).
 4. The by-hash copy of every index: content-addressed names, so nothing served changes.
 5. The plain Packages files, each through a rename (never half-written).
 6. Release, Release.gpg, then InRelease, each through a rename, both signatures made
    before the first rename. InRelease, which apt reads first, is the switch: Release says
    `Acquire-By-Hash: yes`, so apt fetches the indexes by their hash and a client holding the
    previous Release still finds them. A client falling back to Release + Release.gpg in the
    instant between their two renames sees a bad signature and keeps its old lists; so does
    an apt older than 1.1 (no by-hash) reading a plain Packages newer than its Release.
 7. The generations are recorded, then by-hash files older than the last KEEP_GENERATIONS
    Releases are removed.

A publish whose indexes come out as they are (same packages, same key) writes nothing: the
Release and its signatures are kept, old date and all.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import Platform
from builder.digests import file_digests
from builder.errors import BuilderError
from builder.formats.deb import aptindex, debfile
from builder.formats.deb.aptindex import COMPONENT, Entry
from builder.formats.deb.writer import ARCH_NAMES
from builder.formats.format import arch_name
from builder.formats.repofiles import (
    clearsigned,
    detached_signature,
    export_key,
    write_atomic,
)
from builder.formats.repository import PublishResult, PublishSettings, Report

KEYRING_DIR = "/usr/share/keyrings"
#: Releases whose by-hash indexes stay served: the current one and the two before it, for
#: clients that fetched a Release just before it was replaced.
KEEP_GENERATIONS = 3
STATE_DIR = ".publish"
#: Debian package names (policy 5.6.1): also keeps pool paths inside the pool.
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True)
class Incoming:
    source: Path
    entry: Entry

    @property
    def pool_path(self) -> str:
        return self.entry.get("Filename")


def publish(packages: Sequence[Path], settings: PublishSettings,
            report: Report) -> PublishResult:
    """Add the .deb files to the platform's repository, rewrite and sign its indexes."""
    codename = _codename(settings.platform)
    repo = settings.repo_dir
    with _locked(repo / STATE_DIR / "lock"):
        dists = repo / "dists" / codename
        pool = read_pool(repo, dists)
        incoming = [read_incoming(Path(path), settings.platform) for path in packages]
        added, unchanged = sort_out(incoming, pool, repo)
        key_id, client_files = _write_client_files(repo, settings, codename)
        say = _prefixed(report, settings.name)
        for item in added:
            _place(item.source, repo / item.pool_path)
            pool[item.pool_path] = item.entry
            say(f"added {item.pool_path}")
        for item in unchanged:
            say(f"{item.pool_path} is already published, unchanged")
        _write_indexes(dists, pool, settings, key_id, say)
    return PublishResult(repo, tuple(Path(item.pool_path).name for item in added),
                         tuple(Path(item.pool_path).name for item in unchanged),
                         tuple(client_files))


def _prefixed(report: Report, prefix: str) -> Report:
    return lambda line: report(f"{prefix}: {line}")


def _codename(platform: Platform) -> str:
    if not platform.codename:
        raise BuilderError(f"platform {platform.id} has no codename, which names its apt "
                           "repository's suite", hint=f"add `codename:` to {platform.file}")
    return platform.codename


def platform_arches(platform: Platform) -> list[str]:
    return [name for spec in platform.arches.values()
            if (name := arch_name(spec, "deb", ARCH_NAMES))]


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """One publish at a time per repository: two would each write a Release naming only
    their own packages."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as lock:  # "a": opening it changes nothing, not even its mtime
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _entry(path: Path, control: debfile.Fields, filename: str) -> Entry:
    return Entry.make(control, filename, path.stat().st_size, file_digests(path))


def _control(path: Path) -> debfile.Fields:
    control = debfile.parse_paragraph(debfile.read_control(path), f"{path}: control")
    aptindex.check_control(control, str(path))
    return control


def read_pool(repo: Path, dists: Path) -> dict[str, Entry]:
    """Every package in the pool, by its path in the repository. The current Packages files
    stand in for reading and hashing each .deb again (they can be large) when they list it
    with its size; a pool file they do not know is read."""
    known: dict[str, Entry] = {}
    for index in sorted(dists.glob(f"{COMPONENT}/binary-*/Packages")):
        try:
            stanzas = debfile.paragraphs(index.read_text(), str(index))
        except (BuilderError, OSError, UnicodeDecodeError):
            continue  # an unreadable index is rebuilt from the pool
        known.update((entry.get("Filename"), entry)
                     for entry in (Entry(tuple(fields)) for fields in stanzas))
    pool: dict[str, Entry] = {}
    for path in sorted((repo / "pool").glob(f"{COMPONENT}/*/*/*.deb")):
        if path.name.startswith("."):
            continue  # a copy that was interrupted
        relative = path.relative_to(repo).as_posix()
        entry = known.get(relative)
        if entry is None or entry.get("Size") != str(path.stat().st_size):
            entry = _entry(path, _control(path), relative)
        pool[relative] = entry
    _check_unique(pool, repo)
    return pool


def _check_unique(pool: Mapping[str, Entry], repo: Path) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for relative, entry in pool.items():
        if entry.key in seen:
            raise BuilderError(f"the pool holds {entry.describe()} twice: {repo / seen[entry.key]}"
                               f" and {repo / relative}",
                               hint="remove the one that should not be served, then publish")
        seen[entry.key] = relative


def read_incoming(source: Path, platform: Platform) -> Incoming:
    """A package to publish, read and checked: its stanza, with its place in the pool."""
    if source.suffix != ".deb" or source.name.startswith("."):
        # The pool is read back by these names (read_pool): any other would go unindexed.
        raise BuilderError(f"{source}: only .deb files go into an apt repository",
                           hint="give the .deb files `omnibus package` wrote")
    control = _control(source)
    name, _, arch = Entry(tuple(control)).key
    if not PACKAGE_NAME.fullmatch(name):
        raise BuilderError(f"{source}: '{name}' is not a Debian package name",
                           hint="package names are lower case letters, digits and + - .")
    arches = platform_arches(platform)
    if arch != "all" and arch not in arches:
        raise BuilderError(f"{source} is built for {arch}; the {platform.id} repository takes "
                           f"{', '.join(arches)} (and all)",
                           hint="publish it to the platform it was built for (--platform)")
    pool_path = f"pool/{COMPONENT}/{name[0]}/{name}/{source.name}"
    return Incoming(source, _entry(source, control, pool_path))


def sort_out(incoming: Sequence[Incoming], pool: Mapping[str, Entry],
             repo: Path) -> tuple[list[Incoming], list[Incoming]]:
    """(new, already there byte for byte); any other package of the same name, version and
    arch, or another file at the same pool path, is refused: a published package is never
    replaced, as clients that installed it would then hold something else."""
    holders = {relative: (str(repo / relative), entry) for relative, entry in pool.items()}
    by_key = {entry.key: relative for relative, entry in pool.items()}
    added: list[Incoming] = []
    unchanged: list[Incoming] = []
    for item in incoming:
        taken = item.pool_path if item.pool_path in holders else None
        relative = by_key.get(item.entry.key, taken)
        if relative is None:
            holders[item.pool_path] = (str(item.source), item.entry)
            by_key[item.entry.key] = item.pool_path
            added.append(item)
            continue
        where, entry = holders[relative]
        if relative == item.pool_path and _same_file(entry, item.entry):
            unchanged.append(item)
            continue
        raise BuilderError(
            f"{item.source} ({item.entry.describe()}, sha256 {item.entry.get('SHA256')}) "
            f"differs from {where} ({entry.describe()}, sha256 {entry.get('SHA256')}), which "
            "the repository already holds",
            hint="a published package is never replaced: build the new one with another "
            "version or iteration (such as ce.1), or take the old file out of the pool "
            "yourself and publish again")
    return added, unchanged


def _same_file(left: Entry, right: Entry) -> bool:
    return all(left.get(name) == right.get(name) for name in aptindex.FILE_FIELDS)


def _place(source: Path, target: Path) -> None:
    """Into the pool under a temporary name, then renamed: a hard link when the source is on
    the same file system and readable by all (the pool is served), otherwise a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    temporary.unlink(missing_ok=True)
    try:
        try:
            if source.stat().st_mode & 0o444 != 0o444:
                raise PermissionError("not readable by all")
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _write_client_files(repo: Path, settings: PublishSettings,
                        codename: str) -> tuple[str, list[Path]]:
    """The public key (armored and binary) and the source snippets. Returns an id of the key
    (its binary export's sha256), to tell when the indexes must be signed again."""
    armored = export_key(settings.signing, armor=True)
    binary = export_key(settings.signing, armor=False)
    name = settings.names.repository
    keyring = f"{name}-archive-keyring.gpg"
    signed_by = f"{KEYRING_DIR}/{keyring}"
    url = settings.url()
    files = {
        "gpg.key": armored,
        keyring: binary,
        f"{name}.list": f"deb [signed-by={signed_by}] {url} {codename} {COMPONENT}\n".encode(),
        f"{name}.sources": (f"Types: deb\nURIs: {url}\nSuites: {codename}\n"
                            f"Components: {COMPONENT}\nSigned-By: {signed_by}\n").encode(),
    }
    for name, data in files.items():
        write_atomic(repo / name, data)
    return hashlib.sha256(binary).hexdigest(), [repo / name for name in files]


def _write_indexes(dists: Path, pool: Mapping[str, Entry], settings: PublishSettings,
                   key_id: str, report: Report) -> None:
    declared = platform_arches(settings.platform)
    arches = aptindex.index_arches(pool.values(), declared)
    files = aptindex.index_files(pool.values(), arches, lambda path: _read(dists / path))
    release = aptindex.release_text(settings.names.repository, dists.name, settings.date,
                                    sorted(set(declared) | set(arches)), files)
    by_hash = {hashed: data for path, data in files.items()
               for hashed in aptindex.by_hash_paths(path, data)}
    for path, data in [*by_hash.items(), *files.items()]:  # by-hash first: see the docstring
        write_atomic(dists / path, data)
    state = _load_state(dists)
    current = _read(dists / "Release")
    if (current is not None and state.get("key") == key_id
            and aptindex.without_date(current.decode(errors="replace"))
            == aptindex.without_date(release)
            and (dists / "InRelease").is_file() and (dists / "Release.gpg").is_file()):
        report(f"indexes unchanged in {dists}")
        return
    _swap_release(dists, release.encode(), settings)
    _record_generation(dists, state, key_id, sorted(by_hash))
    counts = ", ".join(
        f"{arch}: {sum(entry.key[2] in (arch, 'all') for entry in pool.values())} packages"
        for arch in arches)
    report(f"indexes written and signed in {dists} ({counts or 'no packages'})")


def _swap_release(dists: Path, release: bytes, settings: PublishSettings) -> None:
    # Both signatures before the first rename: a gpg failure leaves the old Release served.
    detached = detached_signature(settings.signing, release)
    inline = clearsigned(settings.signing, release)
    write_atomic(dists / "Release", release)
    write_atomic(dists / "Release.gpg", detached)
    write_atomic(dists / "InRelease", inline)


def _state_file(dists: Path) -> Path:
    return dists.parent.parent / STATE_DIR / f"by-hash-{dists.name}.json"


def _load_state(dists: Path) -> dict:
    """The signing key's id and the by-hash files of the last Releases (oldest first). A
    missing or unreadable state means none: nothing is pruned, everything is signed again."""
    try:
        state = json.loads(_state_file(dists).read_text())
    except (OSError, ValueError):
        return {"key": None, "generations": []}
    if not isinstance(state, dict) or not isinstance(state.get("generations"), list):
        return {"key": None, "generations": []}
    return state


def _record_generation(dists: Path, state: dict, key_id: str, files: list[str]) -> None:
    generations = [list(g) for g in state["generations"] if isinstance(g, list)]
    if not generations or generations[-1] != files:
        generations.append(files)
    kept = generations[-KEEP_GENERATIONS:]
    still_served = {path for generation in kept for path in generation}
    dropped = {path for generation in generations[:-KEEP_GENERATIONS] for path in generation
               if isinstance(path, str)} - still_served
    write_atomic(_state_file(dists),
                 (json.dumps({"key": key_id, "generations": kept}, indent=1) + "\n").encode())
    for path in sorted(dropped):
        # Only by-hash files this module wrote, whatever the state file says.
        if "/by-hash/" in path and ".." not in path.split("/"):
            (dists / path).unlink(missing_ok=True)
