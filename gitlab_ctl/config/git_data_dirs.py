"""git_data_dirs, the repository storages of GitLab before 18.0 (removed in 18.0):
`git_data_dirs({ "default" => { "path" => "/mnt/nfs-01/git-data" } })`. As omnibus-gitlab 16
and 17 did (gitaly/libraries/gitaly.rb, parse_git_data_dirs and parse_gitaly_storages), each
entry becomes a Gitaly storage named after it at <path>/repositories, unless gitlab.rb sets
gitaly['configuration'][:storage] itself; a warning names the replacement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitlab_ctl.config.gitlabrb_limits import GitlabRbError, excerpt

NAME = "git_data_dirs"
#: omnibus-gitlab's path for an entry without one.
DEFAULT_PATH = "/var/opt/gitlab/git-data"
_HINT = ('e.g. git_data_dirs({ "default" => { "path" => "/var/opt/gitlab/git-data" } }), or '
         "in GitLab 18: gitaly['configuration'] = { storage: [{ name: 'default', path: "
         "'/var/opt/gitlab/git-data/repositories' }] }")


def check(value: Any, line: int) -> None:
    """Refuse a git_data_dirs value omnibus-gitlab could not map: it is a hash of storage
    names to hashes, each with a string 'path' (or none, for the default)."""
    if not isinstance(value, Mapping):
        raise GitlabRbError(line, "git_data_dirs takes a hash of storage names to "
                            f"{{ \"path\" => ... }}, not {_ruby_type(value)}", hint=_HINT)
    for name, entry in value.items():
        if not isinstance(entry, Mapping):
            raise GitlabRbError(line, f"git_data_dirs['{excerpt(name)}'] must be a hash "
                                f"such as {{ \"path\" => \"/mnt/git-data\" }}, not "
                                f"{_ruby_type(entry)}", hint=_HINT)
        path = entry.get("path")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise GitlabRbError(line, f"git_data_dirs['{excerpt(name)}']['path'] must be an "
                                f"absolute path, not {excerpt(repr(path))}", hint=_HINT)


def storages(settings: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """Gitaly's storages from git_data_dirs, None when gitlab.rb does not set it or sets
    gitaly['configuration'][:storage] itself (which omnibus-gitlab then keeps)."""
    dirs = settings.get(NAME)
    if not isinstance(dirs, Mapping) or not dirs:
        return None
    configuration = (settings.get("gitaly") or {}).get("configuration") or {}
    if isinstance(configuration, Mapping) and configuration.get("storage") is not None:
        return None
    return [{"name": str(name), "path": _repositories(entry.get("path") or DEFAULT_PATH)}
            for name, entry in dirs.items() if isinstance(entry, Mapping)]


def deprecation(where: str) -> str:
    """The warning for a gitlab.rb that sets git_data_dirs; `where` is FILE:LINE."""
    return (f"{where}: git_data_dirs is deprecated and removed in GitLab 18.0: set "
            "gitaly['configuration'][:storage] (each storage's path ending in /repositories), "
            "or gitlab_rails['repositories_storages'] where Gitaly runs on another node")


def _repositories(path: str) -> str:
    return path.rstrip("/") + "/repositories" if path != "/" else "/repositories"


def _ruby_type(value: Any) -> str:
    names = {str: "a string", list: "an array", int: "a number", float: "a number",
             bool: "true/false", type(None): "nil"}
    return names.get(type(value), "a value")
