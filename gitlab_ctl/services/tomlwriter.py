"""A small TOML writer for the configuration Gitaly reads (omnibus-gitlab dumps
gitaly['configuration'] the same way): tables, arrays of tables, strings, integers, floats,
booleans and arrays of those. None values are left out, as omnibus-gitlab strips nils."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitlab_ctl.errors import GitlabCtlError

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


class TomlError(GitlabCtlError, ValueError):
    """A value TOML cannot hold (None inside an array, a date, an object)."""

    def __init__(self, message: str) -> None:
        super().__init__("", message, hint="write strings, numbers, true/false, arrays and "
                         "hashes of those")


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _key(key: Any) -> str:
    text = str(key)
    return text if _BARE_KEY.match(text) else _string(text)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):  # a table inside an array: an inline table
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()
                               if v is not None) + "}"
    raise TomlError(f"cannot write {type(value).__name__} {value!r} as TOML")


def _is_table_array(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and bool(value)
            and all(isinstance(item, Mapping) for item in value))


def _table(lines: list[str], path: list[str], table: Mapping[str, Any], header: str) -> None:
    scalars = {k: v for k, v in table.items() if v is not None and not isinstance(v, Mapping)
               and not _is_table_array(v)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    if header and (scalars or not (tables or arrays) or header.startswith("[[")):
        if lines:
            lines.append("")
        lines.append(header)
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for key, sub in tables.items():
        sub_path = [*path, _key(key)]
        _table(lines, sub_path, sub, f"[{'.'.join(sub_path)}]")
    for key, items in arrays.items():
        sub_path = [*path, _key(key)]
        for item in items:
            _table(lines, sub_path, item, f"[[{'.'.join(sub_path)}]]")


def dumps(data: Mapping[str, Any]) -> str:
    """`data` as a TOML document: a table's plain keys first, then its tables, then its
    arrays of tables."""
    lines: list[str] = []
    _table(lines, [], data, "")
    return "\n".join(lines) + "\n" if lines else ""
