"""Typed errors. The library raises them; only the CLI prints them and picks the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where in a definition file something was found: file, 1-based line, dotted key."""

    file: Path
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        text = str(self.file)
        if self.line is not None:
            text += f":{self.line}"
        if self.key:
            text += f": key '{self.key}'"
        return text


class BuilderError(Exception):
    """Base of every error the engine raises on purpose.

    `hint` says what to do next; `exit_code` lets the CLI tell error kinds apart.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class DefinitionError(BuilderError):
    """A software, project or platform definition is malformed."""

    exit_code = 2

    def __init__(self, location: Location, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{location}: {problem}", hint)
        self.location = location
        self.problem = problem


class DependencyCycleError(DefinitionError):
    """Definitions depend on each other in a circle."""

    def __init__(self, location: Location, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            location,
            f"dependency cycle: {' -> '.join(cycle)}",
            hint="remove one of these dependencies; builds need an order with no circle",
        )


class UnknownNameError(BuilderError):
    """A name given on the command line matches no definition."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        choices = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        super().__init__(
            f"no {kind} named '{name}'",
            hint=f"known {kind}s: {choices}" if known else f"the root has no {kind} definitions",
        )
        self.kind = kind
        self.name = name


class UsageError(BuilderError):
    """A command-line request that cannot be carried out as given."""

    exit_code = 2


class FetchError(BuilderError):
    """A source could not be fetched from any mirror."""


class ChecksumMismatch(FetchError):
    """Bytes arrived, but not the bytes the definition pins."""

    def __init__(self, software: str, what: str, algorithm: str, expected: str,
                 actual: str) -> None:
        super().__init__(
            f"{software}: checksum mismatch for {what}\n"
            f"  expected {algorithm}: {expected}\n"
            f"  actual   {algorithm}: {actual}",
            hint="the download was discarded. If the definition's version or URL changed on "
            "purpose, update its checksum; otherwise the mirror served different bytes "
            "(tampered or corrupt) and must not be trusted",
        )
        self.expected = expected
        self.actual = actual


class UnsafeArchiveError(BuilderError):
    """An archive member would land outside the extraction directory, or is a device."""

    def __init__(self, archive: str, member: str, problem: str) -> None:
        super().__init__(
            f"refusing to extract {archive}: member '{member}' {problem}",
            hint="nothing was extracted; the archive is malformed or hostile, check its source",
        )
        self.archive = archive
        self.member = member


class PatchError(BuilderError):
    """A patch from a definition does not apply."""

    def __init__(self, software: str, patch: str, details: str) -> None:
        super().__init__(
            f"{software}: patch {patch} does not apply\n{details}",
            hint=f"refresh software/patches/{software}/{patch} against the new source",
        )
        self.software = software
        self.patch = patch
