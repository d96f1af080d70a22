"""What a project calls its repositories and images, read from the project's package templates
(`templates/<package_scripts>/names.yml`), so the engine names no project itself.

Project files (projects/*.yml) are parsed strictly by builder/definitions, one layer down;
these names sit beside the project's maintainer-script templates instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.definitions.model import Project
from builder.definitions.strict import Section
from builder.definitions.yamlfile import load_yaml_file

FILE = "names.yml"
#: The package templates' folder of a project that names none (Project.package_scripts).
DEFAULT_TEMPLATES = "package"


@dataclass(frozen=True)
class ProjectNames:
    #: apt's Origin and Label; the client files NAME-archive-keyring.gpg, NAME.sources,
    #: NAME.list and NAME.repo; yum's section [NAME-<repository>].
    repository: str
    title: str  # yum's repository name: "TITLE packages for <repository>"
    labels: str  # the prefix of the image's own labels (reverse DNS)


def read_names(templates: Path, fallback: str) -> ProjectNames:
    """The names in `templates`/names.yml; without one, `fallback` (the project's name)
    for all three."""
    path = templates / FILE
    if not path.is_file():
        return ProjectNames(fallback, fallback, f"omnibus.{fallback}")
    section = Section(path, load_yaml_file(path))
    section.allow(frozenset({"repository", "title", "labels"}))
    repository = section.str("repository", required=True)
    return ProjectNames(repository, section.str("title", default=repository),
                        section.str("labels", default=f"omnibus.{repository}"))


def project_names(root: Path, project: Project) -> ProjectNames:
    return read_names(root / "templates" / project.package_scripts, project.name)


def default_names(root: Path) -> ProjectNames:
    """For a caller that names no project: those of the default package templates."""
    return read_names(root / "templates" / DEFAULT_TEMPLATES, "omnibus")
