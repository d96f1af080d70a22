"""gitlab.rb's tokens, scanned once from left to right. Every regular expression here is a
single character class or a bounded repetition (nothing the engine backtracks over or
stacks per character), so a 4 MB line costs linear time and no memory beyond its tokens.
String escapes mean what they mean in Ruby; `#{...}` is kept as the tokens inside it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from gitlab_ctl.config.gitlabrb_heredoc import HEREDOC, Bodies, continued_past
from gitlab_ctl.config.gitlabrb_limits import (
    MAX_DEPTH,
    MAX_NUMBER_DIGITS,
    MAX_STRING_CHARS,
    GitlabRbError,
    excerpt,
    string_too_long,
    too_deep,
    too_many_digits,
)
from gitlab_ctl.config.gitlabrb_strings import (
    Parts,
    escape,
    raw_words,
    single_quoted,
    unterminated,
    word_list_end,
    words,
)


class Token(NamedTuple):  # a tuple: a 4 MB file can hold millions of tokens
    """`text` is as written (shortened for long literals); `value` is a literal's value, a
    double-quoted string's tuple of text and Interpolation parts (one per word for dwords),
    or a heredoc's body (either)."""
    kind: str  # name label symbol int float sq dq words dwords heredoc op newline end
    text: str
    line: int
    value: Any = None
    end_line: int = 0  # where a literal spanning lines ends


@dataclass(frozen=True, slots=True)
class Interpolation:
    tokens: tuple[Token, ...]
    line: int


_SPACE = re.compile(r"[ \t\r\f\v]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[?!]?")
_NUMBER = re.compile(r"0[xXbBoOdD][0-9A-Za-z_]*|[0-9][0-9_]*(?:\.[0-9][0-9_]*)?"
                     r"(?:[eE][-+]?[0-9][0-9_]*)?")
_SQ_RUN = re.compile(r"[^'\\]+")
_DQ_RUN = re.compile(r'[^"\\#]+')
_PERCENT = re.compile(r"%([A-Za-z]?)([^A-Za-z0-9\s])")
_BODY_RUN = re.compile(r"[^\\#]+")
_VARIABLE = {"@": re.compile(r"[A-Za-z_@]"), "$": re.compile(r"[A-Za-z_0-9]")}
_OPERATORS = frozenset("-+*/=[](){},.:`$@;!|&<>%^~?")
_CLOSERS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_BASES = {"0x": 16, "0b": 2, "0o": 8, "0d": 10}
#: `name` + `[key]` per level: the longest a plain reference inside `#{...}` can be.
MAX_INTERPOLATION_TOKENS = 1 + 3 * MAX_DEPTH
#: %-literals read: word lists (%W and %I expand escapes and #{...} in each word), strings.
_PERCENT_KINDS = {"w": "words", "i": "words", "W": "dwords", "I": "dwords", "q": "sq",
                  "Q": "dq", "": "dq"}
#: %-literals refused by name.
_PERCENT_REFUSED = {
    "x": "shell commands (%x) are not allowed in gitlab.rb",
    "r": "regular expressions (%r) are not supported", "s": "%s symbols are not supported",
}
SHELL_HINT = "write the value itself: gitlab-ctl never runs code from gitlab.rb"


