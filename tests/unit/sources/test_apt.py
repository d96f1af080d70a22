"""Choosing which Debian source version to ask apt for, from `apt-cache showsrc` output."""

from __future__ import annotations

from builder.definitions.model import DebianOrig
from builder.sources.debian_archive import candidates, parse_showsrc

SHOWSRC = """\
Package: openssl
Version: 3.5.9-1~deb13u1
Checksums-Sha256:
 aaa1 931 openssl_3.5.9.orig.tar.gz.asc
 aaa2 53279637 openssl_3.5.9.orig.tar.gz
 aaa3 1000 openssl_3.5.9-1~deb13u1.debian.tar.xz
Package-List:
 openssl deb utils optional arch=any

Package: openssl
Version: 3.5.7-1~deb13u3
Checksums-Sha256:
 bbb1 53153930 openssl_3.5.7.orig.tar.gz
 bbb2 1000 openssl_3.5.7-1~deb13u3.debian.tar.xz

Package: openssl
Version: 3.5.7-1~deb13u2
Checksums-Sha256:
 bbb1 53153930 openssl_3.5.7.orig.tar.gz

Package: ca-certificates
Version: 20230311+deb12u1
Format: 3.0 (native)
Checksums-Sha256:
 ccc1 259756 ca-certificates_20230311+deb12u1.tar.xz
"""


def test_every_revision_carrying_the_tarball_is_a_candidate_pinned_first():
    versions = parse_showsrc(SHOWSRC)
    assert [v.version for v in versions][:3] == ["3.5.9-1~deb13u1", "3.5.7-1~deb13u3",
                                                "3.5.7-1~deb13u2"]
    found = candidates(DebianOrig("openssl", "3.5.7-1~deb13u2"), "bbb1", versions)
    assert found == [("3.5.7-1~deb13u2", "openssl_3.5.7.orig.tar.gz"),
                     ("3.5.7-1~deb13u3", "openssl_3.5.7.orig.tar.gz")]


def test_native_tarball_and_no_match():
    versions = parse_showsrc(SHOWSRC)
    assert candidates(DebianOrig("ca-certificates"), "ccc1", versions) == [
        ("20230311+deb12u1", "ca-certificates_20230311+deb12u1.tar.xz")]
    assert candidates(DebianOrig("openssl"), "zzz", versions) == []
    # signatures and Debian packaging tarballs are never taken for the source
    assert candidates(DebianOrig("openssl"), "aaa1", versions) == []
    assert candidates(DebianOrig("openssl"), "aaa3", versions) == []
