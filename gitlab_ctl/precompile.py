"""Build-time preparation of gitlab_ctl, run by the gitlab-ctl software definition: the
settings' schema (and so the defaults) and gitlab.yml's table as JSON, and the config
templates as compiled Python modules, so a reconfigure neither parses YAML with the
pure-Python parser nor compiles a template (together about 0.4 s of a no-op run). In this
repository none of them exists and all are read from source.

Usage: python3 -m gitlab_ctl.precompile
"""

from __future__ import annotations

import json
import sys

from gitlab_ctl.config.schema import SCHEMA_JSON, read_schema_yaml
from gitlab_ctl.paths import COMPILED_TEMPLATES_DIR, TEMPLATES_DIR
from gitlab_ctl.services.gitlab_rails_yml_table import TABLE_JSON, read_table_yaml


def main() -> int:
    from gitlab_ctl.services.base import template_environment

    schema = read_schema_yaml()
    # in the YAML order: config files (gitaly's TOML) keep the order the defaults give
    SCHEMA_JSON.write_text(json.dumps(schema, indent=1) + "\n")
    TABLE_JSON.write_text(json.dumps(read_table_yaml(), indent=1) + "\n")
    environment = template_environment(TEMPLATES_DIR)
    names = environment.list_templates()
    COMPILED_TEMPLATES_DIR.mkdir(parents=True, exist_ok=True)
    environment.compile_templates(str(COMPILED_TEMPLATES_DIR), zip=None, ignore_errors=False)
    print(f"precompiled {len(names)} templates into {COMPILED_TEMPLATES_DIR} and the settings "
          f"into {SCHEMA_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
