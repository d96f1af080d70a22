"""Progress output for the CLI: plain lines in CI and pipes, a live status line on a terminal.

The library reports through a plain callable (software, message); this is the CLI's printer.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class ProgressPrinter:
    """Thread-safe. On a terminal, transient messages (byte counts, what is building)
    overwrite one status line; in CI they are printed at most every few seconds per software
    and once a minute for the overall status, so logs stay short."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self._status = False
        self._last_plain: dict[str, float] = {}

    def __call__(self, name: str, message: str, transient: bool = False) -> None:
        with self._lock:
            quiet_for = 60 if name == "status" else 5  # CI logs: an overall line a minute
            if transient and self.interactive:
                self.stream.write(f"\r\033[K  {name}: {message}"[:self._width()])
                self._status = True
            elif transient and time.monotonic() - self._last_plain.get(name, 0) < quiet_for:
                return
            else:
                self._line(f"  {name}: {message}")
            if transient:
                self._last_plain[name] = time.monotonic()
            self.stream.flush()

    @staticmethod
    def _width() -> int:
        import shutil

        return shutil.get_terminal_size((100, 20)).columns + 4  # + the \r\033[K prefix

    def line(self, text: str) -> None:
        with self._lock:
            self._line(text)
            self.stream.flush()

    def _line(self, text: str) -> None:
        if self._status:
            self.stream.write("\r\033[K")
            self._status = False
        self.stream.write(text + "\n")
