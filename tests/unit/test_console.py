"""Progress output: a live line on a terminal, short plain logs in CI."""

from __future__ import annotations

import io

from builder.console import ProgressPrinter


def test_ci_output_is_plain_and_rate_limited():
    out = io.StringIO()
    printer = ProgressPrinter(out, interactive=False)
    printer("zlib", "fetching https://example.test/zlib.tar.gz")
    for done in range(5):
        printer("zlib", f"{done} MiB", transient=True)
        printer("status", f"[{done}/5 done] building: zlib", transient=True)
    printer.line("summary")
    lines = out.getvalue().splitlines()
    assert lines == ["  zlib: fetching https://example.test/zlib.tar.gz", "  zlib: 0 MiB",
                     "  status: [0/5 done] building: zlib", "summary"]
    assert "\r" not in out.getvalue()


def test_terminal_output_overwrites_one_status_line():
    out = io.StringIO()
    printer = ProgressPrinter(out, interactive=True)
    printer("status", "[0/2 done] building: zlib 1s", transient=True)
    printer("status", "[0/2 done] building: zlib 2s", transient=True)
    printer("zlib", "built in 2.0 s")
    text = out.getvalue()
    assert text.count("\r\033[K") == 3  # two overwrites, then cleared for a real line
    assert text.endswith("  zlib: built in 2.0 s\n")
