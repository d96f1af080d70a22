"""Whether the packages in the output directory were written from exactly this run's inputs.

A warm re-run of `omnibus build` then writes nothing: the digest of everything that shapes a
package (every artifact's cache key, the project, what packaging leaves out and checks, the
package metadata and scripts, the license policy and the packaging code) is kept in each
package's `.metadata.json`, and a package is kept only when that digest and its own sha256
still match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from builder.definitions.model import plain
from builder.digests import sha256_file
from builder.formats.meta import PackageMeta
from builder.resolve.graph import Graph
from builder.resolve.keys import KeyRecord

BUILDER_DIR = Path(__file__).resolve().parents[1]
#: The code that turns a stage into packages: a change to it writes packages again.
PACKAGING_CODE = ("package", "formats", "app/package.py")


def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in PACKAGING_CODE:
        path = BUILDER_DIR / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(BUILDER_DIR).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    return str(value)


def _meta_document(meta: PackageMeta) -> dict[str, Any]:
    document = plain(meta)
    document.pop("threads", None)  # the output does not depend on the thread count
    return document


def packaging_inputs(graph: Graph, keys: Mapping[str, KeyRecord], locks: Mapping[str, str],
                     metas: Mapping[str, PackageMeta], root: Path) -> str:
    software = {name: graph.software[name] for name in graph.order}
    policy = root / "licenses" / "policy.yml"
    document = {
        "keys": {name: keys[name].key for name in software},
        "project": plain(graph.project),
        "software": {name: {"package_excludes": list(item.package_excludes),
                            "health_check": plain(item.health_check),
                            "license": item.license, "source": plain(item.source)}
                     for name, item in software.items()},
        "platform": {"allowed_libs": list(graph.platform.allowed_libs),
                     "glibc": graph.platform.glibc},
        "locks": dict(sorted(locks.items())),
        "metas": {fmt: _meta_document(meta) for fmt, meta in sorted(metas.items())},
        "policy": sha256_file(policy) if policy.is_file() else None,
        "code": _code_digest(),
    }
    text = json.dumps(document, sort_keys=True, default=_encode)
    return hashlib.sha256(text.encode()).hexdigest()


def up_to_date(packages: Iterable[Path], inputs: str) -> bool:
    """True when every package exists, unchanged, and was written from `inputs`."""
    for package in packages:
        sidecar = package.with_name(package.name + ".metadata.json")
        try:
            metadata = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return False
        if metadata.get("inputs") != inputs or not package.is_file():
            return False
        if sha256_file(package) != metadata.get("sha256"):
            return False
    return True
