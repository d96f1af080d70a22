"""The yum/dnf repository metadata, in createrepo's formats: primary, filelists and other
(gzipped XML) and repomd.xml, the index that names them by checksum.

Written by hand rather than through an XML library so that the bytes are exactly what we
choose (attribute order, namespaces, escaping): the same packages and date give the same
files, and the files' names (their checksums) stay the same too.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from builder.formats.rpm.rpmread import Dependency, RpmInfo

COMMON_NS = "http://linux.duke.edu/metadata/common"
RPM_NS = "http://linux.duke.edu/metadata/rpm"
FILELISTS_NS = "http://linux.duke.edu/metadata/filelists"
OTHER_NS = "http://linux.duke.edu/metadata/other"
REPO_NS = "http://linux.duke.edu/metadata/repo"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
FLAG_NAMES = {2: "LT", 4: "GT", 8: "EQ", 10: "LE", 12: "GE"}
#: Requirements that must be met before the package's scriptlets run (createrepo's pre="1").
PRE_FLAGS = (1 << 6) | (1 << 9) | (1 << 10)  # RPMSENSE_PREREQ, SCRIPT_PRE, SCRIPT_POST
CHANGELOG_LIMIT = 10  # createrepo's default: other.xml carries the newest ten entries
#: Characters XML 1.0 cannot carry at all, even escaped.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class RepoPackage:
    """A package file in the repository, as the metadata describes it."""

    info: RpmInfo
    href: str  # relative to the repository, e.g. Packages/t/toy-1.0-1.el9.x86_64.rpm
    sha256: str
    size: int
    mtime: int  # when it was added (the file's mtime): primary's <time file=...>


@dataclass(frozen=True)
class MetadataFile:
    kind: str  # primary, filelists, other
    data: bytes  # gzipped
    open_data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def href(self) -> str:
        return f"repodata/{self.sha256}-{self.kind}.xml.gz"


def _text(value: str) -> str:
    return escape(NOT_XML.sub("", value))


def _attr(value: str | int) -> str:
    return escape(NOT_XML.sub("", str(value)), {'"': "&quot;"})


def _attributes(**values: str | int | None) -> str:
    return "".join(f' {name.replace("_", "-")}="{_attr(value)}"'
                   for name, value in values.items() if value is not None)


def is_primary_file(path: str) -> bool:
    """Files primary.xml lists (the rest only in filelists.xml), so that a dependency on
    /bin/sh or /etc/... resolves without the big file list: createrepo's rule, which yum
    and dnf rely on."""
    return path.startswith("/etc/") or path == "/usr/lib/sendmail" or "bin/" in path


def split_evr(text: str) -> tuple[str | None, str | None, str | None]:
    """(epoch, version, release) of "[epoch:]version[-release]"; epoch "0" when not given,
    all None for an unversioned dependency (as createrepo writes them)."""
    if not text:
        return None, None, None
    epoch, colon, rest = text.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", text
    version, dash, release = rest.partition("-")
    return epoch, version, release if dash and release else None


def _version_line(info: RpmInfo) -> str:
    return f"<version{_attributes(epoch=info.epoch, ver=info.version, rel=info.release)}/>"


def _entry(dependency: Dependency, pre: bool) -> str:
    epoch, version, release = split_evr(dependency.version)
    attributes = _attributes(name=dependency.name, flags=FLAG_NAMES.get(dependency.flags & 0xF),
                             epoch=epoch, ver=version, rel=release, pre="1" if pre else None)
    return f"      <rpm:entry{attributes}/>"


def _primary_requires(info: RpmInfo) -> list[str]:
    """createrepo's filter: no rpmlib() features (rpm itself provides them), nothing the
    package provides or ships in its primary files, no exact repeats."""
    provided = {d.name for d in info.relations["provides"]}
    own_files = {f.path for f in info.files if is_primary_file(f.path)}
    lines, seen = [], set()
    for dependency in info.relations["requires"]:
        name = dependency.name
        if name.startswith("rpmlib(") or name in provided or name in own_files:
            continue
        pre = bool(dependency.flags & PRE_FLAGS)
        key = (name, dependency.flags & 0xF, dependency.version, pre)
        if key not in seen:
            seen.add(key)
            lines.append(_entry(dependency, pre))
    return lines


def _relations(info: RpmInfo) -> list[str]:
    lines = []
    for kind, dependencies in info.relations.items():
        entries = (_primary_requires(info) if kind == "requires"
                   else [_entry(d, False) for d in dependencies])
        if entries:
            lines += [f"    <rpm:{kind}>", *entries, f"    </rpm:{kind}>"]
    return lines


def _file_line(path: str, kind: str, indent: str) -> str:
    return f"{indent}<file{_attributes(type=kind or None)}>{_text(path)}</file>"


def _primary_package(package: RepoPackage) -> str:
    info = package.info
    sizes = _attributes(package=package.size, installed=info.installed_size,
                        archive=info.archive_size)
    lines = [
        '<package type="rpm">', f"  <name>{_text(info.name)}</name>",
        f"  <arch>{_text(info.arch)}</arch>", f"  {_version_line(info)}",
        f'  <checksum type="sha256" pkgid="YES">{package.sha256}</checksum>',
        f"  <summary>{_text(info.summary)}</summary>",
        f"  <description>{_text(info.description)}</description>",
        f"  <packager>{_text(info.packager)}</packager>", f"  <url>{_text(info.url)}</url>",
        f"  <time{_attributes(file=package.mtime, build=info.build_time)}/>",
        f"  <size{sizes}/>",
        f"  <location{_attributes(href=package.href)}/>", "  <format>",
        f"    <rpm:license>{_text(info.license)}</rpm:license>",
        f"    <rpm:vendor>{_text(info.vendor)}</rpm:vendor>",
        f"    <rpm:group>{_text(info.group)}</rpm:group>",
        f"    <rpm:buildhost>{_text(info.buildhost)}</rpm:buildhost>",
        f"    <rpm:sourcerpm>{_text(info.sourcerpm)}</rpm:sourcerpm>",
        f"    <rpm:header-range{_attributes(start=info.header_start, end=info.header_end)}/>",
        *_relations(info),
        *(_file_line(f.path, f.kind, "    ") for f in info.files if is_primary_file(f.path)),
        "  </format>", "</package>",
    ]
    return "\n".join(lines)


def _package_opening(package: RepoPackage) -> str:
    info = package.info
    return (f"<package{_attributes(pkgid=package.sha256, name=info.name, arch=info.arch)}>\n"
            f"  {_version_line(info)}")


def _filelists_package(package: RepoPackage) -> str:
    files = [_file_line(f.path, f.kind, "  ") for f in package.info.files]
    return "\n".join([_package_opening(package), *files, "</package>"])


def _other_package(package: RepoPackage) -> str:
    # The header lists the newest first; createrepo keeps the newest, oldest first.
    entries = list(reversed(package.info.changelog[:CHANGELOG_LIMIT]))
    lines = [f"  <changelog{_attributes(author=e.author, date=e.date)}>{_text(e.text)}"
             "</changelog>" for e in entries]
    return "\n".join([_package_opening(package), *lines, "</package>"])


def _document(opening: str, parts: Iterable[str], closing: str) -> bytes:
    return (XML_DECLARATION + opening + "\n" + "".join(part + "\n" for part in parts)
            + closing + "\n").encode()


def metadata_files(packages: Sequence[RepoPackage]) -> list[MetadataFile]:
    """primary, filelists and other for `packages`, in the order given."""
    count = len(packages)
    documents = {
        "primary": _document(f'<metadata xmlns="{COMMON_NS}" xmlns:rpm="{RPM_NS}" '
                             f'packages="{count}">', map(_primary_package, packages),
                             "</metadata>"),
        "filelists": _document(f'<filelists xmlns="{FILELISTS_NS}" packages="{count}">',
                               map(_filelists_package, packages), "</filelists>"),
        "other": _document(f'<otherdata xmlns="{OTHER_NS}" packages="{count}">',
                           map(_other_package, packages), "</otherdata>"),
    }
    # mtime=0 and no file name in the gzip header: the same XML always gives the same bytes.
    return [MetadataFile(kind, gzip.compress(data, compresslevel=9, mtime=0), data)
            for kind, data in documents.items()]


def repomd(files: Sequence[MetadataFile], revision: int) -> bytes:
    """repomd.xml: each file's checksums (compressed and open), location, date and sizes."""
    lines = [f'<repomd xmlns="{REPO_NS}" xmlns:rpm="{RPM_NS}">',
             f"  <revision>{revision}</revision>"]
    for file in files:
        lines += [
            f'  <data type="{file.kind}">',
            f'    <checksum type="sha256">{file.sha256}</checksum>',
            f'    <open-checksum type="sha256">{hashlib.sha256(file.open_data).hexdigest()}'
            "</open-checksum>",
            f'    <location href="{file.href}"/>',
            f"    <timestamp>{revision}</timestamp>",
            f"    <size>{len(file.data)}</size>",
            f"    <open-size>{len(file.open_data)}</open-size>",
            "  </data>",
        ]
    lines.append("</repomd>")
    return (XML_DECLARATION + "\n".join(lines) + "\n").encode()


