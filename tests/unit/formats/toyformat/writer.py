"""The toy format's writer, made of the shared pieces the real writers use: the members of a
stage, a tar stream and a compressor."""

from __future__ import annotations

from pathlib import Path

from builder.definitions.model import Compression
from builder.formats.compress import compressing
from builder.formats.members import in_payload_order, package_members
from builder.formats.meta import ExtraFile, PackageMeta
from builder.formats.tarstream import write_tar
from builder.package.stage import Stage
from builder.package.version import PackageVersion
from builder.resolve.graph import Graph

EXTENSION = ".tar.gz"


def file_name(meta: PackageMeta) -> str:
    return f"{meta.name}-{meta.version.full}.{meta.arch}{EXTENSION}"


def extras(_root: Path, graph: Graph, version: PackageVersion, _epoch: int) -> list[ExtraFile]:
    return [ExtraFile(".toy/VERSION", f"{graph.project.name} {version.full}\n".encode())]


def build(stage: Stage, meta: PackageMeta, out_dir: Path) -> Path:
    scripts = [ExtraFile(f".toy/{name}", text.encode(), 0o755)
               for name, text in sorted(meta.scripts.items())]
    members = package_members(stage, (*meta.extra_files, *scripts), meta.epoch)
    target = out_dir / file_name(meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as raw, \
            compressing(Compression("gzip", 9), raw, meta.threads) as out:
        write_tar(in_payload_order(members), out, meta.epoch)
    return target
