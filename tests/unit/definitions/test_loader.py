"""Strict loading: every bad definition is refused with the file, the line and the key."""

from __future__ import annotations

import pytest

from builder.definitions.loader import load_catalog
from builder.errors import DefinitionError, DependencyCycleError


def load_error(root) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load_catalog(root.path)
    return caught.value


def test_valid_root_loads_with_normalised_license(root):
    root.diamond()
    root.software("gpl", extra="license_files: [COPYING]\n")
    (root.path / "software/gpl.yml").write_text(
        (root.path / "software/gpl.yml").read_text().replace("license: MIT", "license: GPL-2.0")
    )
    catalog = load_catalog(root.path)
    assert sorted(catalog.software) == ["app", "gpl", "leaf", "liba", "libb", "zlib"]
    assert catalog.software["gpl"].license == "GPL-2.0-only"
    assert catalog.projects["demo"].version.value == "1.2.3"
    assert catalog.platforms["el-9"].family == "rhel"


def test_unknown_key_names_file_line_and_key_and_suggests(root):
    file = root.software("zlib", extra="dependecies: [foo]\n")
    error = load_error(root)
    assert error.location.file == file
    assert error.location.line == 7
    assert error.location.key == "dependecies"
    assert "unknown key" in error.message
    assert "did you mean 'dependencies'?" in error.hint


def test_unknown_nested_key_has_dotted_path(root):
    root.software("zlib", extra="source:\n  url: https://example.test/z.tgz\n  sha265: abc\n")
    error = load_error(root)
    assert (error.location.line, error.location.key) == (9, "source.sha265")


def test_version_written_as_number_is_refused_with_a_hint_to_quote(root):
    root.write("software/zlib.yml", "name: zlib\nversion: 1.10\nlicense: MIT\n")
    error = load_error(root)
    assert (error.location.line, error.location.key) == (2, "version")
    assert "must be a string, got float 1.1" in error.message
    assert "quote" in error.hint


def test_missing_required_key(root):
    root.write("software/zlib.yml", "name: zlib\nlicense: MIT\n")
    error = load_error(root)
    assert "missing required key 'version'" in error.message
    assert str(error.location.file).endswith("software/zlib.yml")


def test_bad_spdx_expression(root):
    root.write("software/zlib.yml", 'name: zlib\nversion: "1"\nlicense: MIT OR Foo-License\n')
    error = load_error(root)
    assert (error.location.line, error.location.key) == (3, "license")
    assert "'MIT OR Foo-License' is not a valid SPDX license expression" in error.message
    assert "Foo-License" in error.message


def test_licenseref_is_a_valid_spdx_symbol(root):
    root.write("software/ruby.yml",
               'name: ruby\nversion: "3"\nlicense: LicenseRef-Ruby OR BSD-2-Clause\n')
    assert load_catalog(root.path).software["ruby"].license == "LicenseRef-Ruby OR BSD-2-Clause"


def test_missing_dependency_names_the_line_of_the_entry(root):
    root.software("zlib")
    file = root.software("app", ["zlib", "openssl"])
    error = load_error(root)
    assert error.location.file == file
    assert error.location.line == 6
    assert "depends on 'openssl', which has no definition" in error.message
    assert "software/openssl.yml" in error.hint


def test_project_dependency_must_exist(root):
    root.software("zlib")
    root.project("demo", ["zlib", "nope"])
    error = load_error(root)
    assert "depends on 'nope'" in error.message
    assert error.location.line == 10


def test_duplicate_name_across_files(root):
    root.software("zlib")
    root.write("software/zlib-ng.yml", 'name: zlib\nversion: "2"\nlicense: Zlib\n')
    error = load_error(root)
    assert "duplicate name 'zlib'" in error.message
    assert error.location.file.name == "zlib.yml"  # files load in sorted order
    assert "software/zlib-ng.yml defines it too" in error.message
    assert error.location.line == 1


