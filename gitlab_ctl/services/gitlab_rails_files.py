"""The smaller files gitlab-rails.rb writes next to gitlab.yml: managed_settings.yml (only
with settings), click_house.yml, session_store.yml, and the shared secrets of optional
companions (the knowledge graph, mail_room's webhook deliveries), each only when its secret
is set. Each is linked into the package's tree as Rails looks for it there."""

from __future__ import annotations

from typing import Any

from gitlab_ctl.engine.resources import Absent, File, Link
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, TemplateOptions

#: The YAML files of this module Rails reads from config/ (managed_settings.yml may be absent).
CONFIG_FILES = ("click_house.yml", "session_store.yml", "managed_settings.yml")
#: gitlab_rails key of an optional secret: its file under etc/ and the dotfile Rails reads.
OPTIONAL_SECRETS = {
    "orbit_secret": ("gitlab_knowledge_graph_secret", ".gitlab_knowledge_graph_secret"),
    "incoming_email_auth_token": ("gitlab_incoming_email_secret",
                                  ".gitlab_incoming_email_secret"),
    "service_desk_email_auth_token": ("gitlab_service_desk_email_secret",
                                      ".gitlab_service_desk_email_secret")}


def managed_settings(rails: dict) -> dict[str, Any] | None:
    """installation.managed_by and the settings, or None when there are no settings (then
    omnibus-gitlab deletes the file)."""
    managed = rails.get("managed_settings") or {}
    settings = dict(managed.get("settings") or {})
    if not settings:
        return None
    installation = managed.get("installation") or {}
    return {"managed_by": installation.get("managed_by", "GitLab Omnibus"), "settings": settings}


def clickhouse(rails: dict) -> dict[str, dict[str, Any]]:
    """click_house.yml's databases: the four connection keys of each, as given."""
    return {str(name): {key: (database or {}).get(key)
                        for key in ("database", "url", "username", "password")}
            for name, database in (rails.get("clickhouse_databases") or {}).items()}


def config_files(context: Context, rails: dict, values: dict[str, Any]) -> list:
    etc = common.rails_etc(context)
    group = common.git_user(context)[1]
    options: TemplateOptions = {"group": group, "mode": 0o640, "notifies": common.RAILS_NOTIFY}
    managed = managed_settings(rails)
    files: list = [
        context.template(etc / "click_house.yml", "gitlab-rails/click_house.yml.j2", **options,
                         sensitive=True, **values, databases=clickhouse(rails)),
        context.template(etc / "session_store.yml", "gitlab-rails/session_store.yml.j2",
                         **options, sensitive=True, **values),
        Absent(etc / "managed_settings.yml", notifies=common.RAILS_NOTIFY) if managed is None
        else context.template(etc / "managed_settings.yml",
                              "gitlab-rails/managed_settings.yml.j2", **options, **values,
                              managed=managed)]
    for key, (name, _dotfile) in OPTIONAL_SECRETS.items():
        path = etc / name
        files.append(File(path, str(rails[key]), group=group, mode=0o640, sensitive=True,
                          notifies=common.RAILS_NOTIFY) if rails.get(key)
                     else Absent(path, notifies=common.RAILS_NOTIFY))
    return files


def links(context: Context, rails: dict) -> list:
    """config/<file> and the secrets' dotfiles in the package's tree, for the files written."""
    home, etc = common.rails_home(context), common.rails_etc(context)
    present = {"click_house.yml": True, "session_store.yml": True,
               "managed_settings.yml": managed_settings(rails) is not None}
    result: list = [Link(home / "config" / name, etc / name) if present[name]
                    else Absent(home / "config" / name) for name in CONFIG_FILES]
    result += [Link(home / dotfile, etc / name) if rails.get(key) else Absent(home / dotfile)
               for key, (name, dotfile) in OPTIONAL_SECRETS.items()]
    return result
