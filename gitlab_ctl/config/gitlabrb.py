"""Read /etc/gitlab/gitlab.rb without running Ruby: a parser for the safe subset it uses.

Accepted, as in omnibus-gitlab's template: `x['a']['b'] = value`; call forms such as
`external_url 'http://...'` and `roles ['a_role']`; strings in single or double quotes, with
Ruby's escapes and `#{...}` of a plain reference (`node['fqdn']`, `node['hostname']`,
`node['package']['install-dir']`, settings already made), adjacent strings ("a" 'b');
heredocs (<<EOS, <<-EOS, <<~EOS, several on a line); %w %i %W %I %q %Q %() with any
delimiter; integers (with `_`), floats, true/false/nil, arrays (ending, as in Ruby, with
`'k' => v` pairs that make a hash), hashes with `=>` or symbol keys (`key: v`, `'key': v`),
symbols, `+ - * /` on numbers, parentheses, multi-line values, comments, `YAML.load` of a
heredoc, git_data_dirs(...) (see git_data_dirs.py), a byte-order mark and CRLF lines. Nothing is
ever evaluated: anything else (method calls, backticks, `system`, `File.read`, ...) is
refused with its line number, and so is anything past the limits of gitlabrb_limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gitlab_ctl.config import git_data_dirs
from gitlab_ctl.config.gitlabrb_lexer import (
    SHELL_HINT,
    Interpolation,
    Token,
    not_plain_reference,
    tokens,
)
from gitlab_ctl.config.gitlabrb_limits import (
    CONTAINER_COST,
    MAX_DEPTH,
    MAX_STRING_CHARS,
    GitlabRbError,
    check_source,
    excerpt,
    string_too_long,
    too_deep,
)
from gitlab_ctl.config.gitlabrb_node import default_facts, node_value
from gitlab_ctl.config.gitlabrb_values import (
    Budget,
    arithmetic,
    check_depth,
    plain,
    ruby_text,
    scalar,
)
from gitlab_ctl.config.setting_names import (
    CALL_SETTINGS,
    HASH_SETTINGS,
    KNOWN_SETTINGS,
    ROLES,
    setting_names,
    unknown_setting,
)

__all__ = ["CALL_SETTINGS", "HASH_SETTINGS", "KNOWN_SETTINGS", "ROLES", "GitlabRbError",
           "parse_gitlab_rb", "parse_gitlab_rb_into", "parse_gitlab_rb_lines", "setting_names",
           "unknown_setting"]

_REFUSED = {"`": "shell commands (backticks)", "$": "global variables", "@": "instance variables",
            ".": "method calls", "{": "blocks"}
_KEYWORDS = {"true": True, "false": False, "nil": None}
_LITERALS = ("int", "float", "symbol", "words")
_STRINGS = ("sq", "dq")  # adjacent ones make one string, as in Ruby
_KEY_TOKENS = ("sq", "dq", "symbol", "int")
_READERS = ("node", "Gitlab")  # node[...] answers facts, Gitlab[...] any setting


class _Stream:
    """Tokens with lookahead, and the last two taken (to tell a run-on string)."""

    def __init__(self, source: Iterable[Token]) -> None:
        self.source: Iterator[Token] = iter(source)
        self.ahead: list[Token] = []
        self.taken: list[Token] = []

    def peek(self, offset: int = 0) -> Token:
        if offset < len(self.ahead):
            return self.ahead[offset]
        while len(self.ahead) <= offset:
            token = next(self.source, None)
            self.ahead.append(token if token is not None else self.ahead[-1])  # 'end' stays
        return self.ahead[offset]

    def take(self) -> Token:
        token = self.peek()
        if token.kind != "end":
            self.ahead.pop(0)
        self.taken = [*self.taken[-1:], token]
        return token

    def before(self, token: Token) -> Token | None:
        """The token taken before `token` (the last one taken if `token` is still ahead)."""
        if self.taken and self.taken[-1] is token:
            return self.taken[0] if len(self.taken) == 2 else None
        return self.taken[-1] if self.taken else None


def _is(token: Token, text: str) -> bool:
    return token.kind == "op" and token.text == text


class _Parser:
    def __init__(self, stream: _Stream, settings: dict[str, Any], facts: Mapping[str, Any],
                 budget: Budget) -> None:
        self.stream, self.settings, self.facts, self.budget = stream, settings, facts, budget
        self.lines: dict[tuple[str, ...], int] = {}  # (name, *keys) -> line it was set on
        self.depth = 0

    # -- tokens ------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> Token:
        return self.stream.peek(offset)

    def take(self) -> Token:
        return self.stream.take()

    def skip_newlines(self) -> None:
        while self.peek().kind == "newline":
            self.take()

    def expect(self, text: str) -> Token:
        token = self.take()
        if not _is(token, text):
            raise self.refuse(token, f"expected '{text}'")
        return token

    @contextlib.contextmanager
    def nested(self, line: int) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise too_deep(line)
        try:
            yield
        finally:
            self.depth -= 1

    def refuse(self, token: Token, expected: str = "") -> GitlabRbError:
        run_on = _run_on(self.stream.before(token), token)
        if run_on is not None:
            return run_on
        if token.kind == "op" and token.text in _REFUSED:
            return GitlabRbError(token.line, f"{_REFUSED[token.text]} are not allowed in "
                                 "gitlab.rb", hint=SHELL_HINT)
        what = "the end of the file" if token.kind == "end" else repr(excerpt(token.text))
        detail = f"{expected}, found {what}" if expected else f"unexpected {what}"
        return GitlabRbError(token.line, detail, hint="see /opt/gitlab/etc/gitlab.rb.template "
                             "for how settings are written")

    # -- statements --------------------------------------------------------------------
    def parse(self) -> None:
        while True:
            self.skip_newlines()
            if self.peek().kind == "end":
                return
            self.statement()
            end = self.take()
            if end.kind not in ("newline", "end") and not _is(end, ";"):
                raise self.refuse(end, "expected the end of the line")

    def statement(self) -> None:
        token = self.take()
        if token.kind != "name":
            raise self.refuse(token, "expected a setting")
        name = token.text
        if name not in KNOWN_SETTINGS:
            raise unknown_setting(token.line, name)
        if name in HASH_SETTINGS and _is(self.peek(), "["):
            keys = self.subscripts()
            self.expect("=")
            self.skip_newlines()
            value = self.expression()
            check_depth(value, MAX_DEPTH - len(keys), token.line)
            _assign(self.settings, name, keys, value, token.line)
            self.lines[(name, *keys)] = token.line
        elif name in CALL_SETTINGS or name == git_data_dirs.NAME:
            value = self.call_argument()  # `roles ['a']` is a call with an array, not a key
            check_depth(value, MAX_DEPTH, token.line)
            if name == git_data_dirs.NAME:
                git_data_dirs.check(value, token.line)
            self.settings[name] = value
            self.lines[(name,)] = token.line
        else:
            raise GitlabRbError(token.line, f"'{name}' is set as {name}['key'] = value",
                                hint=f"e.g. {name}['enable'] = true")

    def call_argument(self) -> Any:
        """`name value` or `name(value)`; a hash's braces may be left out, as in Ruby:
        `git_data_dirs "default" => { "path" => "/data" }`."""
        parenthesised = _is(self.peek(), "(")
        if parenthesised:
            self.take()
            self.skip_newlines()
        if self.pair_ahead():
            self.budget.charge(CONTAINER_COST, self.peek().line)
            value: Any = {}
            while True:
                key, value[key] = self.pair()
                if not _is(self.peek(), ","):
                    break
                self.take()
                self.skip_newlines()
        else:
            value = self.expression()
        if parenthesised:
            self.skip_newlines()
            self.expect(")")
        return value

    def subscripts(self) -> list[str]:
        keys: list[str] = []
        while _is(self.peek(), "["):
            bracket = self.take()
            with self.nested(bracket.line):
                key = self.expression()
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise GitlabRbError(bracket.line, "a key must be a string or a number",
                                    hint="e.g. gitlab_rails['time_zone']")
            keys.append(str(key))
            if len(keys) > MAX_DEPTH:
                raise too_deep(bracket.line)
            self.expect("]")
        return keys

    # -- expressions -------------------------------------------------------------------
    def expression(self) -> Any:
        return self.binary(("+", "-"), self.term)

    def term(self) -> Any:
        return self.binary(("*", "/"), self.unary)

    def binary(self, operators: tuple[str, ...], operand) -> Any:
        """`operand (op operand)*`, left to right; a line may end after an operator."""
        value = operand()
        while self.peek().kind == "op" and self.peek().text in operators:
            operator = self.take()
            self.skip_newlines()
            value = arithmetic(operator.text, operator.line, value, operand(), self.budget)
        return value

    def unary(self) -> Any:
        if _is(self.peek(), "-"):
            token = self.take()
            with self.nested(token.line):
                return arithmetic("-", token.line, 0, self.unary(), self.budget)
        return self.primary()

    def primary(self) -> Any:
        token = self.take()
        if token.kind in _LITERALS or (token.kind == "name" and token.text in _KEYWORDS):
            value = _KEYWORDS[token.text] if token.kind == "name" else token.value
            return plain(value, self.budget, token.line)
        if token.kind in _STRINGS:
            return self.strings(token)
        if token.kind == "heredoc":
            return self.text_of(token.value, token.line)
        if token.kind == "dwords":
            return [self.text_of(word, token.line) for word in token.value]
        if token.kind == "op" and token.text in ("[", "{", "("):
            with self.nested(token.line):
                return self.bracketed(token)
        if token.kind == "name":
            return self.reference(token)
        raise self.refuse(token, "expected a value")

    def bracketed(self, token: Token) -> Any:
        if token.text == "(":
            value = self.expression()
            self.expect(")")
            return value
        self.budget.charge(CONTAINER_COST, token.line)
        if token.text == "[":
            return self.array()
        return dict(self.pair() for _ in self.elements("}"))

    def elements(self, close: str) -> Iterator[None]:
        """Once per element of a bracketed list: newlines anywhere, a trailing comma."""
        while True:
            self.skip_newlines()
            if _is(self.peek(), close):
                self.take()
                return
            yield
            self.skip_newlines()
            if _is(self.peek(), ","):
                self.take()
            elif not _is(self.peek(), close):
                raise self.refuse(self.take(), f"expected ',' or '{close}'")

    def array(self) -> list[Any]:
        items: list[Any] = []
        pairs: dict[str, Any] | None = None  # Ruby's [1, 'a' => 2] is [1, {'a' => 2}]
        for _ in self.elements("]"):
            if pairs is None and not self.pair_ahead():
                items.append(self.expression())
                continue
            if pairs is None:
                self.budget.charge(CONTAINER_COST, self.peek().line)
                pairs = {}
                items.append(pairs)
            key, value = self.pair()
            pairs[key] = value
        return items

    def pair_ahead(self) -> bool:
        token, after = self.peek(), self.peek(1)
        return token.kind == "label" or (token.kind in _KEY_TOKENS and after.kind == "op"
                                         and after.text in ("=>", ":"))

    def pair(self) -> tuple[str, Any]:
        if not self.pair_ahead():
            raise self.refuse(self.take(), "expected a hash key ('key' => value or key: value)")
        token = self.take()
        if token.kind == "label":
            key = token.text[:-1]
        else:
            key = self.interpolate(token) if token.kind == "dq" else str(token.value)
            self.take()
        scalar(key, self.budget, token.line)
        self.skip_newlines()
        return key, self.expression()

    # -- references, YAML and interpolation -------------------------------------------------
    def reference(self, token: Token) -> Any:
        name = token.text
        if name == "YAML" and _is(self.peek(), "."):
            return self.yaml_heredoc(token)
        if not _is(self.peek(), "["):
            raise _bare_name(token, self.peek())
        if name not in KNOWN_SETTINGS and name not in _READERS:
            raise unknown_setting(token.line, name)
        return self.lookup(name, self.subscripts(), token.line)

    def lookup(self, name: str, keys: list[str], line: int) -> Any:
        """A copy of what `name[keys...]` holds (nil if nothing), counted as new values."""
        if name == "node":
            found = node_value(self.facts, keys, line, _section_defaults)
        else:
            source = self.settings if name == "Gitlab" else self.settings.get(name, {})
            found = _lookup(source, keys)
        return plain(found, self.budget, line)

    def yaml_heredoc(self, token: Token) -> Any:
        from gitlab_ctl.config import safe_yaml  # PyYAML only for the files that use YAML

        self.expect(".")
        if self.take().text != "load" or self.peek().kind != "heredoc":
            raise GitlabRbError(token.line, "only YAML.load <<-'EOS' ... EOS is allowed",
                                hint="write the YAML in a heredoc: YAML.load <<-'EOS'")
        body = self.take()
        try:
            data, _node = safe_yaml.load(self.text_of(body.value, body.line))
        except safe_yaml.YamlError as error:
            raise GitlabRbError(body.line + error.line, f"in the YAML heredoc: {error.message}",
                                error.hint) from error
        return plain(data, self.budget, body.line)

    def strings(self, token: Token) -> str:
        """A string literal, and those right after it: "a" 'b' is "ab" in Ruby."""
        text = self.text_of(token.value, token.line)
        while self.peek().kind in _STRINGS:
            following = self.take()
            text = arithmetic("+", following.line, text,
                              self.text_of(following.value, following.line), self.budget)
        return text

    def text_of(self, value: str | tuple[Any, ...], line: int) -> str:
        """A string's text: as written ('...'), or its parts interpolated ("...")."""
        if isinstance(value, str):
            return plain(value, self.budget, line)
        return self.interpolate(Token("dq", "", line, value))

    def interpolate(self, token: Token) -> str:
        pieces, size = [], 0
        for part in token.value:
            text = part if isinstance(part, str) else ruby_text(self.plain_reference(part),
                                                                part.line)
            size += len(text)
            if size > MAX_STRING_CHARS:
                raise string_too_long(token.line)
            pieces.append(text)
        text = "".join(pieces)
        self.budget.charge(len(text) + 1, token.line)
        return text

    def plain_reference(self, part: Interpolation) -> Any:
        """`#{name['key']...}` only: a reference that reads, never code that runs."""
        inner = _Parser(_Stream([*part.tokens, Token("end", "", part.line)]), self.settings,
                        self.facts, self.budget)
        name = inner.take()
        if name.kind != "name" or (name.text not in HASH_SETTINGS and name.text not in _READERS):
            raise not_plain_reference(part.line)
        keys = []
        while _is(inner.peek(), "["):
            inner.take()
            key = inner.take()
            if key.kind not in _KEY_TOKENS or not _is(inner.take(), "]") or (
                    key.kind == "dq" and not all(isinstance(p, str) for p in key.value)):
                raise not_plain_reference(part.line)
            keys.append("".join(key.value) if key.kind == "dq" else str(key.value))
        if not keys or inner.peek().kind != "end":
            raise not_plain_reference(part.line)
        return inner.lookup(name.text, keys, part.line)


