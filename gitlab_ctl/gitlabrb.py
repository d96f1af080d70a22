"""Read /etc/gitlab/gitlab.rb without running Ruby: a parser for the safe subset it uses.

Accepted, as in omnibus-gitlab's template: `x['a']['b'] = value`; call forms such as
`external_url 'http://...'` and `roles ['a_role']`; strings in single or double quotes, with
`#{...}` interpolation of `node['fqdn']`/`node['hostname']` and of settings already made;
integers (with `_`), floats, true/false/nil, arrays, `%w()`/`%w[]`, hashes with `=>` or
symbol keys (`key: v`, `'key': v`), symbols, `+ - * /` on numbers, parentheses, multi-line
values, comments, and `YAML.load <<-'EOS'` heredocs. Nothing is ever evaluated: anything
else (method calls, backticks, `system`, `File.read`, ...) is refused with its line number.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class GitlabRbError(Exception):
    """A line of gitlab.rb this parser refuses; `hint` says what to write instead."""

    def __init__(self, line: int, message: str, hint: str = "") -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
        self.hint = hint


_TOKEN = re.compile(r"""
    (?P<space>[ \t]+|\\\n)
  | (?P<comment>\#[^\n]*)
  | (?P<newline>\n)
  | (?P<heredoc><<[-~]?(?P<hq>['"]?)(?P<htag>[A-Z_]+)(?P=hq))
  | (?P<words>%w(?P<wopen>[(\[{])(?P<wbody>[^)\]}]*)[)\]}])
  | (?P<float>\d[\d_]*\.\d[\d_]*)
  | (?P<int>0[xX][0-9a-fA-F_]+|0[bBoOdD][0-9_]+|\d[\d_]*)
  | (?P<sq>'(?:[^'\\]|\\.)*')
  | (?P<dq>"(?:[^"\\]|\\.)*")
  | (?P<label>[A-Za-z_][A-Za-z0-9_]*:(?!:))
  | (?P<symbol>:[A-Za-z_][A-Za-z0-9_]*[?!]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*[?!]?)
  | (?P<op>=>|==|[-+*/=\[\](){},.:`$@;!|&<>%^~?])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position, line = 0, 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise GitlabRbError(line, f"unexpected character {text[position]!r}")
        kind = match.lastgroup  # always the outer group: it closes after its inner ones
        if kind == "heredoc":
            tokens.append(Token(kind, match.group("htag"), line))
            position, line = _heredoc_body(text, match.end(), match.group("htag"), line, tokens)
            continue
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, match.group(0), line))
        line += match.group(0).count("\n")
        position = match.end()
    tokens.append(Token("newline", "\n", line))
    return tokens


def _heredoc_body(text: str, position: int, tag: str, line: int,
                  tokens: list[Token]) -> tuple[int, int]:
    """The heredoc's body starts after the rest of its line and ends at a line `tag`."""
    rest_end = text.find("\n", position)
    rest = text[position:rest_end if rest_end >= 0 else len(text)].strip()
    if rest and not rest.startswith("#"):
        raise GitlabRbError(line, "nothing may follow a heredoc on its line")
    body: list[str] = []
    cursor, current = rest_end + 1, line + 1
    while rest_end >= 0 and cursor <= len(text):
        end = text.find("\n", cursor)
        end = len(text) if end < 0 else end
        content = text[cursor:end]
        if content.strip() == tag:
            tokens.append(Token("heredoc_body", "\n".join(body) + "\n", line))
            tokens.append(Token("newline", "\n", current))
            return end + 1, current + 1
        body.append(content)
        cursor, current = end + 1, current + 1
    raise GitlabRbError(line, f"heredoc <<{tag} is never closed", hint=f"end it with a line {tag}")


def _unescape_single(body: str) -> str:
    return re.sub(r"\\([\\'])", r"\1", body)


_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "0": "\0", "e": "\x1b", "\\": "\\", '"': '"',
            "#": "#", "'": "'"}

#: Settings written as calls (`external_url 'http://...'`) rather than `x['k'] = v`.
CALL_SETTINGS = frozenset({
    "external_url", "registry_external_url", "pages_external_url", "gitlab_kas_external_url",
    "mattermost_external_url", "runtime_dir", "git_data_dir", "roles",
})
ROLES = ("application", "sidekiq", "postgres", "patroni", "redis_sentinel", "redis_master",
         "redis_replica", "geo_primary", "geo_secondary", "monitoring", "pgbouncer", "consul",
         "pages", "gitaly", "backup")
#: Every top-level name omnibus-gitlab accepts (runtime-side.md, gitlab.rb format).
HASH_SETTINGS = frozenset({
    "gitlab_rails", "gitlab_shell", "gitlab_sshd", "gitlab_workhorse", "gitaly_client",
    "logging", "puma", "unicorn", "sidekiq", "mailroom", "storage_check", "git_data_dirs",
    "actioncable", "bootstrap", "manage_accounts", "manage_storage_directories", "user",
    "gitlab_ci", "remote_syslog", "web_server", "prometheus_monitoring", "gitlab_backup_cli",
    "geo_postgresql", "geo_secondary", "geo_logcursor", "sentinel", "package", "registry",
    "oak", "redis", "postgresql", "gitlab_kas", "gitlab_pages", "pgbouncer", "repmgr",
    "repmgrd", "consul", "spamcheck", "patroni", "gitaly", "praefect", "mattermost",
    "letsencrypt", "crond", "logrotate", "high_availability", "nginx", "mattermost_nginx",
    "pages_nginx", "registry_nginx", "gitlab_kas_nginx", "prometheus", "alertmanager",
    "node_exporter", "redis_exporter", "postgres_exporter", "pgbouncer_exporter",
    "gitlab_exporter", *(f"{role}_role" for role in ROLES),
})
KNOWN_SETTINGS = CALL_SETTINGS | HASH_SETTINGS
_REFUSED = {"`": "shell commands (backticks)", "$": "global variables", "@": "instance variables",
            ".": "method calls", "{": "blocks"}


class _Parser:
    def __init__(self, tokens: list[Token], settings: dict[str, Any],
                 facts: Mapping[str, Any]) -> None:
        self.tokens, self.index = tokens, 0
        self.settings, self.facts = settings, facts
        self.lines: dict[tuple[str, ...], int] = {}  # (name, *keys) -> line it was set on

    # -- tokens ------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def skip_newlines(self) -> None:
        while self.index < len(self.tokens) - 1 and self.peek().kind == "newline":
            self.index += 1

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text != text:
            raise self.refuse(token, f"expected '{text}'")
        return token

    def refuse(self, token: Token, expected: str = "") -> GitlabRbError:
        what = "the end of the file" if self.index >= len(self.tokens) else repr(token.text)
        if token.text in _REFUSED:
            return GitlabRbError(token.line, f"{_REFUSED[token.text]} are not allowed in "
                                 "gitlab.rb", hint="write the value itself: gitlab-ctl never "
                                 "runs code from gitlab.rb")
        detail = f"{expected}, found {what}" if expected else f"unexpected {what}"
        return GitlabRbError(token.line, detail)

    # -- statements --------------------------------------------------------------------
    def parse(self) -> None:
        while True:
            self.skip_newlines()
            if self.index >= len(self.tokens) - 1:
                return
            self.statement()
            end = self.take()
            if end.kind != "newline" and end.text != ";":
                raise self.refuse(end, "expected the end of the line")

    def statement(self) -> None:
        token = self.take()
        if token.kind != "name":
            raise self.refuse(token, "expected a setting")
        name = token.text
        if name not in KNOWN_SETTINGS:
            raise _unknown(token, name)
        if name in HASH_SETTINGS and self.peek().text == "[":
            keys = self.subscripts()
            self.expect("=")
            self.skip_newlines()
            _assign(self.settings, name, keys, self.expression(), token.line)
            self.lines[(name, *map(str, keys))] = token.line
        elif name in CALL_SETTINGS:  # `roles ['a']` is a call with an array, never a key
            parenthesised = self.peek().text == "("
            if parenthesised:
                self.take()
            self.settings[name] = self.expression()
            self.lines[(name,)] = token.line
            if parenthesised:
                self.expect(")")
        else:
            raise GitlabRbError(token.line, f"'{name}' is set as {name}['key'] = value",
                                hint=f"e.g. {name}['enable'] = true")

    def subscripts(self) -> list[Any]:
        keys = []
        while self.peek().text == "[":
            self.take()
            key = self.expression()
            if not isinstance(key, str | int):
                raise GitlabRbError(self.peek().line, "a key must be a string or a number")
            keys.append(str(key))
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
        while self.peek().text in operators:
            operator = self.take()
            self.skip_newlines()
            value = _arithmetic(operator, value, operand())
        return value

    def unary(self) -> Any:
        if self.peek().text == "-":
            token = self.take()
            return _arithmetic(token, 0, self.unary())
        return self.primary()

    def primary(self) -> Any:
        token = self.take()
        literal = _literal(token)
        if literal is not _NOT_LITERAL:
            return literal
        if token.kind == "dq":
            return self.interpolate(token)
        if token.text == "[":
            return self.sequence("]", self.expression)
        if token.text == "{":
            return dict(self.sequence("}", self.pair))
        if token.text == "(":
            value = self.expression()
            self.expect(")")
            return value
        if token.kind == "name":
            return self.reference(token)
        raise self.refuse(token, "expected a value")

    def sequence(self, close: str, item) -> list[Any]:
        items = []
        while True:
            self.skip_newlines()
            if self.peek().text == close:
                self.take()
                return items
            items.append(item())
            self.skip_newlines()
            if self.peek().text == ",":
                self.take()
            elif self.peek().text != close:
                raise self.refuse(self.take(), f"expected ',' or '{close}'")

    def pair(self) -> tuple[str, Any]:
        token = self.take()
        if token.kind == "label":
            key = token.text[:-1]
        elif token.kind in ("sq", "dq", "symbol", "int") and self.peek().text in ("=>", ":"):
            key = str(_literal(token)) if token.kind != "dq" else self.interpolate(token)
            self.take()
        else:
            raise self.refuse(token, "expected a hash key ('key' => value or key: value)")
        self.skip_newlines()
        return key, self.expression()

    def reference(self, token: Token) -> Any:
        name = token.text
        if name == "YAML" and self.peek().text == ".":
            return self.yaml_heredoc(token)
        if self.peek().text != "[":
            if self.peek().text in (".", "("):
                raise GitlabRbError(token.line, f"method calls are not allowed in gitlab.rb: "
                                    f"'{name}{self.peek().text}...'", hint="write the value "
                                    "itself: gitlab-ctl never runs code from gitlab.rb")
            raise _unknown(token, name) if name not in KNOWN_SETTINGS else GitlabRbError(
                token.line, f"'{name}' can only be read as {name}['key']")
        keys = self.subscripts()
        if name == "node":
            return _lookup(self.facts, keys)
        if name == "Gitlab":
            return _lookup(self.settings, keys)
        if name not in KNOWN_SETTINGS:
            raise _unknown(token, name)
        return _lookup(self.settings.get(name, {}), keys)

    def yaml_heredoc(self, token: Token) -> Any:
        import yaml

        self.expect(".")
        if self.take().text != "load" or self.peek().kind != "heredoc":
            raise GitlabRbError(token.line, "only YAML.load <<-'EOS' ... EOS is allowed")
        self.take()
        body = self.take()
        try:
            return yaml.safe_load(body.text)
        except yaml.YAMLError as error:
            raise GitlabRbError(token.line, f"the YAML heredoc does not parse: {error}") from error

    def interpolate(self, token: Token) -> str:
        body = token.text[1:-1]
        parts, position = [], 0
        for match in re.finditer(r"#\{([^}]*)\}|\\(.)", body):
            parts.append(body[position:match.start()])
            if match.group(1) is not None:
                inner = _Parser(tokenize(match.group(1)), self.settings, self.facts)
                inner.tokens = [Token(t.kind, t.text, token.line) for t in inner.tokens]
                value = inner.expression()
                parts.append("" if value is None else _ruby_text(value))
            else:
                parts.append(_ESCAPES.get(match.group(2), "\\" + match.group(2)))
            position = match.end()
        parts.append(body[position:])
        return "".join(parts)


_NOT_LITERAL = object()


def _literal(token: Token) -> Any:
    if token.kind == "int":
        return _integer(token)
    if token.kind == "float":
        return float(token.text.replace("_", ""))
    if token.kind == "sq":
        return _unescape_single(token.text[1:-1])
    if token.kind == "symbol":
        return token.text[1:]
    if token.kind == "words":
        return token.text[3:-1].split()
    if token.kind == "name" and token.text in ("true", "false", "nil"):
        return {"true": True, "false": False, "nil": None}[token.text]
    return _NOT_LITERAL


def _integer(token: Token) -> int:
    """Ruby's integer literals: 0x, 0b, 0o/0d prefixes, and a leading 0 meaning octal
    (`0644`, as file modes are written)."""
    text = token.text.replace("_", "").lower()
    bases = {"0x": 16, "0b": 2, "0o": 8, "0d": 10}
    base = bases.get(text[:2], 8 if len(text) > 1 and text[0] == "0" else 10)
    digits = text[2:] if text[:2] in bases else text
    try:
        return int(digits, base)
    except ValueError:
        raise GitlabRbError(token.line, f"'{token.text}' is not a valid number",
                            hint="a leading 0 makes an octal number (digits 0-7), as in "
                            "Ruby") from None


def _ruby_text(value: Any) -> str:
    if value is True or value is False:
        return str(value).lower()
    return str(value)


_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


def _arithmetic(operator: Token, left: Any, right: Any) -> Any:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if operator.text == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if not numbers:
        raise GitlabRbError(operator.line, f"'{operator.text}' needs two numbers")
    if operator.text == "/" and right == 0:
        raise GitlabRbError(operator.line, "division by zero")
    if operator.text == "/" and isinstance(left, int) and isinstance(right, int):
        return left // right  # Ruby's integer division
    return _OPERATORS[operator.text](left, right)


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
            path = name + "".join(f"['{k}']" for k in keys[:depth + 1])
            raise GitlabRbError(line, f"{path} is a value, not a hash, so it has no sub-keys")
        node = child
    node[keys[-1]] = value


def _unknown(token: Token, name: str) -> GitlabRbError:
    return unknown_setting(token.line, name)


def unknown_setting(line: int, name: str) -> GitlabRbError:
    close = difflib.get_close_matches(name, sorted(KNOWN_SETTINGS), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "see /opt/gitlab/etc/gitlab.rb.template"
    return GitlabRbError(line, f"unknown setting '{name}' (omnibus: Reading unsupported "
                         f"config value {name})", hint=hint)


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
    parser = _Parser(tokenize(text), settings, dict(facts or {}))
    parser.parse()
    return parser.lines


def setting_names() -> Iterable[str]:
    return sorted(KNOWN_SETTINGS)
