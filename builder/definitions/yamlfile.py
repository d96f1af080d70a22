"""YAML reading that remembers where every key came from and refuses duplicate keys.

Mappings load as `YamlMap` and sequences as `YamlList`; both carry the 1-based line of
themselves and of each key or item, so later validation can point at the exact line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from builder.errors import DefinitionError, Location

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlMap(dict):
    """A dict that knows the line of the mapping and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class YamlList(list):
    """A list that knows the line of the sequence and of each of its items."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    file: Path


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    result = YamlMap()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise DefinitionError(
                Location(loader.file, line), f"mapping key {key!r} must be a string"
            )
        if key in result:
            raise DefinitionError(
                Location(loader.file, line, key),
                f"duplicate key (first given on line {result.key_lines[key]})",
                hint="give each key once; YAML keeps only the last one silently",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    result = YamlList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml_file(path: Path) -> YamlMap:
    """Load one definition file; its top level must be a mapping."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise DefinitionError(Location(path), f"cannot read: {error.strerror}") from error
    loader = _LineLoader(text)
    loader.file = path
    try:
        data: Any = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = error.problem or error.context or "invalid YAML"
        raise DefinitionError(Location(path, line), f"invalid YAML: {problem}") from error
    except yaml.YAMLError as error:
        raise DefinitionError(Location(path), f"invalid YAML: {error}") from error
    finally:
        loader.dispose()
    if not isinstance(data, YamlMap):
        raise DefinitionError(
            Location(path, 1), "the file must hold a mapping of keys to values at its top level"
        )
    return data
