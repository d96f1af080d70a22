"""The local artifact cache: where built artifacts and the record of each last build live.

Layout under the cache root:
  artifacts/<key>.tar.zst   the files one software added under the install prefix
  artifacts/<key>.json      its sidecar, written last: an artifact counts only once it exists
  records/<platform>/<arch>/<software>.json   the key inputs of the last build, to explain
                                              why a software must build again
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.digests import write_atomic
from builder.resolve.keys import KeyRecord


@dataclass(frozen=True)
class ArtifactCache:
    root: Path

    def artifact_path(self, key: str) -> Path:
        return self.root / "artifacts" / f"{key}.tar.zst"

    def sidecar_path(self, key: str) -> Path:
        return self.root / "artifacts" / f"{key}.json"

    def has(self, key: str) -> bool:
        return self.sidecar_path(key).is_file() and self.artifact_path(key).is_file()

    def record_path(self, platform: str, arch: str, name: str) -> Path:
        return self.root / "records" / platform / arch / f"{name}.json"

    def last_inputs(self, platform: str, arch: str, name: str) -> dict[str, Any] | None:
        """The key inputs of the last recorded build, or None (never built, or unreadable)."""
        try:
            record = json.loads(self.record_path(platform, arch, name).read_text())
            inputs = record["inputs"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return inputs if isinstance(inputs, dict) else None

    def write_record(self, platform: str, arch: str, record: KeyRecord) -> None:
        document = {"name": record.name, "key": record.key, "inputs": dict(record.inputs)}
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        write_atomic(self.record_path(platform, arch, record.name), text.encode())
