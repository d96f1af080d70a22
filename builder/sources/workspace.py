"""A software's source tree for one build: unpacked, patched, templates rendered."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builder.definitions.loader import PATCHES_DIR
from builder.definitions.model import Software
from builder.definitions.templating import render_step
from builder.digests import ignore_bytecode
from builder.errors import BuilderError
from builder.sources.archives import detect_format
from builder.sources.extract import extract_archive
from builder.sources.fetchers import FetchedSource
from builder.sources.patching import apply_patches
from builder.sources.vendored import place_vendored

TEMPLATES_DIR = ".omnibus-templates"  # inside the source tree, where a build finds them


def _is_archive(path: Path) -> bool:
    try:
        detect_format(path)
    except BuilderError:
        return False
    return True


def _git_export(fetched: FetchedSource, dest: Path) -> Path:
    with tempfile.NamedTemporaryFile(suffix=".tar", dir=dest.parent) as tarball:
        result = subprocess.run(["git", "--git-dir", str(fetched.path), "archive",
                                 "--format=tar", fetched.locked_version],
                                stdout=tarball, stderr=subprocess.PIPE)
        if result.returncode != 0:
            raise BuilderError(f"{fetched.name}: git archive of {fetched.locked_version} failed: "
                               f"{result.stderr.decode(errors='replace').strip()}")
        tarball.flush()
        extract_archive(Path(tarball.name), dest)
    return dest  # a git tree's root is the repository's root, single top dir or not


def unpack_source(fetched: FetchedSource | None, dest: Path) -> Path:
    """Put the source under `dest` (which must not exist) and return the source root."""
    if fetched is None:
        dest.mkdir(parents=True)
        return dest
    if fetched.kind == "git":
        return _git_export(fetched, dest)
    if fetched.kind == "path":
        if not fetched.entries:
            shutil.copytree(fetched.path, dest, symlinks=True, ignore=ignore_bytecode)
            return dest
        dest.mkdir(parents=True)
        for entry in fetched.entries:  # at the same relative path as in the repository
            shutil.copytree(fetched.path / entry, dest / entry, symlinks=True,
                            ignore=ignore_bytecode)
        return dest
    if _is_archive(fetched.path):
        return extract_archive(fetched.path, dest)
    dest.mkdir(parents=True)  # a plain file, such as a certificate bundle
    shutil.copy2(fetched.path, dest / fetched.path.name)
    return dest


def render_templates(software: Software, root: Path, source_root: Path,
                     context: Mapping[str, Any]) -> None:
    for template in software.templates:
        text = (root / "templates" / template).read_text()
        target = source_root / TEMPLATES_DIR / template.removesuffix(".j2")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_step(text, context))


def prepare(software: Software, fetched: FetchedSource | None, root: Path, dest: Path,
            context: Mapping[str, Any], cache_dir: Path | None = None) -> Path:
    """Unpack, place vendored packages, patch and render templates; return the source root
    inside `dest`."""
    source_root = unpack_source(fetched, dest)
    if cache_dir is not None:
        place_vendored(software, root, cache_dir, source_root)
    patches = [root / PATCHES_DIR / software.name / name for name in software.patches]
    apply_patches(source_root, patches, software.name)
    render_templates(software, root, source_root, context)
    return source_root