def test_duplicate_yaml_key_is_refused(root):
    root.write("software/zlib.yml", 'name: zlib\nversion: "1"\nversion: "2"\nlicense: MIT\n')
    error = load_error(root)
    assert (error.location.line, error.location.key) == (3, "version")
    assert "first given on line 2" in error.message


def test_cycle_prints_the_whole_cycle_and_where_it_starts(root):
    root.software("a", ["b"])
    root.software("b", ["c"])
    file = root.software("c", ["a"])
    root.software("d", ["a"])
    with pytest.raises(DependencyCycleError) as caught:
        load_catalog(root.path)
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in caught.value.message
    assert caught.value.location.file != file  # it points at a's entry for b
    assert caught.value.location.line == 5


def test_unknown_variable_in_build_step(root):
    root.software("zlib", extra="")
    path = root.path / "software/zlib.yml"
    path.write_text(path.read_text().replace("{{ prefix }}", "{{ prefx }}"))
    error = load_error(root)
    assert (error.location.line, error.location.key) == (5, "build[0]")
    assert "unknown variable(s): prefx" in error.message


def test_broken_template_syntax_in_build_step(root):
    root.write("software/zlib.yml",
               'name: zlib\nversion: "1"\nlicense: MIT\nbuild:\n  - make {{ jobs\n')
    error = load_error(root)
    assert error.location.key == "build[0]"
    assert "template syntax error" in error.message


def test_conditions_check_fact_names_and_values(root):
    root.software("openssl")
    root.software("curl", extra="dependencies:\n  - {name: openssl, unless: {edition: fisp}}\n")
    error = load_error(root)
    assert "'fisp' is not a known edition" in error.message
    root.software("curl", extra="dependencies:\n  - {name: openssl, when: {colour: red}}\n")
    error = load_error(root)
    assert error.location.key.endswith("when.colour")


def test_condition_on_unknown_platform(root):
    root.software("openssl")
    root.software("curl", extra="dependencies:\n  - {name: openssl, when: {platform: el-7}}\n")
    assert "platform 'el-7', which has no definition" in load_error(root).message


def test_url_source_needs_a_valid_checksum(root):
    root.software("zlib", extra="source: {url: https://example.test/z.tgz, sha256: xyz}\n")
    assert "is not a sha256 hex digest" in load_error(root).message
    root.software("zlib", extra="source: {url: https://example.test/z.tgz}\n")
    assert "exactly one of sha256 or sha512" in load_error(root).message


def test_missing_patch_file(root):
    root.software("zlib", extra="patches: [fix.patch]\n")
    error = load_error(root)
    assert "software/patches/zlib/fix.patch' does not exist" in error.message
    root.write("software/patches/zlib/fix.patch", "--- a\n+++ b\n")
    assert load_catalog(root.path).software["zlib"].patches == ("fix.patch",)


def test_platform_override_keys_are_families(root):
    root.software("zlib", extra="platforms:\n  debain: {env: {A: b}}\n")
    error = load_error(root)
    assert error.location.key == "platforms.debain"
    assert "did you mean 'debian'" in error.hint


def test_platform_arch_and_compression_are_checked(root):
    path = root.path / "platforms/debian-12.yml"
    path.write_text(path.read_text().replace("level: 6", "level: 12"))
    assert "xz takes levels 0..9" in load_error(root).message
    root.platform("debian-12")
    path.write_text(path.read_text().replace("arm64:", "sparc:"))
    error = load_error(root)
    assert error.location.key == "arches.sparc"


def test_invalid_yaml_names_the_line(root):
    root.write("software/zlib.yml", 'name: zlib\nversion: "1\nlicense: MIT\n')
    error = load_error(root)
    assert "invalid YAML" in error.message
    assert error.location.line is not None


def test_top_level_must_be_a_mapping(root):
    root.write("software/zlib.yml", "- a\n- b\n")
    assert "mapping of keys to values" in load_error(root).message


