"""What the environment may change in definitions at load time, as omnibus-gitlab reads it.

Two kinds, both data in the definitions, applied by `load_catalog` after versions read from
files (`version: {file, env}`):

- the sources channel: which remote a git source is fetched from. `SECURITY_SOURCES=true`
  takes the `security` remote, falling back to the channel below where a source has none;
  `ALTERNATIVE_SOURCES=false` takes the `remote` one; otherwise `git:` itself (omnibus-gitlab's
  "alternative" channel, its default). Remotes are a git source's `channels:` mapping
  (omnibus-gitlab's .custom_sources.yml); a source without the chosen one keeps `git:`.
- a selectable version: `selectable_versions: {env, versions, aliases}` lets one variable
  pick another pinned version (RUBY_VERSION=next or a version; OPENSSL_VERSION), whose pin
  replaces the source's url and checksum or git ref, or names another definition built in
  this one's place under this one's name (OPENSSL_VERSION=1.1.1w builds openssl_1).

Values that are not allowed stop loading with the variable, the value and the allowed ones.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from builder.definitions.model import (
    GitSource,
    SelectableVersions,
    Software,
    Source,
    UrlSource,
    VersionPin,
    frozen_map,
)
from builder.definitions.strict import Section
from builder.errors import DefinitionError, Location, UsageError

ALTERNATIVE, REMOTE, SECURITY = "alternative", "remote", "security"
#: The channels a git source may name besides its default (`git:`, the alternative one).
CHANNELS = (REMOTE, SECURITY)
SOURCE_FLAGS = ("SECURITY_SOURCES", "ALTERNATIVE_SOURCES")
FLAG_VALUES = ("true", "false")
PIN_KEYS = frozenset({"url", "sha256", "sha512", "ref", "definition"})
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "sha512": re.compile(r"[0-9a-f]{128}")}


# --- reading (the definition's keys) ------------------------------------------------------

def read_channels(source: Section) -> Mapping[str, str]:
    """A git source's `channels: {remote, security}`: the same repository elsewhere."""
    channels = source.section("channels")
    if channels is None:
        return frozen_map()
    channels.allow(frozenset(CHANNELS))
    return frozen_map({name: channels.str(name, required=True) for name in channels.data})


def read_selectable(section: Section, version: str, source: Source | None,
                    ) -> SelectableVersions | None:
    spec = section.section("selectable_versions")
    if spec is None:
        return None
    spec.allow(frozenset({"env", "versions", "aliases"}))
    listed = spec.section("versions", True)
    if not listed.data:
        raise spec.error("versions", "needs at least one version")
    versions = {str(name): _read_pin(listed, str(name), source) for name in listed.data}
    if version not in versions:
        raise spec.error("versions", f"does not list the definition's own version '{version}'",
                         hint="list it, with the same pin as `source`, so it can be selected")
    aliases = spec.str_map("aliases")
    for alias, target in aliases.items():
        if target not in versions:
            raise spec.error("aliases", f"'{alias}' names '{target}', which `versions` does "
                             "not list", hint=f"use one of: {', '.join(versions)}")
    return SelectableVersions(spec.str("env", required=True), frozen_map(versions),
                              frozen_map(aliases))


def _read_pin(listed: Section, name: str, source: Source | None) -> VersionPin:
    pin = listed.section(name, True)
    pin.allow(PIN_KEYS)
    values = {key: pin.str(key) for key in PIN_KEYS if pin.has(key)}
    if "definition" in values:
        if len(values) > 1:
            raise pin.error(None, "a version built by another definition takes only "
                            "`definition`")
        return VersionPin(definition=values["definition"])
    if isinstance(source, GitSource):
        wanted, allowed = {"ref"}, {"ref"}
    elif isinstance(source, UrlSource) and source.url:
        wanted, allowed = {"url"}, {"url", "sha256", "sha512"}
    else:
        raise pin.error(None, "only a url or git source can take another version's pin",
                        hint="or name the definition built instead: {definition: NAME}")
    sums = [key for key in ("sha256", "sha512") if key in values]
    if not wanted <= set(values) or not set(values) <= allowed or \
            (isinstance(source, UrlSource) and len(sums) != 1):
        needs = "ref" if wanted == {"ref"} else "url and one of sha256 or sha512"
        raise pin.error(None, f"a {source.kind} source's version needs {needs}")
    for key in sums:
        if not _HEX[key].fullmatch(values[key].lower()):
            raise pin.error(key, f"is not a {key} hex digest")
    return VersionPin(**values)


