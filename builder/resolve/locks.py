"""Git source locks: the commit each "remote@ref" resolved to, kept in a JSON file.

A plan uses them for cache keys; a fetch writes new ones; CI can pass the file between jobs
so that every job of a pipeline builds the same commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from builder.digests import write_atomic
from builder.errors import FetchError

LOCKS_FILE = "source-locks.json"


def load_locks(path: Path) -> dict[str, str]:
    """The recorded git locks ("remote@ref" -> commit); none when the file does not exist."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise FetchError(f"cannot read the source locks {path}: {error}",
                         hint="fix or delete the file; `omnibus fetch` writes it again") from error
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise FetchError(f"{path} is not a mapping of 'remote@ref' to commit",
                         hint="fix or delete the file; `omnibus fetch` writes it again")
    return document


def save_locks(path: Path, locks: Mapping[str, str]) -> None:
    write_atomic(path, (json.dumps(dict(sorted(locks.items())), indent=2) + "\n").encode())
