"""A package build precompiles the defaults and templates; reconfigure must write the same
bytes from them as from the sources in this repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.conftest import REPO

PLANNED_FILES = """
import json
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.paths import COMPILED_TEMPLATES_DIR, Layout
from gitlab_ctl.commands.reconfigure import plan
from gitlab_ctl.engine.resources import File, Run
from gitlab_ctl.config.secrets import SECRETS
from gitlab_ctl.services.base import Context, Facts
secrets = {section: {key: f"{section}-{key}" for key in keys} for section, keys in SECRETS.items()}
attributes = resolve_attributes({"external_url": "https://gitlab.example.test/x",
                                 "registry_external_url": "https://registry.example.test"})
context = Context(Layout(), attributes, secrets, Facts(cpus=2, memory_kb=8388608))
files = {r.id: r.content for r in plan(context, Run()) if isinstance(r, File)}
print(json.dumps({"compiled": COMPILED_TEMPLATES_DIR.is_dir(), "files": files}))
"""


def planned_files(root):
    result = subprocess.run([sys.executable, "-c", PLANNED_FILES], cwd=root,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_precompiled_templates_and_defaults_give_the_same_files(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "schema.json", "*_table.json",
                                    "templates_compiled")
    shutil.copytree(REPO / "gitlab_ctl", tmp_path / "gitlab_ctl", ignore=ignore)
    source = planned_files(tmp_path)
    templates = [name for name in source["files"] if name.startswith("template[")]
    assert source["compiled"] is False and len(templates) > 25
    subprocess.run([sys.executable, "-m", "gitlab_ctl.precompile"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert (tmp_path / "gitlab_ctl" / "config" / "schema.json").is_file()
    assert (tmp_path / "gitlab_ctl" / "services" / "gitlab_rails_yml_table.json").is_file()
    compiled = planned_files(tmp_path)
    assert compiled["compiled"] is True
    assert compiled["files"] == source["files"]
