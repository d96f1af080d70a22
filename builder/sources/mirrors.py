"""The mirror chain: where sources may be fetched from, tried in order.

Whatever serves the bytes, the checksum in the definition decides whether they are kept, so
a mirror needs no trust. Kinds:
  upstream             the URL (or git remote) in the definition
  debian               the .orig tarball of the Debian source package a definition names,
                       through apt (`apt-get source --download-only`) and its configured mirror
  http  url=TEMPLATE   an HTTP(S) mirror; the template may use {name} {version} {filename}
                       {sha256} {sha512} {checksum}, e.g. https://cache.example.test/{name}/{filename}
  dir   path=DIR       a local directory laid out as DIR/{name}/{filename}
  git   url=TEMPLATE   an alternative git remote for git sources, e.g. https://git.example.test/{name}.git

On the command line: `--mirror upstream`, `--mirror debian`, `--mirror https://...`,
`--mirror dir:/srv/sources`, `--mirror git:https://...`; in a file (`--mirrors FILE`):
    mirrors:
      - {kind: http, url: "https://cache.example.test/{name}/{filename}"}
      - {kind: debian}
      - {kind: upstream}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from builder.definitions.strict import Section, section_of
from builder.definitions.yamlfile import load_yaml_file
from builder.errors import UsageError

MIRROR_KINDS = ("upstream", "debian", "http", "dir", "git")
TEMPLATE_FIELDS = ("name", "version", "filename", "sha256", "sha512", "checksum")


@dataclass(frozen=True)
class Mirror:
    kind: str
    location: str = ""  # URL template or directory, for the kinds that take one

    def describe(self) -> str:
        return f"{self.kind} {self.location}".strip()


DEFAULT_CHAIN = (Mirror("upstream"), Mirror("debian"))


def _check_template(template: str, where: str) -> str:
    try:
        template.format(**dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (KeyError, IndexError, ValueError) as error:
        raise UsageError(
            f"{where}: mirror URL template '{template}' is invalid ({error})",
            hint=f"placeholders allowed: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}",
        ) from error
    if urlsplit(template).scheme not in ("http", "https"):
        raise UsageError(f"{where}: mirror URL '{template}' must start with http:// or https://")
    return template


def parse_mirror(spec: str, where: str = "--mirror") -> Mirror:
    """One mirror from its command-line spelling."""
    if spec in ("upstream", "debian"):
        return Mirror(spec)
    if spec.startswith(("http://", "https://")):
        return Mirror("http", _check_template(spec, where))
    if spec.startswith("dir:"):
        return Mirror("dir", str(Path(spec[4:]).expanduser().resolve()))
    if spec.startswith("git:"):
        return Mirror("git", _check_template(spec[4:], where))
    raise UsageError(
        f"{where}: '{spec}' is not a mirror",
        hint="use upstream, debian, an http(s):// URL template, dir:/path or git:URL-template",
    )


def _mirror_from_section(entry: Section) -> Mirror:
    entry.allow(frozenset({"kind", "url", "path"}))
    kind = entry.str("kind", required=True)
    where = str(entry.location("kind"))
    if kind in ("upstream", "debian"):
        entry.allow(frozenset({"kind"}))
        return Mirror(kind)
    if kind in ("http", "git"):
        entry.allow(frozenset({"kind", "url"}))
        return Mirror(kind, _check_template(entry.str("url", required=True), where))
    if kind == "dir":
        entry.allow(frozenset({"kind", "path"}))
        return Mirror(kind, str(Path(entry.str("path", required=True)).expanduser().resolve()))
    raise entry.error("kind", f"'{kind}' is not a mirror kind",
                      hint=f"use one of: {', '.join(MIRROR_KINDS)}")


def load_mirrors_file(path: Path) -> tuple[Mirror, ...]:
    """A mirror chain from a YAML file; an empty list means: the download cache only."""
    section = Section(path, load_yaml_file(path))
    section.allow(frozenset({"mirrors"}))
    return tuple(_mirror_from_section(section_of(item, location))
                 for item, location in section.items("mirrors"))


def mirror_chain(specs: list[str] | None, file: Path | None) -> tuple[Mirror, ...]:
    """The chain for one run: the file's, then the command line's; the default when neither."""
    chain: list[Mirror] = []
    if file is not None:
        chain += load_mirrors_file(file)
    chain += [parse_mirror(spec) for spec in specs or ()]
    if file is None and not specs:
        return DEFAULT_CHAIN
    return tuple(chain)