def _run_on(prior: Token | None, token: Token) -> GitlabRbError | None:
    """A string or %w list spanning lines, then an error on the line it ends on: most likely
    its closing quote or bracket is missing, and it swallowed what came next."""
    if (prior is None or prior.kind not in ("sq", "dq", "words", "dwords")
            or prior.end_line <= prior.line or token.line != prior.end_line):
        return None
    if prior.text.startswith("%"):
        start = prior.text[:3] if prior.text[1:2].isalpha() else prior.text[:2]
        what = "string" if prior.kind in ("sq", "dq") else "word list"
        closer = {"(": ")", "[": "]", "{": "}", "<": ">"}.get(start[-1], start[-1])
        return GitlabRbError(prior.line, f"unterminated {what} {start}: it runs on to line "
                             f"{prior.end_line}", hint=f"close it with {closer}")
    quote = prior.text[0]
    return GitlabRbError(prior.line, f"unterminated string: it runs on to line "
                         f"{prior.end_line}", hint=f"close it with {quote} (a quote inside it "
                         f"is written \\{quote})")


def _bare_name(token: Token, after: Token) -> GitlabRbError:
    """A name in a value, not followed by [...]: never a setting Ruby would read."""
    name = excerpt(token.text)
    if after.kind == "op" and after.text in (".", "("):
        return GitlabRbError(token.line, f"method calls are not allowed in gitlab.rb: "
                             f"'{name}{after.text}...'", hint=SHELL_HINT)
    if token.text in HASH_SETTINGS:
        return GitlabRbError(token.line, f"'{name}' can only be read as {name}['key']",
                             hint=f"e.g. {name}['enable']")
    if token.text in CALL_SETTINGS:
        return GitlabRbError(token.line, f"'{name}' can be set, not read, in gitlab.rb",
                             hint="write the value itself")
    return GitlabRbError(token.line, f"unknown value '{name}'", hint=f"a string is written "
                         f"in quotes: '{name}'; the values without quotes are numbers, true, "
                         "false and nil")