def referenced_files(index: bytes) -> set[str]:
    """The hrefs a repomd.xml names; none when it cannot be read (it is then rewritten)."""
    try:
        root = ElementTree.fromstring(index)
    except ElementTree.ParseError:
        return set()
    return {location.get("href", "") for location in root.iter(f"{{{REPO_NS}}}location")}


def known_digests(repo: Path) -> dict[str, tuple[str, int, int]]:
    """{href: (sha256, size, file time)} from the current primary metadata. Only a shortcut
    (the caller hashes what is not here), so anything unreadable just gives nothing."""
    try:
        root = ElementTree.fromstring((repo / "repodata" / "repomd.xml").read_bytes())
        location = root.find(f"{{{REPO_NS}}}data[@type='primary']/{{{REPO_NS}}}location")
        if location is None:
            return {}
        with gzip.open(repo / location.get("href", ""), "rb") as primary:
            packages = ElementTree.parse(primary).getroot()
    except (OSError, EOFError, ElementTree.ParseError):
        return {}
    known = {}
    for package in packages.iter(f"{{{COMMON_NS}}}package"):
        checksum = package.find(f"{{{COMMON_NS}}}checksum")
        href = package.find(f"{{{COMMON_NS}}}location")
        size = package.find(f"{{{COMMON_NS}}}size")
        time = package.find(f"{{{COMMON_NS}}}time")
        if checksum is None or href is None or size is None or time is None or \
                checksum.get("type") != "sha256":
            continue
        try:
            known[href.get("href", "")] = (checksum.text or "", int(size.get("package", "")),
                                           int(time.get("file", "")))
        except ValueError:
            continue
    return known
