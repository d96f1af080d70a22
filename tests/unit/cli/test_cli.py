"""The command line: verbs, output, and errors printed once, without a traceback."""

from __future__ import annotations

import json

import pytest

from builder.cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_show_graph_and_plan(root, capsys):
    root.diamond()
    code, out, _ = run(capsys, "--root", root.path, "list")
    assert code == 0
    assert "software (5):" in out and "projects (1):" in out and "platforms (2):" in out
    code, out, _ = run(capsys, "show", "zlib", "--root", root.path)
    assert code == 0 and out.startswith("software zlib") and "version: 1.0" in out
    code, out, _ = run(capsys, "graph", "demo", "--root", root.path)
    assert out.splitlines()[1:] == [
        "├── app 1.0", "│   ├── liba 1.0", "│   │   └── zlib 1.0", "│   └── libb 1.0",
        "│       └── zlib 1.0", "└── leaf 1.0",
    ]
    code, out, _ = run(capsys, "plan", "demo", "--root", root.path, "--cache-dir",
                       root.path / "c")
    assert code == 0
    assert "5 software, 5 to build, 0 cached, 3 levels" in out.splitlines()[0]


def test_repeated_subtrees_are_marked(root, capsys):
    root.software("zlib")
    root.software("ssl", ["zlib"])
    root.software("liba", ["ssl"])
    root.software("libb", ["ssl"])
    root.project("demo", ["liba", "libb"])
    _, out, _ = run(capsys, "graph", "demo", "--root", root.path)
    assert "ssl 1.0 (*)" in out and out.count("zlib") == 1
    assert out.rstrip().endswith("(*) dependencies shown above")


def test_dot_and_json_outputs_parse(root, capsys):
    root.diamond()
    _, out, _ = run(capsys, "graph", "demo", "--format", "dot", "--root", root.path)
    assert out.startswith('digraph "demo" {') and '"liba" -> "zlib";' in out
    _, out, _ = run(capsys, "plan", "demo", "--json", "--root", root.path)
    document = json.loads(out)
    assert document["levels"] == [["leaf", "zlib"], ["liba", "libb"], ["app"]]
    app = next(s for s in document["software"] if s["name"] == "app")
    assert app["status"] == "build" and app["dependencies"] == ["liba", "libb"]
    assert len(app["key"]) == 64


@pytest.mark.parametrize("verb", ["list", "plan demo"])
def test_definition_error_is_one_paragraph_without_traceback(root, capsys, verb):
    root.diamond()
    root.software("liba", ["zlib", "missing"])
    code, out, err = run(capsys, *verb.split(), "--root", root.path)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("omnibus: error: ") and "liba.yml:6: key 'dependencies'" in lines[0]
    assert lines[1].startswith("  hint: ")
    assert len(lines) == 2 and "Traceback" not in err


def test_debug_adds_the_traceback(root, capsys):
    root.diamond()
    root.software("liba", ["zlib", "missing"])
    code, _, err = run(capsys, "--debug", "list", "--root", root.path)
    assert code == 2 and "Traceback" in err and "omnibus: error:" in err


def test_unknown_project_platform_and_name(root, capsys):
    root.diamond()
    code, _, err = run(capsys, "plan", "nope", "--root", root.path)
    assert code == 2 and "no project named 'nope'" in err and "known projects: demo" in err
    code, _, err = run(capsys, "plan", "demo", "--platform", "sles-9", "--root", root.path)
    assert "no platform named 'sles-9'" in err and "debian-12, el-9" in err
    code, _, err = run(capsys, "plan", "demo", "--arch", "armhf", "--root", root.path)
    assert code == 2 and "does not support arch 'armhf'" in err
    code, _, err = run(capsys, "show", "nothing", "--root", root.path)
    assert code == 2 and "no definition named 'nothing'" in err


def test_missing_root_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(capsys, "list", "--root", tmp_path / "absent")
    assert code == 1 and "is not a directory" in err and "--root" in err


def test_package_before_build_names_what_is_missing(root, capsys):
    root.diamond()
    code, _, err = run(capsys, "package", "demo", "--root", root.path, "--cache-dir",
                       root.path / "c")
    assert code == 1
    assert "5 software of demo are not built for debian-12/amd64: " in err
    assert "hint: run: omnibus build demo --platform debian-12 --arch amd64" in err
    assert not (root.path / "pkg").exists()


@pytest.mark.parametrize(("option", "message"), [
    (["--format", "tgz"], "'tgz': formats are deb and rpm"),
    (["--compression", "lz4"], "'lz4': compressions are xz, zstd, gzip"),
    (["--compression", "xz:12"], "xz takes levels 0..9"),
    (["--build-kind", "weekly"], "invalid choice: 'weekly'"),
])
def test_bad_package_options_are_refused(root, capsys, option, message):
    root.diamond()
    with pytest.raises(SystemExit) as exit_:
        main(["package", "demo", "--root", str(root.path), *option])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_nightly_without_pipeline_is_a_usage_error(root, capsys, monkeypatch):
    monkeypatch.delenv("CI_PIPELINE_ID", raising=False)
    monkeypatch.delenv("CI_COMMIT_SHA", raising=False)
    root.diamond()
    code, _, err = run(capsys, "package", "demo", "--root", root.path, "--build-kind",
                       "nightly", "--cache-dir", root.path / "c")
    assert code == 2
    assert "a nightly build needs a numeric pipeline id and a commit sha" in err
