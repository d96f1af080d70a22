"""What the gitlab.rb parser refuses beyond, whatever the input: sizes no real gitlab.rb comes
near (omnibus-gitlab's full gitlab.rb.template is ~3,800 lines, ~200 KB, nested ~5 deep), so
that a hostile or broken file gets an error naming its line, never a traceback, a hang or
gigabytes of memory."""

from __future__ import annotations

from gitlab_ctl.errors import GitlabCtlError

#: Bytes of one source: the file, or GITLAB_OMNIBUS_CONFIG.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
#: Characters of one string, as written or as made by `+` and `#{...}`.
MAX_STRING_CHARS = 1024 * 1024
#: Digits of a number, as written or as computed (Python refuses str() past 4,300).
MAX_NUMBER_DIGITS = 100
#: Nesting of brackets, parentheses, unary minus, `#{...}`, subscripts and values.
MAX_DEPTH = 64
#: Size of all the values one source makes, per source: a string counts its length + 1, a
#: number, true/false/nil 1, an array or a hash CONTAINER_COST (they cost memory and output
#: of their own) plus what they hold. A reference, `#{...}` or YAML alias copies what it names,
#: so it counts again: this is what bounds memory and show-config's output.
MAX_EXPANDED = 16 * 1024 * 1024
CONTAINER_COST = 8

MIB = 1024 * 1024


class GitlabRbError(GitlabCtlError):
    """A line of gitlab.rb this parser refuses; `hint` says what to write instead."""

    exit_code = 2

    def __init__(self, line: int, message: str, hint: str = "") -> None:
        super().__init__(f"line {line}", message, hint)
        self.line = line


def excerpt(text: str, width: int = 40) -> str:
    """`text` short enough for an error message: a 1 MB token is not echoed back."""
    return text if len(text) <= width else text[:width] + "..."


def too_deep(line: int) -> GitlabRbError:
    return GitlabRbError(line, f"nested more than {MAX_DEPTH} levels deep",
                         hint="no gitlab.rb setting needs this: check the brackets")


def string_too_long(line: int) -> GitlabRbError:
    return GitlabRbError(line, f"a string longer than {MAX_STRING_CHARS // MIB} MiB "
                         f"({MAX_STRING_CHARS:,} characters)",
                         hint="keep large content in a file and set its path instead")


def too_many_digits(line: int) -> GitlabRbError:
    return GitlabRbError(line, f"a number of more than {MAX_NUMBER_DIGITS} digits",
                         hint="no gitlab.rb setting takes a number this large")


def expanded_too_much(line: int) -> GitlabRbError:
    return GitlabRbError(line, f"the settings expand to more than {MAX_EXPANDED // MIB} MiB "
                         "(strings, numbers, arrays and hashes, counting every copy that "
                         "references, #{...} and YAML aliases make)",
                         hint="write the values themselves instead of copying them over and "
                         "over")


def check_source(text: str) -> None:
    """At most MAX_SOURCE_BYTES of UTF-8 (GITLAB_OMNIBUS_CONFIG may carry undecodable bytes
    as surrogates)."""
    if len(text) <= MAX_SOURCE_BYTES:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as error:
            code = ord(text[error.start])
            what = (f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF
                    else f"U+{code:04X}")
            raise GitlabRbError(text.count("\n", 0, error.start) + 1, f"is not valid UTF-8 "
                                f"({what})", hint="save it as UTF-8") from None
        if size <= MAX_SOURCE_BYTES:
            return
    raise GitlabRbError(text.count("\n", 0, MAX_SOURCE_BYTES) + 1, "is larger than "
                        f"{MAX_SOURCE_BYTES // MIB} MiB", hint="a gitlab.rb is far smaller: "
                        "check that this is the right file")
