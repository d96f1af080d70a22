"""deb-src entries are derived from apt's own deb entries; no host name of our own."""

from __future__ import annotations

from builder.sources.deb_src import write_deb_src

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.test/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.example.test/
Suites: bookworm
Components: main
Enabled: no
"""


def etc_with(tmp_path, sources: str, one_line: str = ""):
    etc = tmp_path / "etc"
    (etc / "apt/sources.list.d").mkdir(parents=True)
    (etc / "os-release").write_text('ID=debian\nVERSION_CODENAME=bookworm\n')
    (etc / "apt/sources.list.d/debian.sources").write_text(sources)
    if one_line:
        (etc / "apt/sources.list").write_text(one_line)
    return etc


def test_twins_every_deb_entry_with_extra_codenames(tmp_path):
    etc = etc_with(tmp_path, DEB822)
    written, changed = write_deb_src(["trixie"], etc)
    assert changed
    text = written.read_text()
    assert "Types: deb-src\nURIs: http://mirror.example.test/debian\n" \
           "Suites: bookworm bookworm-updates trixie trixie-updates\nComponents: main\n" \
           "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in text
    assert "Suites: bookworm-security trixie-security" in text
    assert "disabled.example.test" not in text


def test_existing_deb_src_entries_are_not_repeated(tmp_path):
    etc = etc_with(tmp_path, DEB822, one_line=(
        "deb-src http://mirror.example.test/debian bookworm main\n"
        "deb-src [signed-by=/k.gpg] http://mirror.example.test/debian-security "
        "bookworm-security main\n"))
    text = write_deb_src([], etc)[0].read_text()
    assert "Suites: bookworm-updates\n" in text and "security" not in text
    (etc / "apt/sources.list").write_text(
        "deb-src http://mirror.example.test/debian bookworm main\n"
        "deb-src http://mirror.example.test/debian bookworm-updates main\n"
        "deb-src http://mirror.example.test/debian-security bookworm-security main\n")
    assert write_deb_src([], etc) == (None, True)
    assert not (etc / "apt/sources.list.d/omnibus-deb-src.sources").exists()


def test_running_twice_gives_the_same_file(tmp_path):
    etc = etc_with(tmp_path, DEB822)
    first, _ = write_deb_src(["trixie"], etc)
    text = first.read_text()
    assert write_deb_src(["trixie"], etc) == (first, False)
    assert first.read_text() == text
