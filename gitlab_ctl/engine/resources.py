"""The resource engine: small, checkable units of host state that reconfigure converges.

Every resource answers `check()` with None when the host already matches, or with lines that
say what would change (a diff for file content); `apply()` makes the change. `converge`
walks a list in order, applies only what `check` reported (nothing in a dry run), and records
the services whose configuration changed so they are restarted once, at the end.
"""

from __future__ import annotations

import difflib
import grp
import os
import pwd
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from gitlab_ctl.engine.accounts import Group as Group  # re-exported: every resource from here
from gitlab_ctl.engine.accounts import User as User
from gitlab_ctl.engine.commands import ResourceError as ResourceError  # re-exported
from gitlab_ctl.engine.commands import run_command as run_command

#: (action, service): what a changed resource asks of a service, e.g. ("restart", "redis").
Notify = tuple[str, str]
MAX_DIFF_LINES = 60  # a first run replaces initdb's 800-line postgresql.conf


class Ownership(TypedDict):
    """The owner= and group= of a File or Directory, shared by several with **."""
    owner: str | None
    group: str | None


@dataclass
class Run:
    """The explicit state of one converge: what changed, and what services were asked to do."""

    dry_run: bool = False
    report: Callable[[str], None] = lambda line: None
    changed: list[str] = field(default_factory=list)
    notifications: dict[Notify, None] = field(default_factory=dict)  # ordered set
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)  # services this run brought up
    total: int = 0  # resources checked
    durations: list[tuple[str, float]] = field(default_factory=list)  # applied, in seconds

    #: note -> ids of the resources it is about (see `note_about`)
    note_subjects: dict[str, frozenset[str]] = field(default_factory=dict)

    def notify(self, action: str, service: str) -> None:
        self.notifications[(action, service)] = None

    def note_about(self, note: str, ids: Sequence[str]) -> None:
        """A note worth saying only in a run that changes one of these resources: news
        then, noise on every later run."""
        self.notes.append(note)
        self.note_subjects[note] = frozenset(ids)

    def drop_stale_notes(self) -> None:
        changed = set(self.changed)
        self.notes = [note for note in self.notes
                      if note not in self.note_subjects or self.note_subjects[note] & changed]


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


def _ownership_changes(path: Path, owner: str | None, group: str | None, mode: int | None,
                       stat: os.stat_result) -> list[str]:
    changes = []
    if mode is not None and stat.st_mode & 0o7777 != mode:
        changes.append(f"change mode from '{stat.st_mode & 0o7777:04o}' to '{mode:04o}'")
    for name, wanted, actual, lookup in (("owner", owner, stat.st_uid, _uid),
                                         ("group", group, stat.st_gid, _gid)):
        if wanted is None:
            continue
        try:
            if lookup(wanted) != actual:
                changes.append(f"change {name} to '{wanted}'")
        except KeyError:  # the account is created earlier in the same (dry) run
            changes.append(f"change {name} to '{wanted}'")
    return changes


def _set_ownership(path: Path, owner: str | None, group: str | None, mode: int | None) -> None:
    if owner is not None or group is not None:
        os.chown(path, _uid(owner) if owner else -1, _gid(group) if group else -1,
                 follow_symlinks=False)
    if mode is not None:
        os.chmod(path, mode)


