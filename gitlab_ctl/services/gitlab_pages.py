"""GitLab Pages' daemon, gitlab-pages (off unless pages_external_url or gitlab_pages['enable']
is set), as omnibus-gitlab's gitlab-pages cookbook runs it: its directory, the
gitlab-pages-config file of command-line flags, the API secret it shares with Rails, its env
dir and runit service. nginx's server block in front of it is written by services/nginx_sites;
gitlab.yml's pages section by gitlab_rails."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitlab_ctl.engine.resources import Absent, Directory, File, Link
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-pages"),)
SECRET_NAME = ".gitlab_pages_secret"
#: Secrets gitlab-secrets.json holds for gitlab-pages; gitlab.rb's value wins.
SECRET_KEYS = ("gitlab_id", "gitlab_secret", "auth_secret", "api_secret_key")


def ruby(value: Any) -> str:
    """A value as the ERB template writes it (Ruby's to_s: true, false, 60)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def given(value: Any) -> bool:
    """Ruby's truthiness: only nil and false are unset."""
    return value is not None and value is not False


def auth_redirect_uri(pages: dict, pages_url: str | None) -> str | None:
    """<scheme>://projects.<host>[:port]/auth, or <scheme>://<host>[:port]/projects/auth
    with namespace_in_path; the port only when not 80 or 443."""
    url = urlsplit(pages_url or "")
    if not url.hostname:
        return None
    port = "" if (url.port or 0) in (0, 80, 443) else f":{url.port}"
    if pages.get("namespace_in_path"):
        return f"{url.scheme}://{url.hostname}{port}/projects/auth"
    return f"{url.scheme}://projects.{url.hostname}{port}/auth"


def settings(context: Context) -> dict:
    """gitlab_pages with what omnibus-gitlab's parse_gitlab_pages_daemon derives."""
    pages = dict(context.section("gitlab_pages"))
    rails = context.section("gitlab_rails")
    pages_url = context.attributes.get("pages_external_url")
    domain = urlsplit(str(pages_url or "")).hostname
    pages["domain"] = domain
    # always named, as in omnibus-gitlab (its `if []` is true); written with external_https
    pages["cert"] = pages.get("cert") or f"/etc/gitlab/ssl/{domain}.crt"
    pages["cert_key"] = pages.get("cert_key") or f"/etc/gitlab/ssl/{domain}.key"
    pages["pages_root"] = rails.get("pages_path") or str(Path(rails["shared_path"]) / "pages")
    if pages.get("gitlab_server") is None:
        pages["gitlab_server"] = context.attributes.get("external_url")
    api_server = pages.get("internal_gitlab_server") or pages["gitlab_server"]
    if pages.get("artifacts_server_url") is None and api_server:
        pages["artifacts_server_url"] = str(api_server).removesuffix("/") + "/api/v4"
    if pages.get("access_control") and not pages.get("auth_redirect_uri"):
        pages["auth_redirect_uri"] = auth_redirect_uri(pages, pages_url)
    stored = context.secrets.get("gitlab_pages") or {}
    for key in SECRET_KEYS:
        if pages.get(key) is None:
            pages[key] = stored.get(key)
    return pages


def env_dir(pages: dict) -> Path:
    return Path(pages["env_directory"])


def rails_secret(context: Context, secret: str) -> list:
    """Rails' copy of the API secret (gitlab-rails/etc/gitlab_pages_secret, linked from its
    tree as .gitlab_pages_secret), as omnibus-gitlab's gitlab-rails recipe writes it."""
    path = common.rails_etc(context) / "gitlab_pages_secret"
    resources: list = [File(path, secret, sensitive=True,
                            notifies=(*common.RAILS_NOTIFY, *NOTIFY))]
    home = common.rails_home(context)
    if (home / "config").is_dir():
        resources.append(Link(home / SECRET_NAME, path))
    return resources


def configure(context: Context) -> list:
    pages = settings(context)
    user, group = common.git_user(context)
    directory = Path(pages["dir"])
    secret = f"{pages['api_secret_key']}\n"
    env = {"SSL_CERT_DIR": common.default_env(context)["SSL_CERT_DIR"], "GODEBUG": "tlsmlkem=0",
           **(pages.get("env") or {})}
    return [
        Directory(directory, owner=user, mode=0o700),
        Directory(context.layout.install_dir / "etc" / "gitlab-pages", owner=user, mode=0o700),
        Absent(directory / "admin.secret"),
        File(directory / SECRET_NAME, secret, group=group, mode=0o640, sensitive=True,
             notifies=NOTIFY),
        context.template(directory / "gitlab-pages-config", "gitlab-pages/gitlab-pages-config.j2",
                         group=group, mode=0o640, sensitive=True, notifies=NOTIFY, pages=pages,
                         api_secret_key_path=directory / SECRET_NAME, ruby=ruby, given=given),
        *rails_secret(context, secret),
        *common.env_dir_resources(env_dir(pages), env, NOTIFY),
    ]


def supervise(context: Context) -> list:
    pages = settings(context)
    run_script = context.render("runit/gitlab-pages.run.j2", pages=pages,
                                env_dir=env_dir(pages))
    definition = ServiceDefinition("gitlab-pages", run_script, Path(pages["log_directory"]),
                                   log_owner=common.git_user(context)[0],
                                   log_group=pages.get("log_group"),
                                   timestamps=pages["log_format"] != "json")
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitlab-pages", "gitlab_pages", "embedded/bin/gitlab-pages", configure,
                  supervise)
