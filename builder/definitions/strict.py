"""Strict, line-aware reading of one YAML mapping against the keys a format allows.

A `Section` wraps a mapping read by `yamlfile` and hands out typed values. Every problem is a
`DefinitionError` naming the file, the line and the dotted key, so a user can go straight to it.
"""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, overload

from builder.definitions.yamlfile import YamlList, YamlMap
from builder.errors import DefinitionError, Location

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


def _type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, YamlMap | dict):
        return "a mapping"
    if isinstance(value, YamlList | list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


class Section:
    """One mapping of a definition file, with the keys it may contain."""

    def __init__(self, file: Path, data: YamlMap, path: str = "") -> None:
        self.file = file
        self.data = data
        self.path = path

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def location(self, key: str | None = None) -> Location:
        if key is None:
            return Location(self.file, self.data.line or None, self.path or None)
        line = self.data.key_lines.get(key, self.data.line or None)
        return Location(self.file, line, self.key_path(key))

    def error(self, key: str | None, problem: str, hint: str | None = None) -> DefinitionError:
        return DefinitionError(self.location(key), problem, hint)

    def allow(self, allowed: set[str] | frozenset[str]) -> None:
        """Refuse any key not in `allowed`, suggesting the closest allowed spelling."""
        for key in self.data:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            choices = ", ".join(sorted(allowed))
            hint = f"{hint + ' ' if hint else ''}allowed keys here: {choices}"
            raise self.error(key, "unknown key", hint)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data:
            if required:
                raise DefinitionError(
                    self.location(), f"missing required key '{self.key_path(key)}'",
                    hint=f"add '{key}:' to this mapping",
                )
            return None
        return self.data[key]

    def _check(self, key: str, value: Any, expected: type) -> Any:
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if not ok:
            hint = "quote it to make it a string" if expected is str and value is not None else None
            raise self.error(
                key, f"must be {_TYPE_NAMES[expected]}, got {_type_name(value)}", hint
            )
        return value

    def str(self, key: builtins.str, required: builtins.bool = False,
            default: builtins.str | None = None) -> Any:
        value = self._get(key, required)
        if value is None and key not in self.data:
            return default
        value = self._check(key, value, builtins.str)
        if not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def int(self, key: builtins.str, default: builtins.int | None = None) -> Any:
        value = self._get(key, False)
        if value is None and key not in self.data:
            return default
        return self._check(key, value, builtins.int)

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self._get(key, False)
        if value is None and key not in self.data:
            return default
        return self._check(key, value, builtins.bool)

    def items(self, key: builtins.str) -> Iterator[tuple[Any, Location]]:
        """Yield each item of a list value with the location of that item."""
        value = self._get(key, False)
        if value is None and key not in self.data:
            return
        self._check(key, value, list)
        for index, item in enumerate(value):
            key_path = f"{self.key_path(key)}[{index}]"
            yield item, Location(self.file, value.item_lines[index], key_path)

    def str_list(self, key: builtins.str) -> tuple[builtins.str, ...]:
        result = []
        for item, location in self.items(key):
            if not isinstance(item, builtins.str) or not item.strip():
                problem = f"must be a non-empty string, got {_type_name(item)}"
                raise DefinitionError(location, problem)
            result.append(item)
        return tuple(result)

    @overload
    def section(self, key: builtins.str, required: Literal[True]) -> Section: ...

    @overload
    def section(self, key: builtins.str, required: builtins.bool = False) -> Section | None: ...

    def section(self, key: builtins.str, required: builtins.bool = False) -> Section | None:
        value = self._get(key, required)
        if value is None and key not in self.data:
            return None
        if not isinstance(value, YamlMap):
            raise self.error(key, f"must be a mapping, got {_type_name(value)}")
        return Section(self.file, value, self.key_path(key))

    def str_map(self, key: builtins.str) -> dict[builtins.str, builtins.str]:
        """A mapping of names to scalar values; numbers are accepted and kept as text."""
        sub = self.section(key)
        if sub is None:
            return {}
        result = {}
        for name, value in sub.data.items():
            if isinstance(value, builtins.bool) or \
                    not isinstance(value, builtins.str | builtins.int | float):
                raise sub.error(name, f"must be a string, got {_type_name(value)}")
            result[name] = str(value)
        return result


def section_of(item: Any, location: Location) -> Section:
    """Wrap a list item that must itself be a mapping."""
    if not isinstance(item, YamlMap):
        raise DefinitionError(location, f"must be a mapping, got {_type_name(item)}")
    return Section(location.file, item, location.key or "")
