"""Fetch every source in the catalog that this machine can reach, and verify its checksum.

Usage: .venv/bin/python bench/verify_sources.py [--cache-dir DIR] [--jobs 4] [--json FILE]

Every software with a source goes through the same fetchers and mirror chain as a build
(upstream, then Debian's source archive through apt), into an empty download cache (a
temporary one unless --cache-dir is given), so each file is downloaded and its sha256/sha512
checked here, not taken from an earlier run. Prints two lists: the sources verified (and who
served them) and the ones that cannot be verified from here, with the reason each mirror gave.
Exits 1 if any mirror served bytes that do not match a definition's checksum.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builder.definitions.loader import load_catalog
from builder.definitions.model import Software
from builder.errors import FetchError
from builder.sources.fetchers import FETCHERS, FetchContext, SourceUnavailable
from builder.sources.mirrors import DEFAULT_CHAIN

ROOT = Path(__file__).resolve().parent.parent


def _why(error: FetchError) -> str:
    text = "; ".join(error.tried) if isinstance(error, SourceUnavailable) else ""
    # apt names the mirror it is configured with; the report says what failed, not where
    return re.sub(r"Failed to fetch \S+", "Failed to fetch (mirror URL)", text or error.message)


def _mismatch(why: str) -> bool:
    return "checksum" in why.lower() and "match" in why.lower()


def verify_one(software: Software, context: FetchContext) -> dict[str, str]:
    kind = "pypi" if getattr(software.source, "pypi", None) else software.source.kind
    row = {"name": software.name, "version": software.version, "kind": kind}
    try:
        fetched = FETCHERS[software.source.kind](software, context)
    except FetchError as error:
        why = _why(error)
        status = "MISMATCH" if _mismatch(why) else "unverifiable"
        return {**row, "status": status, "detail": why}
    return {**row, "status": "verified", "detail": f"{fetched.locked_version[:16]}… from "
            f"{fetched.origin}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, help="download cache (default: a fresh one)")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    catalog = load_catalog(ROOT)
    with tempfile.TemporaryDirectory(prefix="omnibus-verify-") as scratch:
        context = FetchContext(root=ROOT, cache_dir=args.cache_dir or Path(scratch),
                               mirrors=DEFAULT_CHAIN, retries=2, timeout=20.0)
        wanted = [s for s in catalog.software.values() if s.source is not None
                  and s.source.kind != "path"]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(lambda s: verify_one(s, context), wanted))
    rows.sort(key=lambda r: (r["status"] != "verified", r["name"]))
    for status in ("verified", "unverifiable", "MISMATCH"):
        chosen = [r for r in rows if r["status"] == status]
        if chosen:
            print(f"\n{status} ({len(chosen)}):")
        for row in chosen:
            print(f"  {row['name']:32} {row['version'][:24]:24} {row['kind']:5} "
                  f"{row['detail'][:160]}")
    counts = {s: sum(r["status"] == s for r in rows) for s in ("verified", "unverifiable",
                                                                "MISMATCH")}
    print(f"\n{len(rows)} sources: {counts['verified']} verified here, "
          f"{counts['unverifiable']} unverifiable from this machine, "
          f"{counts['MISMATCH']} mismatched")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if counts["MISMATCH"] else 0


if __name__ == "__main__":
    sys.exit(main())
