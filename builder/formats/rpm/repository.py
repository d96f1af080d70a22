"""The .rpm format's repository writer: a signed yum/dnf repository, one per platform,
every version and arch side by side.

Layout (what createrepo makes, and what dnf and yum read):

    Packages/<first letter>/<file>.rpm
    repodata/<sha256>-primary.xml.gz, -filelists.xml.gz, -other.xml.gz
    repodata/repomd.xml, repodata/repomd.xml.asc (detached, armored)
    gpg.key, NAME.repo (for clients; NAME is the project's `names: {repository}`)

A published package never changes: the same file again is a no-op (no metadata written, no
signature made), a different file with the same name-epoch-version-release-arch is refused.

Order of writes, so that a client never sees a half-made repository:
1. new package files (they are not referenced yet);
2. the metadata files: their names carry their checksums, so a new generation never
   overwrites a file of the current one;
3. repomd.xml, then repomd.xml.asc, each renamed into place. Clients fetch repomd.xml first
   and the signature second. Swapping repomd.xml first means a client whose two requests
   both fall before, between or after the two renames gets a matching pair; only one whose
   requests straddle a rename mismatches, and the renames are microseconds apart, after all
   the slow work, signing included. (Swapping the signature first would make every request
   pair that overlaps the renames at all mismatch.) A mismatching pair fails verification
   and dnf tries again on its next run; it is never accepted.
4. metadata files older than the previous generation are pruned: a client that fetched the
   previous repomd.xml a moment ago still finds every file it names.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from builder.digests import sha256_file
from builder.errors import BuilderError
from builder.formats.repofiles import detached_signature, export_key, write_atomic
from builder.formats.repository import PublishResult, PublishSettings, Report
from builder.formats.rpm.rpmread import RpmInfo, read_rpm
from builder.formats.rpm.yummeta import (
    MetadataFile,
    RepoPackage,
    known_digests,
    metadata_files,
    referenced_files,
    repomd,
)

KEY_FILE = "gpg.key"
LOCK_FILE = ".publish.lock"
INCOMING_PREFIX = ".incoming-"  # a package being copied in; a leftover is a crashed copy
GENERATED = re.compile(r"[0-9a-f]{64}-[a-z_]+\.xml(\.gz)?")


@dataclass(frozen=True)
class Incoming:
    path: Path
    info: RpmInfo
    sha256: str

    @property
    def href(self) -> str:
        return f"Packages/{self.path.name[0].lower()}/{self.path.name}"


def publish(packages: Sequence[Path], settings: PublishSettings,
            report: Report) -> PublishResult:
    """Add `packages` to the platform's repository and re-sign its metadata when it changed."""
    incoming = [_incoming(path) for path in packages]  # read and hashed before any write
    repo = settings.repo_dir
    repo.mkdir(parents=True, exist_ok=True)
    with _locked(repo):
        stored = _stored_packages(repo)
        added, unchanged = _plan(incoming, stored)
        for item in added:
            stored[item.href] = _copy_in(item, repo, settings.date)
            report(f"{settings.name}: added {item.href}")
        for name in unchanged:
            report(f"{settings.name}: {name} is already published, unchanged")
        key = export_key(settings.signing, armor=True)
        _write_metadata(repo, sorted(stored.values(), key=lambda p: p.href), key, settings,
                        report)
        client_files = _write_client_files(repo, key, settings)
    return PublishResult(repo_dir=repo, added=tuple(item.path.name for item in added),
                         unchanged=tuple(unchanged), client_files=client_files)


