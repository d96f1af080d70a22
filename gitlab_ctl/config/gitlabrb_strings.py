"""Double-quoted strings of gitlab.rb as Ruby reads them: its backslash escapes, and the
pieces of text and `#{...}` a string is made of."""

from __future__ import annotations

import functools
import re
from typing import Any

from gitlab_ctl.config.gitlabrb_limits import MAX_STRING_CHARS, GitlabRbError, string_too_long

#: Escapes that stand for one character; any other escaped character is itself, as in Ruby
#: ("\q" is "q"). A backslash before a newline continues the string on the next line.
SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "r": "\r", "e": "\x1b", "a": "\a",
                  "b": "\b", "f": "\f", "v": "\v", "\n": ""}
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,2}")
_UNICODE = re.compile(r"[0-9A-Fa-f]{4}")
_UNICODE_LIST = re.compile(r"\{([0-9A-Fa-f \t]{0,256})\}")
_ESCAPE_HINT = "write the character itself, or \\u{...} with its code point"


def unterminated(line: int, quote: str) -> GitlabRbError:
    return GitlabRbError(line, "unterminated string", hint=f"close it with {quote} (a quote "
                         "inside it is written \\" + quote + ")")


class Parts:
    """A double-quoted string being read: text, bytes from \\x and octal escapes (which make
    UTF-8 together, as in Ruby), and the `#{...}` between them."""

    def __init__(self, line: int) -> None:
        self.line, self.size = line, 0
        self.parts: list[Any] = []
        self.pieces: list[str] = []
        self.bytes = bytearray()

    def text(self, piece: str) -> None:
        self._decode_bytes()
        self._add(piece)

    def byte(self, value: int) -> None:
        self.bytes.append(value)

    def code(self, interpolation: Any) -> None:
        self._flush()
        self.parts.append(interpolation)

    def finish(self) -> tuple[Any, ...]:
        self._flush()
        return tuple(self.parts)

    def _add(self, piece: str) -> None:
        self.size += len(piece)
        if self.size > MAX_STRING_CHARS:
            raise string_too_long(self.line)
        self.pieces.append(piece)

    def _decode_bytes(self) -> None:
        if not self.bytes:
            return
        try:
            piece = self.bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise GitlabRbError(self.line, "\\x or octal escapes that are not UTF-8 (e.g. "
                                "\\xE9 alone)", hint=_ESCAPE_HINT) from None
        self.bytes.clear()
        self._add(piece)

    def _flush(self) -> None:
        self._decode_bytes()
        if self.pieces:
            self.parts.append("".join(self.pieces))
            self.pieces = []


def escape(text: str, pos: int, parts: Parts, line: int) -> tuple[int, int]:
    """Read the escape at `text[pos]` (a backslash) into `parts`: where reading goes on, and
    how many newlines it took (1 for a continued line)."""
    char = text[pos + 1:pos + 2]
    if char in SIMPLE_ESCAPES and char:
        parts.text(SIMPLE_ESCAPES[char])
        return pos + 2, int(char == "\n")
    if char and char in "01234567":
        match = _OCTAL.match(text, pos + 1)
        assert match is not None  # `char` is an octal digit
        parts.byte(int(match.group(), 8) & 0xFF)
        return match.end(), 0
    if char == "x":
        match = _HEX.match(text, pos + 2)
        if match is None:
            raise GitlabRbError(line, "invalid hex escape \\x", hint="\\x takes one or two "
                                "hex digits, as in \\x41")
        parts.byte(int(match.group(), 16))
        return match.end(), 0
    if char == "u":
        return _unicode(text, pos + 2, parts, line), 0
    if char in ("c", "C", "M"):
        raise GitlabRbError(line, f"the control and meta escape \\{char} is not supported",
                            hint=_ESCAPE_HINT)
    parts.text(char)
    return pos + 2, 0


def _unicode(text: str, pos: int, parts: Parts, line: int) -> int:
    """\\uXXXX or \\u{X XX XXXXXX}: code points, as in Ruby."""
    listed = _UNICODE_LIST.match(text, pos)
    if listed:
        points, end = listed.group(1).split(), listed.end()
    else:
        single = _UNICODE.match(text, pos)
        points, end = ([single.group()], single.end()) if single else ([], pos)
    if not points or any(len(point) > 6 for point in points):
        raise GitlabRbError(line, "invalid Unicode escape", hint="write \\u and four hex "
                            "digits, as in \\u00e9, or \\u{1F600}")
    for point in points:
        value = int(point, 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise GitlabRbError(line, f"invalid Unicode code point \\u{{{point}}}",
                                hint=_ESCAPE_HINT)
        parts.text(chr(value))
    return end


@functools.cache
def _word_list_special(opener: str, closer: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape("\\" + opener + closer) + "]")


def word_list_end(text: str, pos: int, opener: str, closer: str) -> int | None:
    """Where %w(...) closes: brackets of its own kind nest, a backslash escapes, as in
    Ruby; None if it never does."""
    special, nesting = _word_list_special(opener, closer), 0
    while (found := special.search(text, pos)) is not None:
        char, pos = found.group(), found.end()
        if char == "\\":
            pos += 1
        elif char == closer and nesting == 0:
            return found.start()
        elif char == closer:
            nesting -= 1
        else:
            nesting += 1
    return None


def words(body: str, delimiters: str) -> list[str]:
    """%w's words: split at whitespace; a backslash keeps whitespace, a delimiter or a
    backslash in a word and is itself kept before anything else (as in '...')."""
    words: list[str] = []
    current: list[str] | None = None
    for match in _WORD_PIECES.finditer(body):
        escaped, space, plain = match.groups()
        if space:
            if current is not None:
                words.append("".join(current))
            current = None
            continue
        current = [] if current is None else current
        if plain is not None:
            current.append(plain)
        else:
            kept = escaped.isspace() or escaped in delimiters or escaped == "\\"
            current.append(escaped if kept else "\\" + escaped)
    if current is not None:
        words.append("".join(current))
    return words

_WORD_PIECES = re.compile(r"\\(.)|(\s+)|([^\s\\]+)", re.DOTALL)
_WORD = re.compile(r"(?:\\.|[^\s\\])+", re.DOTALL)
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def single_quoted(body: str, delimiters: str) -> str:
    """%q(...)'s text: a backslash escapes a backslash or a delimiter, and is itself
    otherwise, as in '...'."""
    return _ESCAPED.sub(lambda m: m.group(1) if m.group(1) in delimiters + "\\"
                        else m.group(), body)


def raw_words(body: str) -> list[str]:
    """%W(...)'s words as written (escapes kept), split at whitespace no backslash escapes."""
    return _WORD.findall(body)
