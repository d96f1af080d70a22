"""The values gitlab.rb makes: plain data (strings, integers, floats, true/false/nil, arrays,
hashes with string keys), what `+ - * /` and `#{...}` make of them, and the budget every
value made is counted against, so that no input grows past the limits."""

from __future__ import annotations

import datetime
import math
import operator
from typing import Any

from gitlab_ctl.config.gitlabrb_limits import (
    CONTAINER_COST,
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_NUMBER_DIGITS,
    MAX_STRING_CHARS,
    GitlabRbError,
    expanded_too_much,
    string_too_long,
    too_deep,
    too_many_digits,
)

_LARGEST = 10 ** MAX_NUMBER_DIGITS
_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_PLAIN_HINT = "write strings, numbers, true/false/nil, lists and mappings"


class Budget:
    """What is left of MAX_EXPANDED for one parse."""

    def __init__(self, limit: int = MAX_EXPANDED) -> None:
        self.left = limit

    def charge(self, units: int, line: int) -> None:
        self.left -= units
        if self.left < 0:
            raise expanded_too_much(line)


def plain(value: Any, budget: Budget, line: int, depth: int = 0) -> Any:
    """A copy of `value` as plain data, counted against `budget`. A reference or a YAML alias
    is a copy, as omnibus-gitlab's Mash copies a hash assigned to it: no two settings share a
    value, so `x['a']['b'] = ...` changes x['a'] only (and cannot make a cycle)."""
    if depth > MAX_DEPTH:
        raise too_deep(line)
    if isinstance(value, dict):
        budget.charge(CONTAINER_COST, line)
        return {key_text(key, budget, line): plain(item, budget, line, depth + 1)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        budget.charge(CONTAINER_COST, line)
        return [plain(item, budget, line, depth + 1) for item in value]
    return scalar(value, budget, line)


def scalar(value: Any, budget: Budget, line: int) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise string_too_long(line)
        budget.charge(len(value) + 1, line)
        return value
    if isinstance(value, datetime.date):  # YAML timestamps: the text, as to_json gives
        return scalar(value.isoformat(), budget, line)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _LARGEST:
        raise too_many_digits(line)
    if value is None or isinstance(value, bool | int | float):
        budget.charge(1, line)
        return value
    raise GitlabRbError(line, f"a value of type {type(value).__name__} (e.g. YAML !!binary "
                        "or !!set) is not supported", hint=_PLAIN_HINT)


def key_text(key: Any, budget: Budget, line: int) -> str:
    """Hash keys are strings here (YAML may give numbers, true or dates)."""
    text = key if isinstance(key, str) else ruby_text(scalar(key, budget, line), line)
    return scalar(text, budget, line)


def check_depth(value: Any, room: int, line: int) -> None:
    """Refuse `value` if it nests more than `room` levels."""
    if isinstance(value, dict | list):
        if room <= 0:
            raise too_deep(line)
        for item in value.values() if isinstance(value, dict) else value:
            check_depth(item, room - 1, line)


def ruby_text(value: Any, line: int) -> str:
    """`value` as Ruby's to_s writes it, for `#{...}`."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _ruby_float(value)
    if isinstance(value, int):
        return str(value)
    raise GitlabRbError(line, "#{...} of an array or a hash is not supported",
                        hint="interpolate one of its values, as in #{gitlab_rails['a']['b']}")


def _ruby_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    mantissa, _, exponent = repr(value).partition("e")  # the same switch-over as Ruby's
    mantissa = mantissa if "." in mantissa else mantissa + ".0"
    return mantissa + ("e" + exponent if exponent else "")


def arithmetic(symbol: str, line: int, left: Any, right: Any, budget: Budget) -> Any:
    """`+ - * /` as Ruby does them on numbers, and `+` on strings."""
    if symbol == "+" and isinstance(left, str) and isinstance(right, str):
        size = len(left) + len(right)
        if size > MAX_STRING_CHARS:
            raise string_too_long(line)
        budget.charge(size + 1, line)
        return left + right
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
        raise GitlabRbError(line, f"'{symbol}' needs two numbers",
                            hint="gitlab.rb can add strings, and do + - * / on numbers")
    if symbol == "/" and right == 0:
        raise GitlabRbError(line, "division by zero", hint="divide by another number")
    if symbol == "/" and isinstance(left, int) and isinstance(right, int):
        result = left // right  # Ruby's integer division
    else:
        result = _OPERATORS[symbol](left, right)
    return scalar(result, budget, line)
