"""`omnibus ci generate` and `omnibus ci check-licenses`."""

from __future__ import annotations

import argparse

from builder.cache import write_atomic
from builder.ci.licensecheck import check_licenses
from builder.ci.pipeline import generate_pipeline, job_names
from builder.ci.render import render_pipeline
from builder.model import Catalog


def run_ci(catalog: Catalog, args: argparse.Namespace) -> str:
    if args.ci_verb == "check-licenses":
        return check_licenses(catalog, args.projects)
    pipeline = generate_pipeline(catalog, args.projects)
    text = render_pipeline(pipeline, args.projects)
    if args.out is None:
        return text.rstrip("\n")
    write_atomic(args.out, text.encode())
    return f"wrote {args.out}: {len(job_names(pipeline))} jobs"
