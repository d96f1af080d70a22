"""SPDX license expressions: validation and normalisation through license-expression."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_CUSTOM_PREFIXES = ("LicenseRef-", "DocumentRef-")


@dataclass
class LicenseChecker:
    """Validates SPDX expressions; builds the SPDX symbol table only on first use.

    The table costs tens of milliseconds to build, so one checker serves a whole load and
    remembers each expression it has seen.
    """

    _licensing: Any = None
    _seen: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def normalise(self, expression: str) -> tuple[str | None, str]:
        """Return (normalised expression, "") or (None, the reason it is invalid)."""
        if expression not in self._seen:
            self._seen[expression] = self._validate(expression)
        return self._seen[expression]

    def _validate(self, expression: str) -> tuple[str | None, str]:
        if self._licensing is None:
            from license_expression import get_spdx_licensing

            self._licensing = get_spdx_licensing()
        try:
            info = self._licensing.validate(expression, strict=True)
        except Exception:  # some syntax faults escape validate(); parse() names them
            return None, self._syntax_problem(expression)
        unknown = [s for s in info.invalid_symbols if not s.startswith(_CUSTOM_PREFIXES)]
        if info.errors and (unknown or not info.invalid_symbols):
            return None, "; ".join(info.errors)
        if info.errors:  # only LicenseRef-/DocumentRef- symbols, which SPDX allows
            return str(self._licensing.parse(expression)), ""
        return info.normalized_expression, ""

    def _syntax_problem(self, expression: str) -> str:
        try:
            self._licensing.parse(expression, strict=True)
        except Exception as error:
            return str(error)
        return "not a valid SPDX expression"
