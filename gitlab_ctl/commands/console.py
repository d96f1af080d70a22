"""What every command handler shares: its output line and the `sv -w` wait (SVWAIT)."""

from __future__ import annotations

import os


def out(line: str) -> None:
    print(line, flush=True)


def svwait() -> int:
    return int(os.environ.get("SVWAIT", "30"))