@pytest.mark.parametrize("step", [
    "make CFLAGS=\"${CFLAGS} -I{{ prefix }}/include\"",
    "{% for lib in ['a', 'b'] %}cp {{ lib }} {{ prefix }}/lib;{% endfor %}",
    "{% if arch == 'armhf' %}export LIBS=-latomic;{% endif %} make -j{{ jobs }}",
])
def test_valid_steps_load(root, step):
    root.write("software/zlib.yml",
               f'name: zlib\nversion: "1"\nlicense: MIT\nbuild:\n  - "{step}"\n'.replace(
                   '"${', '\\"${').replace('include"', 'include\\"'))
    assert load_catalog(root.path).software["zlib"].build == (step,)


@pytest.mark.parametrize("step", [
    "{% if arhc == 'armhf' %}x{% endif %}",
    "cp {{ lib }} {{ prefix }}",
])
def test_unknown_names_in_complex_steps(root, step):
    root.write("software/zlib.yml",
               f'name: zlib\nversion: "1"\nlicense: MIT\nbuild:\n  - "{step}"\n')
    assert "unknown variable" in load_error(root).message


def test_step_that_yaml_reads_as_a_mapping_gets_a_quoting_hint(root):
    root.write("software/zlib.yml", 'name: zlib\nversion: "1"\nlicense: MIT\nbuild:\n'
               "  - cut -d: -f1 file\n")
    error = load_error(root)
    assert error.location.key == "build[0]" and "quote the whole step" in error.hint


def test_upgrade_stop_must_be_major_minor(root):
    root.software("zlib")
    root.project("demo", ["zlib"], extra="upgrade_stop: 17.11.2\n")
    error = load_error(root)
    assert "projects/demo.yml:" in str(error) and "key 'upgrade_stop'" in str(error)
    assert "'17.11.2' is not MAJOR.MINOR" in str(error)


def test_runtime_dependencies_may_test_the_format_but_software_may_not(root):
    root.software("zlib")
    root.project("demo", ["zlib"],
                 extra="runtime_dependencies: [{name: libc6, when: {format: deb}}]\n")
    catalog = load_catalog(root.path)
    condition = catalog.projects["demo"].runtime_dependencies[0].condition
    assert condition.holds({"format": "deb"}) and not condition.holds({"format": "rpm"})
    root.software("zlib", extra="dependencies: [{name: x, when: {format: deb}}]\n")
    assert "key 'dependencies[0].when.format': unknown key" in str(load_error(root))


def test_package_arches_name_known_formats(root):
    root.software("zlib")
    root.project("demo", ["zlib"])
    text = (root.path / "platforms/debian-12.yml").read_text().replace(
        "package_arch: amd64,", "package_arch: amd64, package_arches: {tgz: x64},")
    root.write("platforms/debian-12.yml", text)
    error = load_error(root)
    assert "key 'arches.amd64.package_arches'" in str(error)
    assert "'tgz' is not a package format" in str(error)


def test_project_extends_another_and_overrides_keys(root):
    root.diamond()
    root.write("projects/demo-ee.yml", "extends: demo\nname: demo-ee\nedition: ee\n"
                                       "replaces: [demo]\n")
    root.write("projects/demo-fips.yml", "extends: demo-ee\nedition: fips\n")
    catalog = load_catalog(root.path)
    base, ee, fips = (catalog.projects[n] for n in ("demo", "demo-ee", "demo-fips"))
    assert (ee.edition, ee.replaces, ee.dependencies) == ("ee", ("demo",), base.dependencies)
    assert (fips.name, fips.edition, fips.replaces) == ("demo-fips", "fips", ("demo",))
    assert fips.maintainer == base.maintainer


def test_project_extends_in_a_circle_or_nowhere_is_refused(root):
    root.diamond()
    root.write("projects/a.yml", "extends: b\n")
    root.write("projects/b.yml", "extends: a\n")
    error = load_error(root)
    assert "circle" in error.message and error.location.key == "extends"
    root.write("projects/b.yml", "extends: nowhere\n")
    error = load_error(root)
    assert "'nowhere'" in error.message and error.location.file.name in ("a.yml", "b.yml")
