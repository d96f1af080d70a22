"""What packaging makes of the staged tree for Debian's and rpm's conventions: absolute
symlinks inside the install dir staged relative (as dh_link makes them), message catalogs
marked with their language in the rpm (as %find_lang does), and a deb copyright file that
points to the texts Debian keeps in /usr/share/common-licenses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.definitions.loader import load_catalog
from builder.formats.deb import writer as deb
from builder.formats.members import Member
from builder.formats.rpm import writer as rpm
from builder.formats.scripts import common_licenses, copyright_text
from builder.package.healthcheck import check_stage
from builder.package.stage import make_stage, relative_target
from builder.resolve.graph import resolve
from tests.packaging_helpers import toy_meta


def linked_tree(base: Path) -> Path:
    """Links as builds make them: absolute ones into the install dir (postgresql's into
    embedded/bin, bzip2's beside their target), one leaving it, one below a linked dir."""
    tree = base / "tree"
    (tree / "embedded" / "postgresql" / "15" / "bin").mkdir(parents=True)
    (tree / "embedded" / "postgresql" / "15" / "bin" / "psql").write_text("#!/bin/sh\n")
    (tree / "embedded" / "bin").mkdir()
    (tree / "embedded" / "bin" / "bzdiff").write_text("#!/bin/sh\n")
    os.symlink("/opt/toy/embedded/postgresql/15/bin/psql", tree / "embedded" / "bin" / "psql")
    os.symlink("/opt/toy/embedded/bin/bzdiff", tree / "embedded" / "bin" / "bzcmp")
    os.symlink("/opt/toy", tree / "embedded" / "root")
    os.symlink("/etc/ssl/certs", tree / "embedded" / "certs")
    os.symlink("postgresql/15", tree / "embedded" / "current")
    return tree


def test_absolute_links_inside_the_install_dir_are_staged_relative(tmp_path):
    stage = make_stage([("toy", linked_tree(tmp_path), ())], "/opt/toy", [], tmp_path / "st")
    targets = {e.path.removeprefix("opt/toy/"): e.target for e in stage.entries
               if e.kind == "symlink"}
    assert targets == {"embedded/bin/psql": "../postgresql/15/bin/psql",
                       "embedded/bin/bzcmp": "bzdiff", "embedded/root": "..",
                       "embedded/certs": "/etc/ssl/certs", "embedded/current": "postgresql/15"}
    for path, target in targets.items():
        assert os.readlink(stage.root / "opt/toy" / path) == target
    assert (stage.root / "opt/toy/embedded/bin/psql").read_text() == "#!/bin/sh\n"
    # the health check still finds where they point (and the one leaving the tree)
    offences = check_stage(stage, (), "", {})
    assert [(o.path, o.rule) for o in offences] == [
        ("/opt/toy/embedded/certs", "absolute symlink leaving the install dir")]


def test_a_link_below_a_linked_directory_keeps_its_absolute_target():
    # opt/toy/embedded/current is a link: a relative target from below it would resolve from
    # where it points, not from where it is listed
    links = frozenset({"opt/toy/embedded/current"})
    assert relative_target("opt/toy/embedded/current/bin/x", "/opt/toy/embedded/bin/y",
                           "/opt/toy", links) == "/opt/toy/embedded/bin/y"
    assert relative_target("opt/toy/embedded/bin/x", "/opt/toy/embedded/bin/y", "/opt/toy",
                           links) == "y"
    assert relative_target("opt/toy/bin/x", "/opt/toyland/y", "/opt/toy") == "/opt/toyland/y"


def test_the_packages_carry_the_relative_links(tmp_path):
    stage = make_stage([("toy", linked_tree(tmp_path), ())], "/opt/toy", [], tmp_path / "st")
    package = deb.build(stage, toy_meta(), tmp_path / "pkg")
    listing = subprocess.run(["dpkg-deb", "--contents", str(package)], check=True,
                             capture_output=True, text=True).stdout
    assert "./opt/toy/embedded/bin/psql -> ../postgresql/15/bin/psql\n" in listing
    assert " -> /opt/toy" not in listing


def test_message_catalogs_are_marked_with_their_language(tmp_path):
    member = Member("opt/toy/embedded/share/locale/pt_BR/LC_MESSAGES/xz.mo", "file", 0o644, 1,
                    0)
    assert rpm.file_lang(member) == "pt_BR"
    assert rpm.file_lang(Member("opt/toy/embedded/share/locale/de", "dir", 0o755, 0, 0)) == ""
    assert rpm.file_lang(Member("opt/toy/share/locale.mo", "file", 0o644, 1, 0)) == ""
    tree = tmp_path / "tree"
    for lang in ("de", "pt_BR"):
        catalog = tree / "share" / "locale" / lang / "LC_MESSAGES" / "xz.mo"
        catalog.parent.mkdir(parents=True)
        catalog.write_bytes(b"\xde\x12\x04\x95" + lang.encode())
    (tree / "share" / "README").write_text("readme\n")
    stage = make_stage([("toy", tree, ())], "/opt/toy", [], tmp_path / "st")
    package = rpm.build(stage, toy_meta("rpm"), tmp_path / "pkg")
    listing = subprocess.run(["rpm", "-qp", "--queryformat", "[%{FILENAMES}=%{FILELANGS}\n]",
                              str(package)], check=True, capture_output=True, text=True).stdout
    langs = dict(line.split("=") for line in listing.splitlines())
    assert langs["/opt/toy/share/locale/de/LC_MESSAGES/xz.mo"] == "de"
    assert langs["/opt/toy/share/locale/pt_BR/LC_MESSAGES/xz.mo"] == "pt_BR"
    assert langs["/opt/toy/share/README"] == "" and langs["/opt/toy/share/locale/de"] == ""


def test_common_licenses_are_found_by_their_spdx_ids():
    assert common_licenses(["MIT", "BSD-3-Clause", "PostgreSQL"]) == []
    assert common_licenses(["GPL-2.0-only", "LGPL-2.1-or-later AND MIT",
                            "Apache-2.0 WITH LLVM-exception", "AGPL-3.0-only"]) == [
        ("Apache-2.0", "/usr/share/common-licenses/Apache-2.0"),
        ("GPL-2.0-only", "/usr/share/common-licenses/GPL-2"),
        ("LGPL-2.1-or-later", "/usr/share/common-licenses/LGPL-2.1")]


@pytest.fixture(scope="module")
def local_graph():
    root = Path(__file__).resolve().parents[3]
    catalog = load_catalog(root)
    return resolve(catalog, catalog.projects["gitlab-local"], catalog.platforms["debian-12"],
                   "amd64")


def test_the_deb_copyright_points_to_the_common_licenses(local_graph):
    text = copyright_text(local_graph, 1704067200, debian=True)
    assert "  git-debian " in text and "GPL-2.0-only" in text
    assert "On Debian systems, the complete texts of these licenses are in " \
        "/usr/share/common-licenses/:" in text
    listed = dict(line.split() for line in text.split("common-licenses/:\n\n")[1].splitlines())
    assert listed == {"Apache-2.0": "/usr/share/common-licenses/Apache-2.0",
                      "GPL-2.0-only": "/usr/share/common-licenses/GPL-2",
                      "GPL-2.0-or-later": "/usr/share/common-licenses/GPL-2",
                      "MPL-2.0": "/usr/share/common-licenses/MPL-2.0"}
    # the rpm's COPYRIGHT names no Debian paths
    assert "common-licenses" not in copyright_text(local_graph, 1704067200)


def test_identical_license_texts_are_staged_as_one_file(tmp_path):
    layers = []
    for name, text in (("one", "Apache\n"), ("two", "Apache\n"), ("three", "MIT\n")):
        tree = tmp_path / name
        (tree / "LICENSES").mkdir(parents=True)
        (tree / "LICENSES" / f"{name}-LICENSE").write_text(text)
        (tree / "bin").mkdir()
        (tree / "bin" / f"{name}-tool").write_text("Apache\n")  # not a license: kept apart
        layers.append((name, tree, ()))
    stage = make_stage(layers, "/opt/toy", [], tmp_path / "stage")
    inode = {e.path.removeprefix("opt/toy/"): os.stat(stage.root / e.path).st_ino
             for e in stage.entries if e.kind == "file"}
    assert inode["LICENSES/one-LICENSE"] == inode["LICENSES/two-LICENSE"]
    assert inode["LICENSES/three-LICENSE"] != inode["LICENSES/one-LICENSE"]
    assert len({inode[f"bin/{name}-tool"] for name in ("one", "two", "three")}) == 3
    package = rpm.build(stage, toy_meta("rpm"), tmp_path / "pkg")
    listing = subprocess.run(["rpm", "-qp", "--queryformat", "[%{FILENAMES} %{FILEINODES}\n]",
                              str(package)], check=True, capture_output=True, text=True).stdout
    inodes = dict(line.split() for line in listing.splitlines())
    assert inodes["/opt/toy/LICENSES/one-LICENSE"] == inodes["/opt/toy/LICENSES/two-LICENSE"]
    extracted = tmp_path / "extracted"
    subprocess.run(["dpkg-deb", "--extract", str(deb.build(stage, toy_meta(), tmp_path / "d")),
                    str(extracted)], check=True)
    one, two = (extracted / "opt/toy/LICENSES" / f"{n}-LICENSE" for n in ("one", "two"))
    assert one.read_text() == two.read_text() == "Apache\n" and os.path.samefile(one, two)
