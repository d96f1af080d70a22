"""The one base of every error gitlab_ctl reports, and the one format gitlab-ctl prints it in.

Each layer raises its own kind (ConfigError, ResourceError, MaintenanceError, ...), all of
them a GitlabCtlError: where it happened, what is wrong, what to do, and the exit code the
command ends with. The CLI prints whatever reaches it with `print_error`, so every error
reads the same (so does a reconfigure that upgrade or container-run runs, which goes on)."""

from __future__ import annotations

import sys


class GitlabCtlError(Exception):
    """`where`: 'FILE:LINE', a file, a resource or an option ('' when nothing narrower than
    the command applies); `hint`: what to do about it ('' when there is nothing to add)."""

    #: the command's exit code when this error ends it: 1, or 2 for what a usage error is
    exit_code = 1

    def __init__(self, where: str, message: str, hint: str = "",
                 exit_code: int | None = None) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where, self.message, self.hint = where, message, hint
        if exit_code is not None:
            self.exit_code = exit_code


def error_lines(error: GitlabCtlError) -> list[str]:
    """What gitlab-ctl prints on stderr for `error`."""
    first = (f"gitlab-ctl: error: {error.where}: {error.message}" if error.where
             else f"gitlab-ctl: {error.message}")
    return [first, f"  hint: {error.hint}"] if error.hint else [first]


def print_error(error: GitlabCtlError) -> int:
    """Print `error` on stderr as gitlab-ctl reports every error; its exit code."""
    for line in error_lines(error):
        print(line, file=sys.stderr)
    return error.exit_code
