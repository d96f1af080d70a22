"""lintian and rpmlint over the packages a build wrote, with what they report counted by
severity and tag: `./dev build` runs them on every package it writes, and so do the tests.

What each reports is judged by the package's own overrides (the lintian overrides shipped
in the .deb, `templates/package/rpmlintrc` for rpmlint). Two findings are about the tools'
environment, not the package, and are set aside here, each named in the report:

- lintian 2.116 (Debian 12) takes only gz and xz for the .deb's members, while Debian 12's
  dpkg (1.21.18 and later) installs zstd ones: its `malformed-deb-archive` hint naming a
  `.tar.zst` member says only that. Every other hint it gives on the package stands.
- rpmlint reports `unknown-key` for a signature by a key its rpm database does not hold: the
  package's key is imported into a private rpm database first (never the machine's), so the
  signature is checked, not ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from builder.digests import sha256_file, write_atomic

#: lintian: `E: package: tag details`; rpmlint: `package.arch: E: tag details`.
LINTIAN_LINE = re.compile(r"^(?P<severity>[EW]): [^:\s]+(?: \w+)?: (?P<tag>[\w.+-]+)")
RPMLINT_LINE = re.compile(r"^\S+: (?P<severity>[EW]): (?P<tag>[\w.+%-]+)")
#: The one hint of lintian 2.116 that is about its own reader of zstd members.
LINTIAN_ZSTD = re.compile(r"^E: \S+: malformed-deb-archive (second|third) \(official\) member "
                          r"(control|data)\.tar\.zst not ")


@dataclass
class LintReport:
    tool: str  # lintian or rpmlint
    package: Path
    seconds: float
    lines: list[str]  # every E: and W: line, as the tool printed it
    set_aside: list[str] = field(default_factory=list)  # about the tool's environment
    output: str = ""
    cached: bool = False  # the verdict on these same bytes, by the same tool and settings

    @property
    def tags(self) -> Counter[tuple[str, str]]:
        """(severity, tag) -> how many times it was reported."""
        pattern = LINTIAN_LINE if self.tool == "lintian" else RPMLINT_LINE
        found: Counter[tuple[str, str]] = Counter()
        for line in self.lines:
            match = pattern.match(line)
            if match:
                found[match["severity"], match["tag"]] += 1
        return found

    @property
    def errors(self) -> int:
        return sum(count for (severity, _), count in self.tags.items() if severity == "E")

    @property
    def warnings(self) -> int:
        return sum(count for (severity, _), count in self.tags.items() if severity == "W")

    def summary(self) -> str:
        by_tag = ", ".join(f"{tag} {count} ({severity})" for (severity, tag), count
                           in sorted(self.tags.items(), key=lambda item: (-item[1], item[0])))
        took = "kept from its last run on the same bytes" if self.cached else \
            f"{self.seconds:.0f} s"
        text = (f"{self.tool}: {self.errors} errors, {self.warnings} warnings on "
                f"{self.package.name} ({took})")
        if by_tag:
            text += f": {by_tag}"
        if self.set_aside:
            text += f"; set aside as the tool's own limits: {len(self.set_aside)}"
        return text


def lintian(deb: Path) -> LintReport:
    """lintian over the .deb as written (its shipped overrides apply)."""
    started = time.monotonic()
    result = subprocess.run(["lintian", "--no-cfg", "--no-tag-display-limit", str(deb)],
                            capture_output=True, text=True)
    if result.returncode not in (0, 1, 2):
        raise RuntimeError(f"lintian failed on {deb}: {result.stderr.strip()}")
    lines, aside = [], []
    for line in result.stdout.splitlines():
        if LINTIAN_ZSTD.match(line):
            aside.append(line)
        elif line[:2] in ("E:", "W:"):
            lines.append(line)
    if not lines and not aside and "E:" not in result.stdout and result.returncode == 2:
        raise RuntimeError(f"lintian failed on {deb}: {result.stderr.strip()}")
    return LintReport("lintian", deb, time.monotonic() - started, lines, aside,
                      result.stdout + result.stderr)


def rpmlint(rpm: Path, rpmlintrc: Path, public_key: bytes | None = None) -> LintReport:
    """rpmlint over the .rpm with the project's rpmlintrc; `public_key` (armored) is the key
    that signed it, trusted in a private rpm database so that the signature is checked."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rpmlint-") as scratch:
        home = Path(scratch)
        (home / ".rpmmacros").write_text(f"%_dbpath {home / 'rpmdb'}\n")
        environment = {**os.environ, "HOME": str(home)}
        if public_key:
            (home / "key.asc").write_bytes(public_key)
            subprocess.run(["rpmkeys", "--import", str(home / "key.asc")], check=True,
                           capture_output=True, env=environment)
        result = subprocess.run(["rpmlint", "--rpmlintrc", str(rpmlintrc), str(rpm)],
                                capture_output=True, text=True, env=environment)
    if "packages and 0 specfiles checked" not in result.stdout:
        raise RuntimeError(f"rpmlint failed on {rpm}: {(result.stdout + result.stderr)[-2000:]}")
    lines = [line for line in result.stdout.splitlines() if RPMLINT_LINE.match(line)]
    return LintReport("rpmlint", rpm, time.monotonic() - started, lines,
                      output=result.stdout + result.stderr)


def export_key(key: str, gnupg_home: str | None = None) -> bytes:
    """The armored public key `key` from GnuPG (GNUPGHOME when gnupg_home is None)."""
    home = ["--homedir", gnupg_home] if gnupg_home else []
    return subprocess.run(["gpg", *home, "--batch", "--armor", "--export", key], check=True,
                          capture_output=True).stdout


def built_packages(root: Path, project: str, platform: str, arch: str,
                   formats: list[str]) -> dict[str, Path]:
    """The packages `omnibus build PROJECT --platform P --arch A` writes into root/pkg/ (a
    release build, or a nightly or branch one as BuildIdentity reads the environment)."""
    from builder.app.package import PackageSettings, package_meta
    from builder.definitions.loader import load_catalog
    from builder.formats import PACKAGERS
    from builder.package.version import BuildIdentity, package_version
    from builder.resolve.graph import resolve

    catalog = load_catalog(root)
    graph = resolve(catalog, catalog.projects[project], catalog.platforms[platform], arch)
    build = BuildIdentity.from_environment(None, os.environ)
    version = package_version(graph.project, root, build)
    out = root / "pkg"
    settings = PackageSettings(root, root / "cache", out, tuple(formats), build, 0)
    return {fmt: out / PACKAGERS[fmt].file_name(package_meta(graph, fmt, version, settings))
            for fmt in formats}


def _tool_version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True)
    return (result.stdout + result.stderr).strip()


def remembered(run, cache_dir: Path, tool: str, package: Path, *settings: str) -> LintReport:
    """`run()`'s report, or the one kept in cache_dir/lint/ from a run on the same package
    bytes with the same tool version and settings (both tools are deterministic): a warm
    `./dev build`, which writes nothing new, takes no minute to lint the same packages."""
    version = _tool_version([tool, "--version"])
    key = hashlib.sha256("\0".join([tool, version, sha256_file(package), *settings])
                         .encode()).hexdigest()
    kept = cache_dir / "lint" / f"{key}.json"
    try:
        document = json.loads(kept.read_text())
        return LintReport(tool, package, document["seconds"], document["lines"],
                          document["set_aside"], document["output"], cached=True)
    except (OSError, ValueError, KeyError):
        pass
    report = run()
    write_atomic(kept, json.dumps({"seconds": report.seconds, "lines": report.lines,
                                   "set_aside": report.set_aside,
                                   "output": report.output}).encode())
    return report