def _section_defaults() -> Mapping[str, Any]:
    from gitlab_ctl.config.schema import load_schema  # only for node['gitlab'][...]

    return load_schema().defaults()


def _lookup(mapping: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _assign(settings: dict[str, Any], name: str, keys: list[str], value: Any,
            line: int) -> None:
    node = settings.setdefault(name, {})
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            path = name + "".join(f"['{excerpt(k)}']" for k in keys[:depth + 1])
            raise GitlabRbError(line, f"{path} is a value, not a hash, so it has no sub-keys",
                                hint=f"set {path} = {{}} first, or remove its other value")
        node = child
    node[keys[-1]] = value


def parse_gitlab_rb(text: str, facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings gitlab.rb makes, as plain data. `facts` answers `node['...']`."""
    return parse_gitlab_rb_lines(text, facts)[0]


def parse_gitlab_rb_lines(text: str, facts: Mapping[str, Any] | None = None
                          ) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """The settings, and the line each (name, *keys) was last set on, for error messages."""
    settings: dict[str, Any] = {}
    return settings, parse_gitlab_rb_into(text, settings, facts)


def parse_gitlab_rb_into(text: str, settings: dict[str, Any],
                         facts: Mapping[str, Any] | None = None) -> dict[tuple[str, ...], int]:
    """Apply `text` on top of `settings` (as Ruby would run it after what made them); the
    line each (name, *keys) was set on. On an error `settings` may be half-applied."""
    check_source(text)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")  # as Ruby reads CRLF lines
    parser = _Parser(_Stream(tokens(text)), settings,
                     default_facts() if facts is None else facts, Budget())
    parser.parse()
    return parser.lines
