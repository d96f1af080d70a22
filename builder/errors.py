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
