"""What every service's resources are made from: the resolved attributes, the secrets, the
installation's layout and facts about the host, and the config templates."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypedDict

from gitlab_ctl.engine.resources import File, Notify
from gitlab_ctl.engine.runit import with_mount_check
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import COMPILED_TEMPLATES_DIR, TEMPLATES_DIR, Layout


def host_memory_kb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 4 * 1024 * 1024


class TemplateOptions(TypedDict, total=False):
    """Keywords of Context.template for the file it writes, shared by several with **."""
    owner: str | None
    group: str | None
    mode: int
    notifies: tuple[Notify, ...]


class RenderError(GitlabCtlError):
    """A config template that cannot be rendered from the settings given."""

    exit_code = 2

    def __init__(self, template: str, error: Exception) -> None:
        service = template.split("/")[0]
        super().__init__(
            "/etc/gitlab/gitlab.rb", f"the settings of {service} do not fit its "
            f"{template.split('/')[-1].removesuffix('.j2')} ({type(error).__name__}: {error})",
            f"a hash or array setting of {service} has the wrong shape: compare it with its "
            "example in /opt/gitlab/etc/gitlab.rb.template (or omnibus-gitlab's template)")


@dataclass(frozen=True)
class Facts:
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_kb: int = field(default_factory=host_memory_kb)


def template_environment(templates_dir: Path, compiled: bool = False):
    """The jinja2 environment of the config templates; `compiled` loads the modules
    gitlab_ctl.precompile made from them in a package build."""
    import jinja2

    loader = (jinja2.ModuleLoader(str(COMPILED_TEMPLATES_DIR)) if compiled
              else jinja2.FileSystemLoader(str(templates_dir)))
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                              autoescape=False)


@dataclass(frozen=True)
class Context:
    layout: Layout
    attributes: Mapping[str, Any]
    secrets: Mapping[str, Any]
    facts: Facts = field(default_factory=Facts)
    templates_dir: Path = TEMPLATES_DIR

    @cached_property
    def _environment(self):
        compiled = self.templates_dir == TEMPLATES_DIR and COMPILED_TEMPLATES_DIR.is_dir()
        return template_environment(self.templates_dir, compiled)

    def render(self, template: str, **values: Any) -> str:
        """gitlab_ctl/templates/TEMPLATE with the attributes, layout and facts, plus `values`.
        A gitlab.rb value of the wrong shape (a string where a hash of hashes belongs) is
        reported as a RenderError before anything is written, not as a traceback."""
        import jinja2

        try:
            return self._environment.get_template(template).render(
                attributes=self.attributes, layout=self.layout, facts=self.facts,
                embedded=self.layout.embedded, secrets=self.secrets, **values)
        except (jinja2.UndefinedError, TypeError, AttributeError, KeyError) as error:
            raise RenderError(template, error) from error

    def template(self, path: Path, template: str, *, owner: str | None = "root",
                 group: str | None = None, mode: int = 0o644, sensitive: bool = False,
                 notifies: tuple[Notify, ...] = (), **values: Any) -> File:
        return File(path, self.render(template, **values), owner=owner, group=group, mode=mode,
                    sensitive=sensitive, notifies=notifies, kind="template")

    def section(self, name: str) -> Mapping[str, Any]:
        return self.attributes.get(name) or {}


@dataclass(frozen=True)
class Service:
    """One service reconfigure manages. `configure` gives the accounts, directories and
    config files, written whenever the service is enabled; `supervise` gives its runit
    service directory and `after_start` what needs it running (the database's role), both
    only when the package has `binary`."""

    name: str  # the runit service name
    section: str  # the gitlab.rb / attributes key that enables it
    binary: str  # relative to the install dir
    configure: Callable[[Context], list]
    supervise: Callable[[Context], list] | None = None  # None: configuration only
    after_start: Callable[[Context], list] = lambda context: []
    #: warnings to give after the service was sent a changed configuration (HUP or restart)
    after_reload: Callable[[Context], list[str]] = lambda context: []
    #: a HUP makes its master start new workers (nginx): reconfigure waits for them
    hup_replaces_workers: bool = False

    def runit_resources(self, context: Context) -> list:
        """The runit service directory's resources; none for configuration-only services.
        high_availability['mountpoint'] goes into the run script of those that need it."""
        if not self.supervise:
            return []
        return with_mount_check(context.layout, self.name, self.supervise(context),
                                context.section("high_availability").get("mountpoint"))
