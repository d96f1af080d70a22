"""The bundled PostgreSQL as `gitlab-ctl pg-upgrade` sees it (omnibus-gitlab's
GitlabCtl::PgUpgrade): the majors the package ships, the one embedded/bin runs, the data
directory and its major, and the commands run as the database's system user.

The package keeps every major it ships under embedded/postgresql/<major>/bin, and links
embedded/bin/<program> to the major in use; the data lives in postgresql['dir']/data, and an
upgrade keeps the previous major's data beside it as data.<old major> for a revert.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

#: omnibus-gitlab's switch that turns the automatic upgrade off (--skip-multi-node)
DISABLE_FILE = Path("/etc/gitlab/disable-postgresql-upgrade")
#: the version-manifest entries that are PostgreSQL builds: omnibus-gitlab's postgresql,
#: postgresql_old and postgresql_new, and this project's postgresql-<major>[-debian]
MANIFEST_NAME = re.compile(r"^postgresql(_old|_new|-\d+(-debian)?)?$")
VERSION = re.compile(r"(\d+)(?:\.(\d+))?")
#: what `pg_ctl --version` prints: "pg_ctl (PostgreSQL) 15.18" (a distribution's build adds
#: "(Debian 15.18-1)" after it, so the version is not simply the last word)
PG_CTL_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)")
CHECKSUM_LINE = re.compile(r"Data page checksum version:\s+(\d+)")


class CommandFailed(GitlabCtlError):
    """A command of the upgrade exited non-zero (or ran out of time); stdout and stderr are
    kept for the progress output."""

    def __init__(self, argv: list[str], stdout: str, stderr: str, why: str = "") -> None:
        super().__init__(argv[0], why or f"exited non-zero: {' '.join(argv)}")
        self.argv, self.stdout, self.stderr = argv, stdout, stderr


@dataclass(frozen=True, order=True)
class PGVersion:
    """A PostgreSQL version as omnibus-gitlab's PGVersion: the major decides everything."""

    major: int
    minor: int | None = None

    @classmethod
    def parse(cls, text: object) -> PGVersion | None:
        match = VERSION.search(str(text or ""))
        if not match:
            return None
        return cls(int(match.group(1)), int(match.group(2)) if match.group(2) else None)

    def __str__(self) -> str:
        return f"{self.major}" if self.minor is None else f"{self.major}.{self.minor}"


def manifest_versions(layout: Layout) -> dict[str, PGVersion]:
    """The PostgreSQL builds the installed package's version manifest names, by name."""
    try:
        software = json.loads((layout.install_dir / "version-manifest.json").read_text())
        software = software.get("software", {})
    except (OSError, ValueError, AttributeError):
        return {}
    found = {}
    for name, entry in software.items():
        version = PGVersion.parse(entry.get("described_version")) if isinstance(
            entry, dict) else None
        if MANIFEST_NAME.match(name) and version is not None:
            found[name] = version
    return found


def installed_majors(layout: Layout) -> list[int]:
    """The majors with programs under embedded/postgresql/<major>/bin."""
    base = layout.embedded / "postgresql"
    try:
        return sorted(int(entry.name) for entry in base.iterdir()
                      if entry.name.isdigit() and (entry / "bin").is_dir())
    except FileNotFoundError:
        return []


def supported_versions(layout: Layout) -> list[PGVersion]:
    """omnibus-gitlab's SUPPORTED_VERSIONS: the manifest's PostgreSQL builds (the majors
    installed under embedded/postgresql when the manifest names none), one per major."""
    versions = list(manifest_versions(layout).values()) or [
        PGVersion(major) for major in installed_majors(layout)]
    by_major = {version.major: version for version in sorted(versions)}
    return [by_major[major] for major in sorted(by_major)]


def default_version(layout: Layout) -> PGVersion | None:
    """The major `pg-upgrade` moves to without -V: the manifest's `postgresql` (omnibus-
    gitlab's default); where the package names its builds postgresql-<major>, the newest."""
    named = manifest_versions(layout)
    if "postgresql" in named:
        return named["postgresql"]
    versions = supported_versions(layout)
    return versions[-1] if versions else None


def major_bin_dir(layout: Layout, major: int) -> Path:
    """embedded/postgresql/<major>/bin: the programs of one shipped major."""
    return layout.embedded / "postgresql" / str(major) / "bin"


def unlinked_programs(layout: Layout, major: int) -> list[tuple[Path, Path]]:
    """(embedded/bin link, program) for each program of `major` its link does not point to."""
    pairs = []
    for program in sorted(major_bin_dir(layout, major).glob("*")):
        link = layout.embedded / "bin" / program.name
        if not (link.is_symlink() and Path(link.readlink()) == program):
            pairs.append((link, program))
    return pairs


def link_programs(layout: Layout, major: int) -> None:
    """embedded/bin/<program> -> embedded/postgresql/<major>/bin/<program>, each replaced
    atomically so that a link is never missing; OSError when one cannot be made."""
    for program in sorted(major_bin_dir(layout, major).iterdir()):
        link = layout.embedded / "bin" / program.name
        temporary = link.with_name(f".{program.name}.pg-upgrade")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(program)
        temporary.replace(link)


