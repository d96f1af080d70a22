"""Compressed output streams for package payloads: zstd and xz multi-threaded, gzip.

zstd runs in-process (python-zstandard's worker threads); xz runs as `xz -T`, which has no
in-process multi-threaded binding. Both always use their multi-threaded mode, even with one
thread, so the bytes do not depend on how many CPUs the packaging machine has.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

import zstandard

from builder.definitions.model import Compression
from builder.errors import BuilderError

SUFFIX = {"zstd": ".zst", "xz": ".xz", "gzip": ".gz"}
#: zstd's window: 16 MiB (level 9 alone uses 4 MiB) finds matches across neighbouring files,
#: about 5% smaller and no slower on a real tree (BENCHMARKS.md). Decoders accept up to
#: 128 MiB by default (dpkg, rpm, zstd), and need only the window in memory.
ZSTD_WINDOW_LOG = 24
#: xz's dictionary, for every preset: 16 MiB (preset 6 alone uses 8 MiB) makes xz 5 smaller
#: than xz 6 and faster (BENCHMARKS.md); decoding needs about 17 MiB of memory.
XZ_DICTIONARY = "16MiB"
#: Each 32 MiB of input is one job for the worker threads; fixed, because it shapes the
#: output (the thread count does not), and small enough that a 100 MB payload still keeps
#: two cores busy.
ZSTD_JOB_SIZE = 32 << 20


class Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


def thread_count(requested: int) -> int:
    return requested if requested > 0 else max(1, os.cpu_count() or 1)


@contextmanager
def compressing(compression: Compression, out: BinaryIO, threads: int = 0) -> Iterator[Writer]:
    """A writer whose bytes reach `out` compressed; the stream is complete on exit."""
    if compression.type == "zstd":
        compressor = zstandard.ZstdCompressor(
            compression_params=_zstd_parameters(compression.level, thread_count(threads)))
        with compressor.stream_writer(out, closefd=False) as writer:
            yield writer
    elif compression.type == "xz":
        with _xz(compression.level, out, thread_count(threads)) as writer:
            yield writer
    elif compression.type == "gzip":
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compression.level,
                           mtime=0) as writer:
            yield writer
    else:
        raise BuilderError(f"unknown compression '{compression.type}'",
                           hint=f"use one of {', '.join(SUFFIX)}")


def _zstd_parameters(level: int, threads: int) -> zstandard.ZstdCompressionParameters:
    window = max(ZSTD_WINDOW_LOG, zstandard.ZstdCompressionParameters.from_level(level).window_log)
    return zstandard.ZstdCompressionParameters.from_level(
        level, window_log=window, threads=threads, job_size=ZSTD_JOB_SIZE, write_checksum=True)


@contextmanager
def _xz(level: int, out: BinaryIO, threads: int) -> Iterator[Writer]:
    out.flush()
    try:
        process = subprocess.Popen(["xz", f"--lzma2=preset={level},dict={XZ_DICTIONARY}",
                                    f"--threads={threads}", "-c"],
                                   stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
    except FileNotFoundError as error:
        raise BuilderError("xz is not installed", hint="apt-get install xz-utils") from error
    assert process.stdin is not None and process.stderr is not None
    try:
        yield process.stdin
    finally:
        process.stdin.close()
        message = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise BuilderError(f"xz failed: {message.strip()}", hint="see the message above")


def compress_bytes(compression: Compression, data: bytes) -> bytes:
    """Small members (a deb's control.tar) compressed the same way, single-threaded."""
    if compression.type == "zstd":
        return zstandard.ZstdCompressor(level=compression.level, write_checksum=True).compress(data)
    if compression.type == "xz":
        import lzma

        return lzma.compress(data, preset=compression.level, check=lzma.CHECK_CRC64)
    return gzip.compress(data, compresslevel=compression.level, mtime=0)
