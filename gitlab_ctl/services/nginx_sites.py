"""nginx's server blocks for the sites besides GitLab's own: the registry, Pages, KAS and
Mattermost, each in service_conf/gitlab-<site>.conf (which nginx.conf includes) when its
external URL is set. Their settings were resolved into registry_nginx, pages_nginx,
gitlab_kas_nginx and mattermost_nginx (gitlab_ctl.config.nginx_sites)."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.config.nginx_sites import SITES, Site
from gitlab_ctl.engine.resources import File, Notify
from gitlab_ctl.services import letsencrypt
from gitlab_ctl.services.base import Context

#: Where each site's service listens: omnibus-gitlab's defaults for the services this
#: gitlab-ctl does not run itself (gitlab-pages' listen_proxy, KAS' listen_address and
#: k8s proxy, Mattermost's service port); the registry's comes from its own settings.
FIXED_UPSTREAMS = {"pages": "localhost:8090", "kas": "localhost:8150",
                   "mattermost": "127.0.0.1:8065"}
KAS_K8S_PROXY = "localhost:8154"
#: The setting each site's verbatim insert comes from.
CUSTOM_KEY = {"mattermost": "custom_gitlab_mattermost_server_config"}


def upstream(context: Context, site: Site) -> str:
    if site.name == "registry":
        return str(context.section("registry")["registry_http_addr"])
    return FIXED_UPSTREAMS[site.name]


def site_files(context: Context, conf: Path, notify: tuple[Notify, ...]) -> list[File]:
    """The server block file of each site whose URL is set and not turned off."""
    files = []
    for site in SITES:
        values = context.section(site.section)
        if not values.get("enable"):
            continue
        files.append(context.template(
            conf / "service_conf" / f"gitlab-{site.name}.conf", "nginx/site.conf.j2",
            notifies=notify, site=site, upstream=upstream(context, site),
            k8s_proxy=KAS_K8S_PROXY, letsencrypt=letsencrypt.challenge(context),
            custom=values[CUSTOM_KEY.get(site.name, "custom_gitlab_server_config")]))
    return files
