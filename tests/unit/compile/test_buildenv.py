"""The build environment and script every build gets, from platform data."""

from __future__ import annotations

import dataclasses
import subprocess

from builder.compile.buildenv import build_environment, build_script, failing_step, step_context
from builder.definitions.loader import load_catalog


def software_and_platform(root, extra=""):
    root.software("zlib", extra=extra)
    catalog = load_catalog(root.path)
    return catalog.software["zlib"], catalog.platforms["debian-12"]


def test_environment_puts_the_embedded_prefix_first(root):
    software, platform = software_and_platform(root, 'env: {CFLAGS: "-O3 -I{{ prefix }}/x"}\n')
    context = step_context(software, platform, "amd64", "/opt/gitlab", "ce", 2, "/src")
    env = build_environment(software, platform, "amd64", context, 1704067200)
    assert env["PATH"].startswith("/opt/gitlab/bin:/opt/gitlab/embedded/bin:")
    assert env["LDFLAGS"] == "-L/opt/gitlab/embedded/lib -Wl,-rpath,/opt/gitlab/embedded/lib"
    assert env["PKG_CONFIG_PATH"].startswith("/opt/gitlab/embedded/lib/pkgconfig")
    assert env["SOURCE_DATE_EPOCH"] == "1704067200"
    assert env["CFLAGS"] == "-O3 -I/opt/gitlab/embedded/x"  # the definition's env wins


def test_arch_flags_come_from_platform_data(root):
    path = root.path / "platforms/debian-12.yml"
    path.write_text(path.read_text().replace(
        "gnu_triplet: aarch64-linux-gnu}", "gnu_triplet: aarch64-linux-gnu, cflags: -mcpu=x}"))
    software, platform = software_and_platform(root)
    context = step_context(software, platform, "arm64", "/opt/gitlab", "ce", 2, "/src")
    env = build_environment(software, platform, "arm64", context, 0)
    assert env["CFLAGS"] == "-I/opt/gitlab/embedded/include -O2 -mcpu=x"


def test_script_runs_each_step_from_the_source_root_and_marks_steps(root, tmp_path):
    software, platform = software_and_platform(root)
    software = dataclasses.replace(software, build=(
        "mkdir sub && cd sub && pwd > ../first", "pwd > second", "exit 3"))
    context = step_context(software, platform, "amd64", "/opt/gitlab", "ce", 2, "/src")
    script = tmp_path / "build.sh"
    script.write_text(build_script(software, context))
    source = tmp_path / "src"
    source.mkdir()
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                            env={"OMNIBUS_SOURCE_DIR": str(source), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    assert (source / "first").read_text().strip() == str(source / "sub")
    assert (source / "second").read_text().strip() == str(source)
    assert failing_step(result.stdout) == "3/3: exit 3"


def test_finished_log_has_no_failing_step():
    assert failing_step("==> omnibus step 1/1: make\n==> omnibus step done\n") is None
    assert failing_step("no markers at all") is None
