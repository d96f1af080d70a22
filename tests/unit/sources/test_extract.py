"""Safe extraction: every archive here is crafted in tmp_path, hostile ones included."""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from builder.errors import BuilderError, UnsafeArchiveError
from builder.sources import extract
from builder.sources.extract import extract_archive

T0 = 1_500_000_000
Entry = tuple[tarfile.TarInfo, bytes]

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": zstandard.ZstdCompressor().compress,
}


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
          link: str = "", mtime: float = T0) -> Entry:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def tar_bytes(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def zip_bytes(entries: list[tuple[str, bytes, int]], unix: bool = True) -> bytes:
    """(name, data, st_mode) per member; st_mode 0 leaves the Unix attributes out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 2, 3, 4, 6))
            info.create_system = 3 if unix else 0
            info.external_attr = mode << 16 | (0x10 if name.endswith("/") else 0)
            zf.writestr(info, data)
    return buffer.getvalue()


class Work:
    """Archives in one directory, the destination in another, so leftovers are easy to see."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archives = root / "archives"
        self.out = root / "out"
        self.archives.mkdir()
        self.out.mkdir()
        self.dest = self.out / "src"

    def archive(self, name: str, data: bytes) -> Path:
        path = self.archives / name
        path.write_bytes(data)
        return path

    def tar(self, entries: list[Entry], name: str = "src.tar", compression: str = "") -> Path:
        return self.archive(name, COMPRESSORS[compression](tar_bytes(entries)))

    def assert_nothing_left(self) -> None:
        # Nothing in the output directory, and nothing written anywhere else either.
        assert list(self.out.iterdir()) == []
        written = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))
        assert written == ["archives", *(f"archives/{p.name}" for p in
                                         sorted(self.archives.iterdir())), "out"]


@pytest.fixture
def work(tmp_path: Path) -> Work:
    return Work(tmp_path)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- hostile members ------------------------------------------------------------------------

UNSAFE_TAR = [
    ("absolute-path", [entry("/tmp/evil", data=b"x")], "/tmp/evil", "is an absolute path"),
    ("dotdot", [entry("pkg/", tarfile.DIRTYPE), entry("pkg/../../evil", data=b"x")],
     "pkg/../../evil", "escapes the extraction directory through '..'"),
    ("symlink-escape", [entry("pkg/link", tarfile.SYMTYPE, link="../../etc")], "pkg/link",
     "is a symlink pointing outside the tree (-> ../../etc)"),
    ("absolute-symlink", [entry("link", tarfile.SYMTYPE, link="/etc/passwd")], "link",
     "is a symlink pointing outside the tree (-> /etc/passwd)"),
    ("symlink-chain", [entry("p/q/s", tarfile.SYMTYPE, link="../.."),
                       entry("p/q/t", tarfile.SYMTYPE, link="s/..")], "p/q/t",
     "is a symlink pointing outside the tree through other symlinks (-> s/..)"),
    ("hardlink-escape", [entry("pkg/hard", tarfile.LNKTYPE, link="../outside")], "pkg/hard",
     "is a hardlink pointing outside the tree (-> ../outside)"),
    ("hardlink-absolute", [entry("hard", tarfile.LNKTYPE, link="/etc/passwd")], "hard",
     "is a hardlink pointing outside the tree (-> /etc/passwd)"),
    ("hardlink-to-later-member", [entry("pkg/hard", tarfile.LNKTYPE, link="pkg/file"),
                                  entry("pkg/file", data=b"x")], "pkg/hard",
     "is a hardlink to 'pkg/file', which is not an earlier regular file in the archive"),
    ("hardlink-to-symlink", [entry("pkg/l", tarfile.SYMTYPE, link="f"),
                             entry("pkg/h", tarfile.LNKTYPE, link="pkg/l")], "pkg/h",
     "is a hardlink to 'pkg/l', which is not an earlier regular file in the archive"),
    ("char-device", [entry("pkg/", tarfile.DIRTYPE), entry("pkg/null", tarfile.CHRTYPE)],
     "pkg/null", "is a device file"),
    ("block-device", [entry("pkg/sda", tarfile.BLKTYPE)], "pkg/sda", "is a device file"),
    ("fifo", [entry("pkg/pipe", tarfile.FIFOTYPE)], "pkg/pipe", "is a FIFO"),
    ("write-through-symlink", [entry("pkg/", tarfile.DIRTYPE),
                               entry("pkg/link", tarfile.SYMTYPE, link="."),
                               entry("pkg/link/file", data=b"x")], "pkg/link/file",
     "would be written through the symlink 'pkg/link'"),
    ("file-as-directory", [entry("pkg/a", data=b"x"), entry("pkg/a/b", data=b"y")], "pkg/a/b",
     "needs 'pkg/a' to be a directory, but an earlier member is a file there"),
]


