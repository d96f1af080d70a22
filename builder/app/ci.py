"""`omnibus ci generate` and `omnibus ci check-licenses`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from builder.ci.licensecheck import check_licenses
from builder.ci.pipeline import generate_pipeline, job_names
from builder.ci.render import render_pipeline
from builder.definitions.model import Catalog
from builder.digests import write_atomic

__all__ = ["check_licenses", "generate"]


def generate(catalog: Catalog, projects: Sequence[str], out: Path | None) -> str:
    """The pipeline's YAML when `out` is None; else written there, and a line saying so."""
    pipeline = generate_pipeline(catalog, list(projects))
    text = render_pipeline(pipeline, list(projects))
    if out is None:
        return text.rstrip("\n")
    write_atomic(out, text.encode())
    return f"wrote {out}: {len(job_names(pipeline))} jobs"