@dataclass(frozen=True)
class Directory:
    path: Path
    owner: str | None = "root"
    group: str | None = None
    mode: int | None = 0o755
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"directory[{self.path}]"

    def check(self) -> list[str] | None:
        try:
            stat = self.path.lstat()
        except FileNotFoundError:
            return [f"create new directory {self.path}"]
        if not self.path.is_dir() or self.path.is_symlink():
            raise ResourceError(self.id, "exists and is not a directory",
                                hint="move it out of the way and re-run reconfigure")
        return _ownership_changes(self.path, self.owner, self.group, self.mode, stat) or None

    def apply(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _set_ownership(self.path, self.owner, self.group, self.mode)


@dataclass(frozen=True)
class File:
    """A file with exact content; `kind` is 'template' for rendered ones (only the id says
    so). Sensitive files never show their content in a diff."""

    path: Path
    content: str
    owner: str | None = "root"
    group: str | None = None
    mode: int | None = 0o644
    sensitive: bool = False
    notifies: tuple[Notify, ...] = ()
    kind: str = "file"

    @property
    def id(self) -> str:
        return f"{self.kind}[{self.path}]"

    def _current(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return ""

    def content_differs(self) -> bool:
        return self._current() != self.content

    def check(self) -> list[str] | None:
        current = self._current()
        if current is None:
            return [f"create new file {self.path}", *self._diff("")]
        changes = []
        if current != self.content:
            changes += ["update content", *self._diff(current)]
        return changes + _ownership_changes(self.path, self.owner, self.group, self.mode,
                                            self.path.lstat()) or None

    def _diff(self, current: str) -> list[str]:
        if self.sensitive:
            return ["(suppressed: sensitive content)"]
        lines = [line.rstrip("\n") for line in difflib.unified_diff(
            current.splitlines(keepends=True), self.content.splitlines(keepends=True),
            fromfile=str(self.path), tofile=f"{self.path} (new)", n=1)]
        if len(lines) > MAX_DIFF_LINES:
            hidden = len(lines) - MAX_DIFF_LINES
            lines = [*lines[:MAX_DIFF_LINES], f"(diff cut: {hidden} more lines)"]
        return lines

    def apply(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._current() == self.content:  # only ownership or mode changed
            _set_ownership(self.path, self.owner, self.group, self.mode)
            return
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(self.content)
            # ownership and mode before the rename: the file never shows with the wrong ones
            _set_ownership(Path(temporary), self.owner, self.group, self.mode)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class KeptFile:
    """A file created empty when missing, whose content is then its users' (authorized_keys:
    GitLab writes the keys); only owner and mode are kept in line."""

    path: Path
    owner: str | None = "root"
    group: str | None = None
    mode: int | None = 0o644
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"file[{self.path}]"

    def check(self) -> list[str] | None:
        try:
            stat = self.path.lstat()
        except FileNotFoundError:
            return [f"create new empty file {self.path}"]
        return _ownership_changes(self.path, self.owner, self.group, self.mode, stat) or None

    def apply(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL-free create: an existing file (made since check) keeps its content
        handle = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(handle)
        _set_ownership(self.path, self.owner, self.group, self.mode)


@dataclass(frozen=True)
class Link:
    path: Path
    target: Path
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"link[{self.path}]"

    def check(self) -> list[str] | None:
        if self.path.is_symlink():
            current = os.readlink(self.path)
            if current == str(self.target):
                return None
            return [f"change link from {current} to {self.target}"]
        if self.path.exists():
            raise ResourceError(self.id, "exists and is not a symbolic link",
                                hint="move it out of the way and re-run reconfigure")
        return [f"create symlink to {self.target}"]

    def apply(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.new")
        temporary.unlink(missing_ok=True)
        os.symlink(self.target, temporary)
        os.replace(temporary, self.path)


@dataclass(frozen=True)
class Absent:
    """A file or link that must not exist (a setting turned off what wrote it)."""

    path: Path
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"file[{self.path}]"

    def check(self) -> list[str] | None:
        if not (self.path.is_symlink() or self.path.exists()):
            return None
        if self.path.is_dir() and not self.path.is_symlink():
            raise ResourceError(self.id, "is a directory, not a file",
                                hint="move it out of the way and re-run reconfigure")
        return [f"delete {self.path}"]

    def apply(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Command:
    """A command that runs only when its guard says the work is not done yet. The guard
    returns True when it is done; a guard that cannot tell (say, the database is down)
    raises `Skip` with the reason, which fails the run (see `converge`)."""

    name: str
    argv: Sequence[str]
    guard: Callable[[], bool] | None = None
    env: dict[str, str] | None = None
    cwd: Path | None = None
    notifies: tuple[Notify, ...] = ()

    @property
    def id(self) -> str:
        return f"execute[{self.name}]"

    def check(self) -> list[str] | None:
        if self.guard is not None and self.guard():
            return None
        return [f"run {' '.join(self.argv)}"]

    def apply(self) -> None:
        run_command(self.id, list(self.argv), env=self.env, cwd=self.cwd)


@dataclass(frozen=True)
class Step:
    """A piece of work with its own check, for what the kinds above do not express (enabling
    a runit service, waiting for a server). `check` returns None or lines; `apply` gets the
    run, so it can record started services and notes."""

    id: str
    check_step: Callable[[Run], list[str] | None]
    apply_step: Callable[[Run], None]
    notifies: tuple[Notify, ...] = ()

    def check(self, run: Run | None = None) -> list[str] | None:
        return self.check_step(run if run is not None else Run())

    def apply(self, run: Run | None = None) -> None:
        self.apply_step(run if run is not None else Run())


class Skip(Exception):
    """Raised by a check that cannot decide now (the database does not answer). A real run
    fails there with the reason: a resource left unchecked is not converged. A dry run,
    which starts nothing, reports it as work it cannot judge yet and goes on."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.hint = hint


def converge(resources: Sequence, run: Run) -> None:
    """Bring every resource in line, in order; stop at the first failure."""
    for resource in resources:
        try:
            change = resource.check(run) if isinstance(resource, Step) else resource.check()
        except Skip as reason:
            if not run.dry_run:
                raise ResourceError(resource.id, f"cannot be checked: {reason}",
                                    hint=reason.hint) from reason
            change = [f"(cannot be checked now: {reason})"]
        except OSError as error:
            raise ResourceError(resource.id, f"cannot be checked ({error})") from error
        if change is None:
            continue
        run.changed.append(resource.id)
        run.report(f"* {resource.id}")
        for line in change:
            run.report(f"    {line}")
        if not run.dry_run:
            started = time.monotonic()
            try:
                resource.apply(run) if isinstance(resource, Step) else resource.apply()
            except OSError as error:
                raise ResourceError(resource.id, str(error)) from error
            run.durations.append((resource.id, time.monotonic() - started))
        for action, service in resource.notifies:
            run.notify(action, service)