def read_upstream_differences(section: Section) -> Mapping[str, str]:
    reasons = section.section("upstream_differences")
    if reasons is None:
        return frozen_map()
    reasons.allow(frozenset({"version", "source", "dependencies"}))
    return frozen_map({key: reasons.str(key, required=True) for key in reasons.data})


# --- applying (at load time) --------------------------------------------------------------

def _flag(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if value and value not in FLAG_VALUES:
        raise UsageError(f"{name}='{value}' is not one of: {', '.join(FLAG_VALUES)}",
                         hint=f"unset {name}, or set it to true or false")
    return value


def sources_channel(environ: Mapping[str, str]) -> tuple[str, str]:
    """The channel git sources are fetched from, and the one a source without it falls back
    to (omnibus-gitlab's Gitlab::Version.sources_channel and fallback_sources_channel)."""
    fallback = REMOTE if _flag(environ, "ALTERNATIVE_SOURCES") == "false" else ALTERNATIVE
    if _flag(environ, "SECURITY_SOURCES") == "true":
        return SECURITY, fallback
    return fallback, fallback


def with_channel(software: Software, channel: str, fallback: str) -> Software:
    source = software.source
    if not isinstance(source, GitSource) or channel == ALTERNATIVE:
        return software
    remote = source.channels.get(channel)
    if remote is None and fallback != ALTERNATIVE:
        remote = source.channels.get(fallback)
    if remote is None or remote == source.git:
        return software
    return dataclasses.replace(software, source=dataclasses.replace(source, git=remote))


def with_selected_version(software: Software, environ: Mapping[str, str],
                          catalog: Mapping[str, Software]) -> Software:
    """The definition at the version its variable selects (unchanged when it is unset)."""
    choice = software.selectable_versions
    value = environ.get(choice.env, "").strip() if choice else ""
    if choice is None or not value:
        return software
    version = choice.aliases.get(value, value)
    pin = choice.versions.get(version)
    if pin is None:
        allowed = [*choice.aliases, *choice.versions]
        raise UsageError(
            f"{choice.env}='{value}' is not a version {software.file} pins for {software.name}",
            hint=f"use one of: {', '.join(allowed)} (or add the version and its checksum or "
            "ref to its selectable_versions)")
    if pin.definition:
        other = catalog[pin.definition]  # checked by check_selectable
        return dataclasses.replace(other, name=software.name)
    return dataclasses.replace(software, version=version, source=_pinned(software.source, pin))


def _pinned(source: Source | None, pin: VersionPin) -> Source | None:
    if isinstance(source, GitSource):
        return dataclasses.replace(source, ref=pin.ref or source.ref)
    if isinstance(source, UrlSource):
        return dataclasses.replace(source, url=pin.url, sha256=pin.sha256, sha512=pin.sha512,
                                   debian=None)
    return source


def check_selectable(software: Mapping[str, Software]) -> None:
    """A version built by another definition names one that exists."""
    for item in software.values():
        choice = item.selectable_versions
        for version, pin in (choice.versions if choice else {}).items():
            if pin.definition and pin.definition not in software:
                raise DefinitionError(
                    Location(item.file, None, f"selectable_versions.versions.{version}"),
                    f"names definition '{pin.definition}', which does not exist",
                    hint=f"add software/{pin.definition}.yml or fix the name")


def apply_overrides(software: Mapping[str, Software],
                    environ: Mapping[str, str]) -> dict[str, Software]:
    """Every definition with its selected version, then its git remote from the channel."""
    check_selectable(software)
    channel, fallback = sources_channel(environ)
    selected = {name: with_selected_version(item, environ, software)
                for name, item in software.items()}
    return {name: with_channel(item, channel, fallback) for name, item in selected.items()}
