"""What acts on this machine rather than on a definitions root: `omnibus setup-deb-src`."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from builder.errors import BuilderError
from builder.sources.deb_src import write_deb_src


def setup_deb_src(also: Sequence[str]) -> str:
    """Give apt deb-src entries beside its deb entries (and for the `also` codenames), so
    Debian's source archive can serve as a mirror; apt's indexes updated when they changed."""
    written, changed = write_deb_src(list(also))
    if written is None:
        return "apt already has deb-src entries for every deb entry; nothing written"
    if not changed:
        return f"{written} is up to date"
    result = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuilderError(f"apt-get update failed after writing {written}:\n"
                           f"{result.stderr.strip()[-800:]}",
                           hint=f"check {written}; delete it to undo")
    return f"wrote {written} and updated apt's source indexes"