@contextmanager
def _locked(repo: Path) -> Iterator[None]:
    """One publisher at a time per repository: two would prune each other's metadata."""
    with (repo / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _incoming(path: Path) -> Incoming:
    if path.suffix != ".rpm":
        raise BuilderError(f"{path}: a yum repository takes .rpm files",
                           hint="publish .deb packages into an apt platform's repository")
    if path.name.startswith("."):
        raise BuilderError(f"{path}: a package file name cannot start with '.'",
                           hint="the repository takes such names for its temporary files; "
                           "rename the package")
    return Incoming(path, read_rpm(path), sha256_file(path))


def _stored_packages(repo: Path) -> dict[str, RepoPackage]:
    """Every package in the repository, by href. Checksums come from the current primary
    metadata when the file's size and time still match it: re-hashing gigabytes of old
    packages on every publish would cost minutes."""
    known = known_digests(repo)
    stored = {}
    for path in sorted(repo.glob("Packages/*/*")):
        if path.name.startswith(INCOMING_PREFIX):
            path.unlink()  # under the lock, so no copy is in progress: a crash left it
            continue
        if path.suffix != ".rpm" or path.name.startswith(".") or not path.is_file():
            continue
        href = path.relative_to(repo).as_posix()
        status = path.stat()
        size, mtime = status.st_size, int(status.st_mtime)
        digest = known.get(href)
        sha256 = digest[0] if digest and digest[1:] == (size, mtime) else sha256_file(path)
        stored[href] = RepoPackage(read_rpm(path), href, sha256, size, mtime)
    return stored


def _conflict(item: Incoming, other_href: str, other: str, other_sha256: str) -> BuilderError:
    return BuilderError(
        f"{item.path} ({item.info.nevra}, sha256 {item.sha256}) cannot be published: "
        f"{other_href} ({other}, sha256 {other_sha256}) is already there and differs",
        hint="a published package never changes (clients may have cached or installed it): "
        "build it again with a new iteration, e.g. ce.1; nothing was published")


def _plan(incoming: list[Incoming],
          stored: dict[str, RepoPackage]) -> tuple[list[Incoming], list[str]]:
    """(packages to add, names already there); refuses before anything is written."""
    by_nevra = {package.info.nevra: (package.href, package.sha256) for package in
                stored.values()}
    by_href = {href: (package.info.nevra, package.sha256) for href, package in stored.items()}
    added: list[Incoming] = []
    unchanged: list[str] = []
    for item in incoming:
        if item.info.nevra in by_nevra:
            href, sha256 = by_nevra[item.info.nevra]
            if sha256 != item.sha256:
                raise _conflict(item, href, item.info.nevra, sha256)
            unchanged.append(item.path.name)
            continue
        if item.href in by_href:  # the same file name, holding another package
            nevra, sha256 = by_href[item.href]
            raise _conflict(item, item.href, nevra, sha256)
        by_nevra[item.info.nevra] = (item.href, item.sha256)
        by_href[item.href] = (item.info.nevra, item.sha256)
        added.append(item)
    return added, unchanged


def _copy_in(item: Incoming, repo: Path, date: int) -> RepoPackage:
    """Copy through a temporary name, dated `date`: the file's time is primary's
    <time file>, so the same publishes give the same metadata."""
    target = repo / item.href
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=INCOMING_PREFIX, dir=target.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out, item.path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        # The metadata says what was hashed before: the copy must be those bytes.
        if digest.hexdigest() != item.sha256:
            raise BuilderError(f"{item.path} changed while it was being published",
                               hint="publish again once the file is complete; nothing of "
                               "it was published")
        os.chmod(temporary, 0o644)
        os.utime(temporary, (date, date))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return RepoPackage(item.info, item.href, item.sha256, target.stat().st_size, date)


def _signed_by(key: bytes, data: bytes, signature: bytes) -> bool:
    """Whether `signature` is a good signature of `data` by `key` (armored public key)."""
    with tempfile.TemporaryDirectory(prefix="omnibus-verify-") as scratch:
        keyring = Path(scratch) / "keyring.gpg"
        dearmored = subprocess.run(["gpg", "--batch", "--no-tty", "--homedir", scratch,
                                    "--dearmor", "--output", str(keyring)], input=key,
                                   capture_output=True)
        if dearmored.returncode != 0:
            return False
        (Path(scratch) / "data").write_bytes(data)
        (Path(scratch) / "data.asc").write_bytes(signature)
        try:
            verified = subprocess.run(["gpgv", "--homedir", scratch, "--keyring", str(keyring),
                                       str(Path(scratch) / "data.asc"),
                                       str(Path(scratch) / "data")], capture_output=True)
        except FileNotFoundError as error:
            raise BuilderError("gpgv is not installed: it checks the repository's signature",
                               hint="apt-get install gpgv") from error
    return verified.returncode == 0


def _up_to_date(repodata: Path, files: list[MetadataFile], key: bytes) -> bool:
    """The current repomd.xml names exactly these files and is signed by this key: a crash
    between the two renames, or a new key, makes this false and the metadata is rewritten."""
    try:
        current = (repodata / "repomd.xml").read_bytes()
        signature = (repodata / "repomd.xml.asc").read_bytes()
    except FileNotFoundError:
        return False
    wanted = {file.href for file in files}
    return referenced_files(current) == wanted and \
        all((repodata.parent / href).is_file() for href in wanted) and \
        _signed_by(key, current, signature)


def _write_metadata(repo: Path, packages: list[RepoPackage], key: bytes,
                    settings: PublishSettings, report: Report) -> None:
    repodata = repo / "repodata"
    files = metadata_files(packages)
    if _up_to_date(repodata, files, key):
        report(f"{settings.name}: metadata unchanged ({len(packages)} packages)")
        return
    for file in files:
        write_atomic(repo / file.href, file.data)
    index = repomd(files, settings.date)
    signature = detached_signature(settings.signing, index)
    try:
        previous = referenced_files((repodata / "repomd.xml").read_bytes())
    except FileNotFoundError:
        previous = set()
    write_atomic(repodata / "repomd.xml", index)
    write_atomic(repodata / "repomd.xml.asc", signature)
    _prune(repodata, {file.href for file in files} | previous)
    report(f"{settings.name}: metadata written and signed ({len(packages)} packages, "
           f"revision {settings.date})")


def _prune(repodata: Path, keep: set[str]) -> None:
    """Drop metadata files neither generation names, and the temporary files of crashed
    writes (under the lock, no write is in progress)."""
    for path in repodata.iterdir():
        if path.name.startswith(".") or (GENERATED.fullmatch(path.name)
                                         and f"repodata/{path.name}" not in keep):
            path.unlink()


def repo_snippet(settings: PublishSettings) -> str:
    """The .repo file clients drop into /etc/yum.repos.d/."""
    url = settings.url()
    names = settings.names
    return (f"[{names.repository}-{settings.name}]\n"
            f"name={names.title} packages for {settings.name}\n"
            f"baseurl={url}\n"
            "enabled=1\n"
            "gpgcheck=1\n"
            "repo_gpgcheck=1\n"
            f"gpgkey={url}/{KEY_FILE}\n"
            "metadata_expire=300\n")


def _write_client_files(repo: Path, key: bytes, settings: PublishSettings) -> tuple[Path, ...]:
    repo_file = f"{settings.names.repository}.repo"
    write_atomic(repo / KEY_FILE, key)
    write_atomic(repo / repo_file, repo_snippet(settings).encode())
    return repo / KEY_FILE, repo / repo_file
