"""The data archive of a Debian binary package (an `ar` archive), without dpkg.

Toolchains are unpacked from .deb files on any build host, dpkg or not.
"""

from __future__ import annotations

from pathlib import Path

from builder.errors import BuilderError

AR_MAGIC = b"!<arch>\n"
HEADER = 60


def data_archive(deb: Path, dest: Path) -> Path:
    """Copy the package's data.tar.* member to `dest`; return that path."""
    with deb.open("rb") as handle:
        if handle.read(len(AR_MAGIC)) != AR_MAGIC:
            raise BuilderError(f"{deb} is not a Debian package (no ar header)",
                               hint="delete it from the download cache and fetch again")
        while header := handle.read(HEADER):
            if len(header) < HEADER:
                break
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip() or 0)
            if name.startswith("data.tar"):
                with dest.open("wb") as out:
                    remaining = size
                    while remaining:
                        block = handle.read(min(remaining, 1 << 20))
                        if not block:
                            raise BuilderError(f"{deb} is truncated", hint="fetch it again")
                        out.write(block)
                        remaining -= len(block)
                return dest
            handle.seek(size + (size & 1), 1)
    raise BuilderError(f"{deb} has no data.tar member", hint="fetch it again")
