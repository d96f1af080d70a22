"""Write a synthetic definitions root: N software in a layered DAG, one project using them all.

The definitions look like real ones (url sources with checksums, SPDX licenses, conditional
dependencies, templated build steps, patches) so that loading and keying do realistic work.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LICENSES = ["MIT", "BSD-3-Clause", "Apache-2.0", "GPL-2.0-only OR MIT", "Zlib", "PostgreSQL",
            "LGPL-2.1-or-later", "ISC", "BSD-2-Clause AND MIT", "OpenSSL"]


def software_text(name: str, deps: list[str], rng: random.Random) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    lines = [
        f"name: {name}", f'version: "{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"',
        f"description: Synthetic component {name}", f"license: {rng.choice(LICENSES)}",
        "license_files: [COPYING]",
        f"source: {{url: https://downloads.example.test/{name}.tar.gz, sha256: {digest}}}",
        "dependencies:",
    ]
    for index, dep in enumerate(deps):
        if index % 5 == 4:
            lines.append(f"  - {{name: {dep}, unless: {{edition: fips}}}}")
        else:
            lines.append(f"  - {dep}")
    lines += [
        "env: {CFLAGS: -O2}",
        "build:",
        "  - ./configure --prefix={{ prefix }} --disable-static",
        "  - make -j{{ jobs }}",
        "  - make install DESTDIR= PREFIX={{ prefix }}",
    ]
    if not deps:
        lines.remove("dependencies:")
    return "\n".join(lines) + "\n"


def write_root(target: Path, count: int = 100, seed: int = 7) -> Path:
    """A root with `count` layered software, the repo's platforms and project 'synthetic'."""
    rng = random.Random(seed)
    if target.exists():
        shutil.rmtree(target)
    (target / "software").mkdir(parents=True)
    (target / "projects").mkdir()
    shutil.copytree(REPO / "platforms", target / "platforms")
    names = [f"component-{index:03d}" for index in range(count)]
    for index, name in enumerate(names):
        earlier = names[max(0, index - 30):index]
        deps = sorted(rng.sample(earlier, min(len(earlier), rng.randint(0, 4))))
        (target / "software" / f"{name}.yml").write_text(software_text(name, deps, rng))
    project = [
        "name: synthetic", "description: Synthetic project for benchmarks",
        "maintainer: Bench <bench@example.test>", "homepage: https://example.test/",
        "license: MIT", "version: {value: 1.0.0}", "dependencies:",
        *[f"  - {name}" for name in names],
    ]
    (target / "projects" / "synthetic.yml").write_text("\n".join(project) + "\n")
    return target
