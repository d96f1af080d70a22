"""SPDX license expressions: validation and normalisation through license-expression.

license-expression's ready-made SPDX `Licensing` indexes all ~2,600 known keys, which costs
about 100 ms, most of a `plan`. A definitions root names a few dozen, so the checker reads the
library's vendored key index once and builds a `Licensing` of only the keys an expression
names. Unknown keys, syntax and normalisation are still decided by license-expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_CUSTOM_PREFIXES = ("licenseref-", "documentref-")
_KEYWORDS = frozenset({"and", "or", "with"})
_TOKEN_SPLIT = re.compile(r"[\s()]+")


@dataclass
class LicenseChecker:
    """Validates SPDX expressions, remembering each one it has seen."""

    _index: dict[str, dict[str, Any]] | None = None
    _seen: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def normalise(self, expression: str) -> tuple[str | None, str]:
        """Return (normalised expression, "") or (None, the reason it is invalid)."""
        if expression not in self._seen:
            self._seen[expression] = self._validate(expression)
        return self._seen[expression]

    def _entries(self) -> dict[str, dict[str, Any]]:
        """Index entries by every lower-cased spelling SPDX accepts for them."""
        if self._index is None:
            from license_expression import get_license_index

            self._index = {}
            for entry in get_license_index():
                for key in [entry.get("spdx_license_key"), *entry["other_spdx_license_keys"]]:
                    if key:
                        self._index[key.lower()] = entry
        return self._index

    def parse(self, expression: str) -> Any:
        """The parsed expression tree (license-expression's objects) of a valid expression."""
        parsed, reason = self._parse(expression)
        if parsed is None:
            raise ValueError(f"'{expression}': {reason}")
        return parsed

    def _validate(self, expression: str) -> tuple[str | None, str]:
        parsed, reason = self._parse(expression)
        return (None, reason) if parsed is None else (str(parsed), "")

    def _parse(self, expression: str) -> tuple[Any, str]:
        """(parsed tree, "") or (None, the reason it is invalid), over a `Licensing` of only
        the keys the expression names."""
        from license_expression import build_spdx_licensing

        tokens = [t for t in _TOKEN_SPLIT.split(expression) if t]
        symbols = [t for t in tokens if t.lower() not in _KEYWORDS]
        index = self._entries()
        unknown = [s for s in symbols if s.lower() not in index
                   and not s.lower().startswith(_CUSTOM_PREFIXES)]
        if unknown:
            return None, f"Unknown license key(s): {', '.join(unknown)}"
        entries = {id(index[s.lower()]): index[s.lower()] for s in symbols if s.lower() in index}
        licensing = build_spdx_licensing(list(entries.values()))
        try:
            parsed = licensing.parse(expression, strict=True)
        except Exception as error:  # license-expression raises several unrelated types
            return None, str(error) or "not a valid SPDX expression"
        if parsed is None:
            return None, "empty expression"
        return parsed, ""
