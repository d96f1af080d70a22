"""jinja2 rendering of build steps and templates, strict about unknown variables."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
import jinja2.meta

from builder.errors import DefinitionError, Location

#: Names a build step may use; the build context provides each of them.
STEP_VARIABLES = frozenset({
    "name", "version", "prefix", "install_dir", "source_dir", "jobs", "platform", "family",
    "distro", "arch", "gnu_triplet", "package_format", "edition", "env",
})


@cache
def _environment() -> jinja2.Environment:
    # Steps are shell text, not HTML: no autoescape; a typo in a variable must fail loudly.
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def check_step(step: str, location: Location) -> None:
    """Refuse a step whose jinja2 syntax is broken or that names an unknown variable."""
    if "{" not in step:
        return
    try:
        tree = _environment().parse(step)
    except jinja2.TemplateSyntaxError as error:
        problem = f"template syntax error in build step: {error.message}"
        raise DefinitionError(location, problem) from error
    unknown = jinja2.meta.find_undeclared_variables(tree) - STEP_VARIABLES
    if unknown:
        raise DefinitionError(
            location, f"build step uses unknown variable(s): {', '.join(sorted(unknown))}",
            hint=f"available: {', '.join(sorted(STEP_VARIABLES))}",
        )


def render_step(step: str, context: Mapping[str, Any]) -> str:
    return _environment().from_string(step).render(context)