def checksum_flag(checksums_enabled: bool, target: PGVersion) -> str:
    """initdb's flag so that the new cluster's data checksums match the old one's, which
    pg_upgrade requires: PostgreSQL 18 turned them on by default, and only 18 knows
    --no-data-checksums."""
    if checksums_enabled:
        return "--data-checksums"
    return "--no-data-checksums" if target.major >= 18 else ""


@dataclass
class Cluster:
    """The installation's PostgreSQL: `pg` is the resolved postgresql section."""

    layout: Layout
    pg: dict[str, Any]
    tmp_dir: Path | None = None
    timeout: float | None = None  # seconds, for each command

    @property
    def data_dir(self) -> Path:
        data = Path(self.pg["dir"]) / "data"
        return data.resolve() if data.exists() else data

    @property
    def tmp_data_dir(self) -> Path:
        """Where data.<major> directories go: beside the data, or under --tmp-dir."""
        return self.tmp_dir / "data" if self.tmp_dir else self.data_dir

    def major_dir(self, major: int) -> Path:
        """data.<major>: the new cluster during an upgrade, the old one after it."""
        return self.tmp_data_dir.with_name(f"{self.tmp_data_dir.name}.{major}")

    def bin_dir(self, version: PGVersion) -> Path:
        return major_bin_dir(self.layout, version.major)

    def run(self, argv: list[str], as_postgres: bool = True,
            env: dict[str, str] | None = None) -> str:
        """stdout of `argv`, run as the database user (in its directory, where pg_upgrade
        writes its sockets); CommandFailed when it fails or exceeds the timeout."""
        if as_postgres:
            user = f"{self.pg['username']}:{self.pg['group']}"
            argv = [str(self.layout.embedded / "bin" / "chpst"), "-u", user, "-U", user,
                    *([] if env is None else ["/usr/bin/env",
                                              *(f"{k}={v}" for k, v in env.items())]),
                    *argv]
        cwd = self.pg["dir"] if as_postgres and Path(self.pg["dir"]).is_dir() else "/"
        try:
            result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                                    timeout=self.timeout)
        except subprocess.TimeoutExpired as error:
            raise CommandFailed(argv, str(error.stdout or ""), str(error.stderr or ""),
                                f"timed out after {self.timeout:.0f} s") from error
        except OSError as error:
            raise CommandFailed(argv, "", str(error), f"cannot run: {error}") from error
        if result.returncode != 0:
            raise CommandFailed(argv, result.stdout, result.stderr)
        return result.stdout

    def running_version(self) -> PGVersion | None:
        """The version embedded/bin runs (omnibus-gitlab's initial_version)."""
        try:
            text = self.run([str(self.layout.embedded / "bin" / "pg_ctl"), "--version"],
                            as_postgres=False)
        except CommandFailed:
            return None
        match = PG_CTL_VERSION.search(text)
        return PGVersion.parse(match.group(1)) if match else PGVersion.parse(text)

    def data_version(self) -> PGVersion | None:
        """The major the data directory is in (its PG_VERSION)."""
        try:
            return PGVersion.parse((self.data_dir / "PG_VERSION").read_text().strip())
        except OSError:
            return None

    def query(self, sql: str) -> str:
        """One value from the running server, as the database superuser over the socket."""
        return self.run([str(self.layout.embedded / "bin" / "psql"), "-h", self.pg["dir"],
                         "-p", str(self.pg["port"]), "-d", "template1", "-tAXqc", sql]
                        ).strip()

    def locale_and_encoding(self) -> tuple[str, str, str]:
        """template0's encoding, LC_COLLATE and LC_CTYPE: pg_upgrade refuses a new cluster
        whose template0 differs, so initdb gets the old cluster's."""
        row = self.query("SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' "
                         "|| datctype FROM pg_database WHERE datname = 'template0'")
        encoding, collate, ctype = row.split("|")
        return encoding, collate, ctype

    def data_checksums_enabled(self, version: PGVersion) -> bool:
        """Whether the old data has page checksums, from its pg_controldata; an answer
        without the line is an error, never a guess (a wrong guess fails pg_upgrade late)."""
        output = self.run([str(self.bin_dir(version) / "pg_controldata"), "-D",
                           str(self.data_dir)])
        match = CHECKSUM_LINE.search(output)
        if match is None:
            raise GitlabCtlError("pg_controldata", "unable to determine data checksum status "
                                 f"from its output: {output.strip()[:200]!r}")
        return int(match.group(1)) != 0

    def space_needed(self, directory: Path) -> int:
        """MiB that `directory` holds (du), which a copy of it needs again."""
        output = self.run(["du", "-s", "--block-size=1m", str(directory)], as_postgres=False)
        return int(output.split()[0])

    def space_free(self, directory: Path) -> int:
        """MiB free where `directory` is, less 10% (omnibus-gitlab's margin)."""
        return int(shutil.disk_usage(directory).free / 1024 / 1024 * 0.9)

    def enough_free_space(self, directory: Path, needed: int) -> bool:
        return needed <= self.space_free(directory)


def upgrade_artifact_exists(path: Path) -> bool:
    """A non-empty data.<major> left by an earlier attempt."""
    return path.is_dir() and any(path.iterdir())


def pg_upgrade_disabled(disable_file: Path = DISABLE_FILE) -> bool:
    return disable_file.exists()
