"""Heredocs of gitlab.rb as Ruby reads them: `<<EOS` (terminator at the start of a line),
`<<-EOS` (terminator may be indented), `<<~EOS` (the body's common indentation removed too),
each with a bare, "double-quoted" or 'single-quoted' tag. Several may open on one line; their
bodies follow that line, one after another, in the order they were opened."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitlab_ctl.config.gitlabrb_limits import MAX_STRING_CHARS, MIB, GitlabRbError

HEREDOC = re.compile(r"<<([-~]?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass(frozen=True, slots=True)
class Heredoc:
    """One heredoc's body, as written (dedented for <<~); `raw` when its tag is in single
    quotes (no escapes, no #{...}); `body_line` is the line the body starts on."""
    tag: str
    body: str
    raw: bool
    body_line: int


class Bodies:
    """The heredocs opened on the line being scanned: where the next body starts, and where
    scanning resumes once the line ends (past the last terminator)."""

    def __init__(self) -> None:
        self.resume = -1  # where the line's statement ends, -1 when no heredoc is pending
        self.resume_line = 0
        self.body_start = self.body_line = 0  # where the next body starts

    @property
    def pending(self) -> bool:
        return self.resume >= 0

    def read(self, text: str, match: re.Match[str], line: int) -> Heredoc:
        """The body of the heredoc `match` opens on `line`."""
        flavour, quote, tag = match.groups()
        if not self.pending:
            line_end = text.find("\n", match.end())
            if line_end < 0:
                raise _never_closed(line, tag)
            self.resume = self.resume_line = 0
            self.body_start, self.body_line = line_end + 1, line + 1
        start, body_line = self.body_start, self.body_line
        indented = r"[ \t]*" if flavour else ""
        terminator = re.compile(rf"^{indented}{re.escape(tag)}[ \t]*$", re.MULTILINE)
        found = terminator.search(text, start)
        if found is None:
            raise _never_closed(line, tag)
        body = text[start:found.start()]
        if len(body) > MAX_STRING_CHARS:
            raise GitlabRbError(line, f"heredoc <<{tag} is longer than "
                                f"{MAX_STRING_CHARS // MIB} MiB", hint="keep large content in "
                                "a file and set its path instead")
        self.resume = found.end()
        self.resume_line = body_line + body.count("\n")
        self.body_start, self.body_line = found.end() + 1, self.resume_line + 1
        body = squiggly_dedent(body) if flavour == "~" else body
        return Heredoc(tag, body, quote == "'", body_line)

    def finish_line(self) -> tuple[int, int]:
        """At the end of the line that opened heredocs: where scanning goes on (the newline
        after the last terminator, or the end of the text) and its line."""
        place = (self.resume, self.resume_line)
        self.resume = -1
        return place


def squiggly_dedent(body: str) -> str:
    """<<~: the least indentation of the lines with text is removed from every line, tabs
    counting to the next multiple of 8 columns, as Ruby does (blank lines do not count)."""
    lines = body.split("\n")
    widths = [_indent_width(line) for line in lines if line.strip(" \t")]
    width = min(widths, default=0)
    return "\n".join(_dedent_line(line, width) for line in lines)


def _indent_width(line: str) -> int:
    column = 0
    for char in line:
        if char == " ":
            column += 1
        elif char == "\t":
            column = 8 * (column // 8 + 1)
        else:
            break
    return column


def _dedent_line(line: str, width: int) -> str:
    column = index = 0
    while index < len(line) and column < width and line[index] in " \t":
        step = column + 1 if line[index] == " " else 8 * (column // 8 + 1)
        if step > width:
            break
        column, index = step, index + 1
    return line[index:]


def _never_closed(line: int, tag: str) -> GitlabRbError:
    return GitlabRbError(line, f"heredoc <<{tag} is never closed",
                         hint=f"end it with a line {tag}")


def continued_past(line: int) -> GitlabRbError:
    """A literal or a continued line reaching past the line a heredoc opened on."""
    return GitlabRbError(line, "a line that opens a heredoc must end on that line",
                         hint="end the statement on the heredoc's line; its body follows")