@pytest.mark.parametrize(("entries", "member", "problem"),
                         [case[1:] for case in UNSAFE_TAR], ids=[case[0] for case in UNSAFE_TAR])
def test_hostile_tar_member_is_refused_and_nothing_is_left(work, entries, member, problem):
    archive = work.tar([entry("pkg/README", data=b"first"), *entries], compression="gz",
                       name="hostile.tar.gz")
    with pytest.raises(UnsafeArchiveError) as raised:
        extract_archive(archive, work.dest)
    assert raised.value.archive == str(archive)
    assert raised.value.member == member
    assert str(raised.value) == f"refusing to extract {archive}: member '{member}' {problem}"
    work.assert_nothing_left()


UNSAFE_ZIP = [
    ("zip-dotdot", [("../evil", b"x", 0o100644)], "../evil",
     "escapes the extraction directory through '..'"),
    ("zip-absolute", [("/evil", b"x", 0o100644)], "/evil", "is an absolute path"),
    ("zip-symlink-escape", [("pkg/link", b"../../etc", 0o120777)], "pkg/link",
     "is a symlink pointing outside the tree (-> ../../etc)"),
    ("zip-absolute-symlink", [("link", b"/etc/passwd", 0o120777)], "link",
     "is a symlink pointing outside the tree (-> /etc/passwd)"),
    ("zip-write-through-symlink", [("pkg/link", b".", 0o120777), ("pkg/link/x", b"", 0o100644)],
     "pkg/link/x", "would be written through the symlink 'pkg/link'"),
    ("zip-fifo", [("pkg/pipe", b"", 0o010644)], "pkg/pipe", "is a FIFO"),
    ("zip-device", [("pkg/null", b"", 0o020644)], "pkg/null", "is a device file"),
]


@pytest.mark.parametrize(("entries", "member", "problem"),
                         [case[1:] for case in UNSAFE_ZIP], ids=[case[0] for case in UNSAFE_ZIP])
def test_hostile_zip_member_is_refused_and_nothing_is_left(work, entries, member, problem):
    archive = work.archive("hostile.zip", zip_bytes([("pkg/ok", b"fine", 0o100644), *entries]))
    with pytest.raises(UnsafeArchiveError) as raised:
        extract_archive(archive, work.dest)
    assert (raised.value.archive, raised.value.member) == (str(archive), member)
    assert str(raised.value).endswith(f"member '{member}' {problem}")
    work.assert_nothing_left()


def test_harmless_dotdot_inside_the_tree_is_allowed(work):
    archive = work.tar([entry("pkg/sub/../file", data=b"x"),
                        entry("pkg/up", tarfile.SYMTYPE, link="../pkg/./file")])
    root = extract_archive(archive, work.dest)
    assert files_under(root) == ["file", "up"]
    assert (root / "up").read_bytes() == b"x"


# -- round trips ----------------------------------------------------------------------------

LONG_DIR = "pkg/" + "d" * 120  # over the 100 bytes of a plain ustar name: needs a pax header
SAMPLE = [
    entry("pkg/", tarfile.DIRTYPE, mode=0o755, mtime=T0),
    entry("pkg/README", data=b"read me\n", mtime=T0 + 1),
    entry("pkg/bin/tool", data=b"#!/bin/sh\necho hi\n", mode=0o755, mtime=T0 + 2),
    entry("pkg/link", tarfile.SYMTYPE, link="README"),
    entry("pkg/bin/up", tarfile.SYMTYPE, link="../README"),
    entry("pkg/hard", tarfile.LNKTYPE, link="pkg/README"),
    entry(f"{LONG_DIR}/file", data=b"deep"),
]