def not_plain_reference(line: int) -> GitlabRbError:
    return GitlabRbError(line, "#{...} supports only a plain reference, such as "
                         "#{node['fqdn']} or #{gitlab_rails['key']}", hint=SHELL_HINT)


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text`, then one 'end' token."""
    scanner = _Scanner(text)
    while True:
        token = scanner.next_token()
        yield token
        if token.kind == "end":
            return


class _Scanner:
    def __init__(self, text: str, line: int = 1) -> None:
        self.text, self.pos, self.line = text, 0, line
        self.bodies = Bodies()  # heredocs opened on the current line

    def next_token(self, depth: int = 0) -> Token:
        self._skip_blanks()
        if self.pos >= len(self.text):
            return Token("end", "", self.line)
        char = self.text[self.pos]
        if char == "\n":
            if self.bodies.pending:  # past the bodies of the heredocs this line opened
                self.pos, self.line = self.bodies.finish_line()
            return self._newlines()
        if "0" <= char <= "9":
            return self._number()
        if char == "_" or "a" <= char <= "z" or "A" <= char <= "Z":
            return self._word()
        scan = {"'": self._single, '"': self._double, "%": self._percent, "<": self._angle,
                ":": self._colon}.get(char, self._operator)
        return scan(depth)

    def _skip_blanks(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t\r\f\v":
                space = _SPACE.match(text, self.pos)
                assert space is not None  # `char` is a blank
                self.pos = space.end()
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith(("\\\n", "\\\r\n"), self.pos):  # a line continued
                if self.bodies.pending:
                    raise continued_past(self.line)
                self.pos = text.index("\n", self.pos) + 1
                self.line += 1
            else:
                return

    def _newlines(self) -> Token:
        """One token for a line's end and the blank or comment lines after it."""
        token = Token("newline", "\n", self.line)
        while self.pos < len(self.text) and self.text[self.pos] == "\n":
            self.pos, self.line = self.pos + 1, self.line + 1
            self._skip_blanks()
        return token

    def _advance(self, end: int) -> None:
        newlines = self.text.count("\n", self.pos, end)
        if newlines and self.bodies.pending:
            raise continued_past(self.line)
        self.line += newlines
        self.pos = end

    def _literal(self, kind: str, start: int, end: int, value: Any) -> Token:
        line = self.line
        self._advance(end)
        return Token(kind, excerpt(self.text[start:min(end, start + 41)]), line, value,
                     self.line)

    # -- names, numbers, operators --------------------------------------------------
    def _word(self) -> Token:
        match = _NAME.match(self.text, self.pos)
        assert match is not None  # next_token saw a letter or _ here
        end = match.end()
        name, self.pos = self.text[self.pos:end], end
        if (self.text.startswith(":", end) and not self.text.startswith("::", end)
                and name[-1] not in "?!"):
            self.pos += 1
            return Token("label", name + ":", self.line)
        return Token("name", name, self.line)

    def _colon(self, depth: int) -> Token:
        match = _NAME.match(self.text, self.pos + 1)
        if match is None:
            return self._operator(depth)
        self.pos = match.end()
        return Token("symbol", ":" + match.group(), self.line, match.group())

    def _number(self) -> Token:
        match = _NUMBER.match(self.text, self.pos)
        assert match is not None  # next_token saw a digit here
        text = match.group()
        if len(text) - text.count("_") > MAX_NUMBER_DIGITS:
            raise too_many_digits(self.line)
        self.pos = match.end()
        if text[:2].lower() not in _BASES and any(c in text for c in ".eE"):
            return Token("float", text, self.line, float(text.replace("_", "")))
        return Token("int", text, self.line, _integer(text, self.line))

    def _operator(self, depth: int) -> Token:
        pair = self.text[self.pos:self.pos + 2]
        text = pair if pair in ("=>", "==") else self.text[self.pos]
        if text not in _OPERATORS and len(text) == 1:
            raise GitlabRbError(self.line, f"unexpected character {text!r}",
                                hint="outside quotes gitlab.rb is Ruby code: quote text, "
                                "as in 'text'")
        self.pos += len(text)
        return Token("op", text, self.line)

    # -- strings ------------------------------------------------------------------
    def _single(self, depth: int) -> Token:
        """'...': only \\\\ and \\' are escapes, as in Ruby."""
        text, start, pieces = self.text, self.pos, []
        pos = start + 1
        while True:
            run = _SQ_RUN.match(text, pos)
            if run:
                pieces.append(run.group())
                pos = run.end()
            if pos >= len(text):
                raise unterminated(self.line, "'")
            if text[pos] == "'":
                break
            escaped = text[pos + 1:pos + 2]
            kept = escaped in ("\\", "'")
            pieces.append(escaped if kept else "\\")
            pos += 2 if kept else 1
        value = "".join(pieces)
        if len(value) > MAX_STRING_CHARS:
            raise string_too_long(self.line)
        return self._literal("sq", start, pos + 1, value)

    def _double(self, depth: int) -> Token:
        """"...": Ruby's escapes, and `#{...}` kept as the tokens inside it."""
        start, line = self.pos, self.line
        self.pos += 1
        parts = self._quoted(_DQ_RUN, '"', depth)
        self.pos += 1
        return Token("dq", excerpt(self.text[start:min(self.pos, start + 41)]), line,
                     parts, self.line)

    def _quoted(self, runs: re.Pattern[str], stop: str, depth: int) -> tuple[Any, ...]:
        """Text with Ruby's escapes and `#{...}`, up to `stop` ("" for the end of the text)."""
        if depth > MAX_DEPTH:
            raise too_deep(self.line)
        line = self.line
        parts = Parts(line)
        while True:
            run = runs.match(self.text, self.pos)
            if run:
                parts.text(run.group())
                self._advance(run.end())
            if self.pos >= len(self.text):
                if not stop:
                    return parts.finish()
                raise unterminated(line, stop)
            char = self.text[self.pos]
            if char == stop:
                return parts.finish()
            if char == "\\":
                self.pos, newline = escape(self.text, self.pos, parts, self.line)
                self.line += newline
            else:
                self._hash(parts, depth)

    def _hash(self, parts: Parts, depth: int) -> None:
        """`#` in a double-quoted string: `#{...}`, `#@var`, `#$var` or itself."""
        after = self.text[self.pos + 1:self.pos + 2]
        if after == "{":
            self.pos += 2
            parts.code(self._interpolation(parts.line, depth))
        elif after in _VARIABLE and _VARIABLE[after].match(self.text, self.pos + 2):
            raise GitlabRbError(self.line, f"'#{after}' inside double quotes interpolates a "
                                "variable in Ruby", hint=f"write \\#{after} for the "
                                "characters themselves")
        else:
            parts.text("#")
            self.pos += 1

    def _interpolation(self, line: int, depth: int) -> Interpolation:
        inside: list[Token] = []
        braces = 0
        while True:
            token = self.next_token(depth + 1)
            if token.kind == "end":
                raise unterminated(line, '"')
            if token.kind == "op" and token.text == "}":
                if braces == 0:
                    return Interpolation(tuple(inside), line)
                braces -= 1
            elif token.kind == "op" and token.text == "{":
                braces += 1
            inside.append(token)
            if len(inside) > MAX_INTERPOLATION_TOKENS:
                raise not_plain_reference(line)

    # -- %w, %q, %Q, ... and heredocs ---------------------------------------------------
    def _percent(self, depth: int) -> Token:
        match = _PERCENT.match(self.text, self.pos)
        if match is None:
            return self._operator(depth)
        kind, opener = match.groups()
        if kind not in _PERCENT_KINDS:
            what = _PERCENT_REFUSED.get(kind, f"%{kind} literals are not supported")
            raise GitlabRbError(self.line, f"{what}: %{kind}{opener}...",
                                hint=SHELL_HINT if kind == "x" else
                                "write a string as 'text' and a list as ['a', 'b']")
        closer = _CLOSERS.get(opener, opener)
        end = word_list_end(self.text, match.end(), opener, closer)
        token_kind = _PERCENT_KINDS[kind]
        if end is None:
            what = "string" if token_kind in ("sq", "dq") else "word list"
            raise GitlabRbError(self.line, f"unterminated {what} %{kind}{opener}",
                                hint=f"close it with {closer}")
        body = self.text[match.end():end]
        value: Any
        if token_kind == "words":
            value = words(body, opener + closer)
        elif token_kind == "sq":
            value = single_quoted(body, opener + closer)
        elif token_kind == "dq":
            value = self._expand(body, self.line, depth)
        else:
            value = tuple(self._expand(word, self.line, depth) for word in raw_words(body))
        if any(len(word) > MAX_STRING_CHARS for word in (value if kind in ("w", "i")
                                                         else [value]) if isinstance(word, str)):
            raise string_too_long(self.line)
        return self._literal(token_kind, self.pos, end + 1, value)

    def _expand(self, body: str, line: int, depth: int) -> tuple[Any, ...]:
        """`body` as a double-quoted string's parts: escapes, and `#{...}` as tokens."""
        return _Scanner(body, line)._quoted(_BODY_RUN, "", depth + 1)

    def _angle(self, depth: int) -> Token:
        match = HEREDOC.match(self.text, self.pos) if depth == 0 else None
        if match is None:
            return self._operator(depth)
        heredoc = self.bodies.read(self.text, match, self.line)
        self.pos = match.end()
        value = heredoc.body if heredoc.raw else self._expand(heredoc.body,
                                                              heredoc.body_line, depth)
        return Token("heredoc", match.group(), self.line, value, self.line)


def _integer(text: str, line: int) -> int:
    """Ruby's integer literals: 0x, 0b, 0o/0d prefixes, and a leading 0 meaning octal
    (`0644`, as file modes are written)."""
    text = text.replace("_", "").lower()
    base = _BASES.get(text[:2], 8 if len(text) > 1 and text[0] == "0" else 10)
    digits = text[2:] if text[:2] in _BASES else text
    try:
        return int(digits, base)
    except ValueError:
        raise GitlabRbError(line, f"'{excerpt(text)}' is not a valid number",
                            hint="a leading 0 makes an octal number (digits 0-7), as in "
                            "Ruby") from None
