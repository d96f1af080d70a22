"""jinja2 rendering of build steps and templates, strict about unknown variables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from builder.errors import DefinitionError, Location

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

#: Names a build step may use; the build context provides each of them.
STEP_VARIABLES = frozenset({
    "name", "version", "prefix", "install_dir", "source_dir", "jobs", "platform", "family",
    "distro", "arch", "gnu_triplet", "package_format", "edition", "env",
})


#: `{{ name }}` and nothing else: most steps are only this, and need no jinja2 parse.
_SIMPLE_STEP = re.compile(r"(?:[^{]|\{(?![{%#])|\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})*")
_SIMPLE_NAME = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@cache
def _environment() -> jinja2.Environment:
    import jinja2  # a tenth of a plan's start-up; only steps that need it pay for it

    # Steps are shell text, not HTML: no autoescape; a typo in a variable must fail loudly.
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def _free_names(tree: nodes.Template) -> set[str]:
    """Variables a template reads but does not set itself (loop and {% set %} targets).

    Cheaper than jinja2.meta.find_undeclared_variables, which compiles the template; scoping
    is coarser, which only matters for templates that set a name after reading it.
    """
    from jinja2 import nodes

    names = list(tree.find_all(nodes.Name))
    stored = {n.name for n in names if n.ctx in ("store", "param")}
    return {n.name for n in names if n.ctx == "load"} - stored


def _parse(step: str, location: Location) -> nodes.Template:
    import jinja2

    try:
        return _environment().parse(step)
    except jinja2.TemplateSyntaxError as error:
        problem = f"template syntax error in build step: {error.message}"
        raise DefinitionError(location, problem) from error


def check_step(step: str, location: Location) -> None:
    """Refuse a step whose jinja2 syntax is broken or that names an unknown variable."""
    unknown = variables_used(step, location) - STEP_VARIABLES
    if unknown:
        raise DefinitionError(
            location, f"build step uses unknown variable(s): {', '.join(sorted(unknown))}",
            hint=f"available: {', '.join(sorted(STEP_VARIABLES))}",
        )


#: Step variables whose value differs between platforms or arches: a platform-independent
#: software's build must not use them, or its shared artifact would depend on them.
PLATFORM_VARIABLES = frozenset({"platform", "family", "distro", "arch", "gnu_triplet",
                                "package_format"})


def variables_used(text: str, location: Location) -> set[str]:
    """The variables a step or template reads."""
    if "{" not in text:
        return set()
    if _SIMPLE_STEP.fullmatch(text):
        return set(_SIMPLE_NAME.findall(text))
    return _free_names(_parse(text, location))


def render_step(step: str, context: Mapping[str, Any]) -> str:
    return _environment().from_string(step).render(context)
