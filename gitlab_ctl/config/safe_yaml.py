"""YAML read within the gitlab.rb parser's limits, for `YAML.load <<-'EOS'` in gitlab.rb and
for a .yml config file. Nesting is checked on the parser's events, before PyYAML's recursive
composer sees the document; what aliases and `<<` merges expand to is counted on the composed
document (each node once), before anything is constructed: a YAML "billion laughs" is refused
without being expanded."""

from __future__ import annotations

from typing import Any

import yaml

from gitlab_ctl.config.gitlabrb_limits import (
    CONTAINER_COST,
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_NUMBER_DIGITS,
    MAX_STRING_CHARS,
    MIB,
    excerpt,
)
from gitlab_ctl.errors import GitlabCtlError

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_TAG = "tag:yaml.org,2002:int"
_HINT = "write the settings as plain YAML: mappings, lists, strings and numbers"


class YamlError(GitlabCtlError):
    """YAML refused; `line` counts from 1 at the document's first line."""

    exit_code = 2

    def __init__(self, line: int, message: str, hint: str = _HINT) -> None:
        super().__init__(f"line {line}", message, hint)
        self.line = line


def load(text: str) -> tuple[Any, yaml.Node | None]:
    """The document's data (aliases still shared: copy it with gitlabrb_values.plain), and
    its composed node, for the line each key is on."""
    _check_nesting(text)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _expanded(node, {}, set(), 0)
        return loader.construct_document(node), node
    except yaml.YAMLError as error:
        raise _syntax(error) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as error:
        # an explicit tag the value does not fit, e.g. `!!int abc`; PyYAML has no mark here
        raise YamlError(1, f"a value does not fit its YAML tag ({excerpt(str(error), 80)})"
                        ) from None
    finally:
        loader.dispose()


def key_lines(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    """The line of each key of a mapping, and of each key of the mappings in it: (key,) and
    (key, sub-key), as gitlab.rb's locations are kept."""
    lines: dict[tuple[str, ...], int] = {}
    for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
        lines[(str(key.value),)] = key.start_mark.line + 1
        for sub_key, _value in value.value if isinstance(value, yaml.MappingNode) else ():
            lines[(str(key.value), str(sub_key.value))] = sub_key.start_mark.line + 1
    return lines


def _check_nesting(text: str) -> None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    assert event.start_mark is not None  # the parser marks every event
                    raise YamlError(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} "
                                    "levels deep", hint="no setting needs this: check the "
                                    "indentation and brackets")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as error:
        raise _syntax(error) from None


def _expanded(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], depth: int) -> int:
    """What `node` weighs once every alias in it is expanded (as gitlabrb_values.plain
    counts), each node counted once; refused past MAX_EXPANDED, MAX_DEPTH or a cycle."""
    if id(node) in sizes:
        return sizes[id(node)]
    line = node.start_mark.line + 1
    if id(node) in open_nodes or depth > MAX_DEPTH:
        raise YamlError(line, "an alias inside what it names, or aliases nested more than "
                        f"{MAX_DEPTH} levels deep")
    if isinstance(node, yaml.ScalarNode):
        size = _scalar_size(node, line)
    else:
        open_nodes.add(id(node))
        children = ([n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode) else node.value)
        size = CONTAINER_COST + sum(_expanded(child, sizes, open_nodes, depth + 1)
                                    for child in children)
        open_nodes.discard(id(node))
    if size > MAX_EXPANDED:
        raise YamlError(line, f"the YAML expands to more than {MAX_EXPANDED // MIB} MiB "
                        "(aliases copy what they name)", hint="write the values themselves "
                        "rather than aliases of aliases")
    sizes[id(node)] = size
    return size


def _scalar_size(node: yaml.ScalarNode, line: int) -> int:
    if len(node.value) > MAX_STRING_CHARS:
        raise YamlError(line, f"a string longer than {MAX_STRING_CHARS // MIB} MiB",
                        hint="keep large content in a file and set its path instead")
    if node.tag == _INT_TAG and len(node.value) > MAX_NUMBER_DIGITS + 2:  # sign, 0x
        raise YamlError(line, f"a number of more than {MAX_NUMBER_DIGITS} digits",
                        hint="no setting takes a number this large")
    return len(node.value) + 1


def _syntax(error: yaml.YAMLError) -> YamlError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    return YamlError(mark.line + 1 if mark else 1, f"not valid YAML: {excerpt(text, 200)}")
