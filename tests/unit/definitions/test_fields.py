"""The field table of software definitions is the one declaration: the model, the loader's
keys, the family overrides, the cache key's fields and the reference in the docs follow it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from builder.definitions import fields
from builder.definitions.fields import (
    DOCUMENTED,
    FAMILY_FIELDS,
    REQUIRED,
    SOFTWARE_FIELDS,
    SOFTWARE_KEYS,
    Described,
    parse_software,
    with_reference,
)
from builder.definitions.loader import load_catalog
from builder.definitions.model import FAMILIES, Override, Software, frozen_map
from builder.definitions.spdx import LicenseChecker
from builder.definitions.yamlfile import load_yaml_file
from builder.errors import DefinitionError
from builder.resolve import keys
from tests.conftest import REPO

DOC = REPO / "docs/software-format.md"


def parse(tmp_path, text: str) -> Software:
    file = tmp_path / "zlib.yml"
    file.write_text(text)
    return parse_software(file, load_yaml_file(file), LicenseChecker(), FAMILIES)


def test_every_attribute_of_software_is_declared_in_the_table():
    model = [f.name for f in dataclasses.fields(Software)]
    table = [spec.name for spec in SOFTWARE_FIELDS]
    assert sorted(set(model) - set(table)) == [], "add these to fields.SOFTWARE_FIELDS"
    assert sorted(set(table) - set(model)) == [], "the table names fields Software lacks"
    assert len(table) == len(set(table))


def test_table_defaults_are_the_model_defaults():
    for model in dataclasses.fields(Software):
        spec = next(s for s in SOFTWARE_FIELDS if s.name == model.name)
        if model.default is not dataclasses.MISSING:
            assert spec.default == model.default, model.name
        elif model.default_factory is not dataclasses.MISSING:
            assert spec.default == model.default_factory(), model.name
        else:
            assert spec.default is REQUIRED or isinstance(spec.default, Described), model.name


def test_a_definition_without_a_key_reads_the_table_default(tmp_path):
    software = parse(tmp_path, 'version: "1.0"\nlicense: MIT\n')
    for spec in SOFTWARE_FIELDS:
        if spec.default is not REQUIRED and not isinstance(spec.default, Described):
            assert getattr(software, spec.name) == spec.default, spec.name
    assert software.name == "zlib"  # Described: the file's name


def test_every_key_a_file_may_have_has_one_documented_field():
    assert {spec.name for spec in DOCUMENTED} == SOFTWARE_KEYS
    assert all(spec.doc and spec.type for spec in DOCUMENTED)


def test_override_holds_exactly_the_per_family_fields():
    assert {f.name for f in dataclasses.fields(Override)} == {s.name for s in FAMILY_FIELDS}
    assert {spec.per_family for spec in SOFTWARE_FIELDS} <= {"", "replaced", "merged"}


def test_for_family_replaces_or_merges_as_the_table_says(tmp_path):
    base = parse(tmp_path, 'version: "1.0"\nlicense: MIT\n')
    changes, override = {}, {}
    for spec in FAMILY_FIELDS:
        if isinstance(spec.default, Mapping):
            changes[spec.name] = frozen_map({"KEPT": "base", "SET": "base"})
            override[spec.name] = frozen_map({"SET": "family"})
        else:
            changes[spec.name], override[spec.name] = ("base",), ("family",)
    software = dataclasses.replace(base, **changes,
                                   platforms=frozen_map({"rhel": Override(**override)}))
    for spec in FAMILY_FIELDS:
        value = getattr(software.for_family("rhel"), spec.name)
        if spec.per_family == "merged":
            assert dict(value) == {"KEPT": "base", "SET": "family"}, spec.name
        else:
            assert value == override[spec.name], spec.name
        assert getattr(software.for_family("debian"), spec.name) == changes[spec.name]


def test_a_platforms_block_allows_exactly_the_per_family_keys(root):
    for spec in DOCUMENTED:
        root.software("zlib", extra=f"platforms:\n  rhel: {{{spec.name}: []}}\n")
        if spec.per_family:
            continue  # accepted or refused for its value, not its key
        with pytest.raises(DefinitionError) as caught:
            load_catalog(root.path)
        assert caught.value.problem == "unknown key", spec.name
        assert caught.value.location.key == f"platforms.rhel.{spec.name}"


def test_cache_keys_hash_the_fields_the_table_marks():
    assert keys.BUILD_FIELDS is fields.BUILD_FIELDS
    assert set(keys.BUILD_FIELDS) == {s.name for s in SOFTWARE_FIELDS if s.in_key}


def test_reference_in_the_docs_is_the_tables():
    text = DOC.read_text()
    assert with_reference(text) == text, (
        "docs/software-format.md's field table is stale: run `python -m builder.definitions.fields`"
    )