def assert_sample(root: Path) -> None:
    assert files_under(root) == ["README", "bin", "bin/tool", "bin/up", "d" * 120,
                                 f"{'d' * 120}/file", "hard", "link"]
    assert (root / "README").read_bytes() == b"read me\n"
    assert stat.S_IMODE((root / "bin/tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "README").stat().st_mode) == 0o644
    assert os.readlink(root / "link") == "README"
    assert (root / "bin/up").read_bytes() == b"read me\n"
    assert (root / "hard").stat().st_ino == (root / "README").stat().st_ino
    assert (root / "README").stat().st_mtime == T0 + 1
    assert (root / "bin/tool").stat().st_mtime == T0 + 2
    assert root.stat().st_mtime == T0  # set after everything inside it was written


@pytest.mark.parametrize(("compression", "name"), [
    ("", "src.tar"), ("gz", "src.tar.gz"), ("gz", "src.tgz"), ("bz2", "src.tar.bz2"),
    ("bz2", "src.tbz2"), ("xz", "src.tar.xz"), ("xz", "src.txz"), ("zst", "src.tar.zst"),
    ("zst", "src.tzst"),
])
def test_every_tar_compression_round_trips(work, compression, name):
    archive = work.tar(SAMPLE, name=name, compression=compression)
    root = extract_archive(archive, work.dest)
    assert root == work.dest / "pkg"
    assert_sample(root)
    assert list(work.out.iterdir()) == [work.dest]


@pytest.mark.parametrize(("compression", "name"), [
    ("gz", "misnamed.tar.xz"), ("xz", "misnamed.tar.gz"), ("zst", "misnamed.tgz"),
    ("", "misnamed.tar.bz2"), ("gz", "no-extension"),
])
def test_format_comes_from_the_magic_bytes_not_the_name(work, compression, name):
    archive = work.tar(SAMPLE, name=name, compression=compression)
    assert_sample(extract_archive(archive, work.dest))


def test_zstd_stream_of_several_frames_is_read_to_the_end(work):
    data = tar_bytes(SAMPLE)
    compressor = zstandard.ZstdCompressor()
    frames = compressor.compress(data[:1000]) + compressor.compress(data[1000:])
    assert_sample(extract_archive(work.archive("src.tar.zst", frames), work.dest))


def test_zip_round_trips_with_symlink_and_executable_bit(work):
    archive = work.archive("src.zip", zip_bytes([
        ("pkg/", b"", 0o040755),
        ("pkg/tool", b"#!/bin/sh\n", 0o100755),
        ("pkg/data.txt", b"data", 0o100664),
        ("pkg/link", b"tool", 0o120777),
        ("pkg/sub/deep.txt", b"deep", 0o100644),
    ]))
    root = extract_archive(archive, work.dest)
    assert root == work.dest / "pkg"
    assert files_under(root) == ["data.txt", "link", "sub", "sub/deep.txt", "tool"]
    assert stat.S_IMODE((root / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "data.txt").stat().st_mode) == 0o644  # group write dropped
    assert os.readlink(root / "link") == "tool"
    assert (root / "sub/deep.txt").read_bytes() == b"deep"


def test_zip_without_unix_attributes_gets_plain_modes(work):
    archive = work.archive("win.zip", zip_bytes([("dir/", b"", 0), ("dir/a.txt", b"a", 0)],
                                                 unix=False))
    root = extract_archive(archive, work.dest)
    assert stat.S_IMODE((root / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE(root.stat().st_mode) == 0o755


# -- modes, times and the source root -------------------------------------------------------


def test_modes_are_sanitised(work):
    archive = work.tar([
        entry("pkg/", tarfile.DIRTYPE, mode=0o1777),
        entry("pkg/setuid", data=b"x", mode=0o4777),
        entry("pkg/setgid", data=b"x", mode=0o2775),
        entry("pkg/shared", data=b"x", mode=0o666),
        entry("pkg/readonly", data=b"x", mode=0o444),
        entry("pkg/open/", tarfile.DIRTYPE, mode=0o777),
        entry("pkg/implicit/file", data=b"x", mode=0o600),
    ])
    old_umask = os.umask(0o077)  # implicit directories must not depend on the umask
    try:
        root = extract_archive(archive, work.dest)
    finally:
        os.umask(old_umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}
    assert modes == {"pkg": 0o755, "setuid": 0o755, "setgid": 0o755, "shared": 0o644,
                     "readonly": 0o444, "open": 0o755, "implicit": 0o755, "file": 0o600}
    assert stat.S_IMODE(work.dest.stat().st_mode) == 0o755


@pytest.mark.parametrize(("names", "expected"), [
    (["pkg/a", "pkg/b/c"], "pkg"),
    (["./pkg/a", "./pkg/b"], "pkg"),
    (["pkg/a", "other/b"], ""),
    (["pkg/a", "README"], ""),
    (["README"], ""),
])
def test_source_root_is_the_single_top_level_directory(work, names, expected):
    archive = work.tar([entry(name, data=b"x") for name in names])
    assert extract_archive(archive, work.dest) == work.dest / expected


def test_single_top_level_symlink_is_not_the_source_root(work):
    archive = work.tar([entry("link", tarfile.SYMTYPE, link=".")])
    assert extract_archive(archive, work.dest) == work.dest


def test_later_member_replaces_earlier_one_without_writing_through_it(work):
    archive = work.tar([
        entry("pkg/target", data=b"original"),
        entry("pkg/name", tarfile.SYMTYPE, link="target"),
        entry("pkg/name", data=b"replacement"),
        entry("pkg/again", data=b"old"),
        entry("pkg/again", data=b"new"),
    ])
    root = extract_archive(archive, work.dest)
    assert (root / "target").read_bytes() == b"original"
    assert not (root / "name").is_symlink()
    assert (root / "name").read_bytes() == b"replacement"
    assert (root / "again").read_bytes() == b"new"


# -- damaged archives and failures ----------------------------------------------------------


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flip_crc(data: bytes) -> bytes:
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]  # gzip trailer: CRC32, then size


def zst_cut_in_padding(data: bytes) -> bytes:
    """A zstd stream cut inside a last frame that holds only the tar's zero padding.

    Everything the tar needs decompresses fine, so only the decompressor can notice.
    """
    compressor = zstandard.ZstdCompressor()
    return (compressor.compress(data[:-1024]) + compressor.compress(data[-1024:]))[:-3]


BIG = [entry("pkg/", tarfile.DIRTYPE), entry("pkg/random", data=os.urandom(64 * 1024)),
       entry("pkg/after", data=b"x")]


@pytest.mark.parametrize(("name", "damage"), [
    ("src.tar.gz", lambda: truncated(gzip.compress(tar_bytes(BIG)))),
    ("src.tar.gz", lambda: flip_crc(gzip.compress(tar_bytes(BIG)))),
    ("src.tar.gz", lambda: gzip.compress(tar_bytes(BIG))[:-4]),  # cut in the trailer
    ("src.tar.bz2", lambda: truncated(bz2.compress(tar_bytes(BIG)))),
    ("src.tar.xz", lambda: truncated(lzma.compress(tar_bytes(BIG)))),
    ("src.tar.zst", lambda: truncated(zstandard.ZstdCompressor().compress(tar_bytes(BIG)))),
    ("src.tar.zst", lambda: zst_cut_in_padding(tar_bytes(BIG))),
    ("src.tar", lambda: truncated(tar_bytes(BIG))),
    ("src.tar", lambda: tar_bytes(BIG)[:512 + 64 * 1024]),  # ends where a header should be
    ("src.tar", lambda: tar_bytes(BIG)[:512 + 64 * 1024] + b"\x01" * 512),  # garbled header
    ("src.zip", lambda: truncated(zip_bytes([("pkg/a", os.urandom(4096), 0o100644)]))),
], ids=["gz-truncated", "gz-bad-crc", "gz-cut-trailer", "bz2", "xz", "zst",
        "zst-cut-in-padding", "tar-mid-data", "tar-at-header",
        "tar-garbled-header", "zip"])
def test_damaged_archive_gives_a_clear_error_and_leaves_nothing(work, name, damage):
    archive = work.archive(name, damage())
    with pytest.raises(BuilderError) as raised:
        extract_archive(archive, work.dest)
    assert not isinstance(raised.value, UnsafeArchiveError)
    assert str(raised.value).startswith(f"cannot extract {archive}: corrupt or truncated "
                                        "archive: ")
    assert "download cache" in raised.value.hint
    work.assert_nothing_left()


def test_file_that_is_no_archive_is_refused(work):
    archive = work.archive("notes.tar.gz", b"just some text\n")
    with pytest.raises(BuilderError, match=r"not a tar, .* or zip archive \(starts with bytes"):
        extract_archive(archive, work.dest)
    work.assert_nothing_left()


def test_missing_archive_and_existing_destination_are_errors(work):
    with pytest.raises(BuilderError, match=r"cannot read .*missing\.tar\.gz: No such file"):
        extract_archive(work.archives / "missing.tar.gz", work.dest)
    archive = work.tar(SAMPLE)
    work.dest.mkdir()
    (work.dest / "keep").write_text("mine")
    with pytest.raises(BuilderError, match="already exists"):
        extract_archive(archive, work.dest)
    assert files_under(work.dest) == ["keep"]


def test_destination_parent_is_created(work):
    dest = work.out / "a" / "b" / "src"
    assert extract_archive(work.tar(SAMPLE), dest) == dest / "pkg"


def test_write_error_names_the_member_and_leaves_nothing(work, monkeypatch):
    def full_disk(source, out):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(extract, "_copy_data", full_disk)
    with pytest.raises(BuilderError) as raised:
        extract_archive(work.tar(SAMPLE), work.dest)
    assert "(member 'pkg/README')" in str(raised.value)
    assert "No space left on device" in str(raised.value)
    assert "free space" in raised.value.hint
    work.assert_nothing_left()


def test_interrupt_leaves_nothing(work, monkeypatch):
    def interrupted(source, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(extract, "_copy_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_archive(work.tar(SAMPLE, name="src.tar.zst", compression="zst"), work.dest)
    work.assert_nothing_left()
