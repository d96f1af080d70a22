"""nginx: the main config, the GitLab vhost proxying to gitlab-workhorse's socket, the other
sites' server blocks (nginx_sites), and a status server on localhost; a changed config is
reloaded (HUP), never a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Directory, File, Link
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import letsencrypt
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.configcheck import ConfigCheck
from gitlab_ctl.services.nginx_sites import site_files

CERTIFICATE_HINT = (
    "an https external_url needs a certificate and its key: put them at the paths nginx "
    "names above (or point nginx['ssl_certificate'] and nginx['ssl_certificate_key'] at "
    "yours), or use an http:// external_url; then run reconfigure again")


def settings(context: Context) -> dict:
    values = dict(context.section("nginx"))
    if values.get("worker_processes") is None:
        values["worker_processes"] = context.facts.cpus
    host = context.section("gitlab_rails").get("gitlab_host")
    for key, suffix in (("ssl_certificate", "crt"), ("ssl_certificate_key", "key")):
        if values.get(key) is None:  # omnibus-gitlab's paths, named by the host
            values[key] = f"/etc/gitlab/ssl/{host}.{suffix}"
    if values.get("proxy_protocol") and values.get("real_ip_header") is None:
        values["real_ip_header"] = "proxy_protocol"  # as omnibus-gitlab's GitlabRails
    return values


def configure(context: Context) -> list:
    nginx = settings(context)
    www = context.section("web_server")
    directory = Path(nginx["dir"])
    conf = directory / "conf"
    notify = (("hup", "nginx"),)
    owner = {"owner": "root", "group": www["group"]}
    # Rails' error pages, when the package has Rails
    public = context.layout.embedded / "service" / "gitlab-rails" / "public"
    public_dir = public if (public / "502.html").exists() else None
    values: dict[str, Any] = {
        "nginx": nginx, "rails": context.section("gitlab_rails"),
        "workhorse": context.section("gitlab_workhorse"), "public_dir": public_dir,
        "letsencrypt": letsencrypt.challenge(context)}
    files = (
        context.template(conf / "nginx.conf", "nginx/nginx.conf.j2", notifies=notify, **values),
        context.template(conf / "nginx-status.conf", "nginx/nginx-status.conf.j2",
                         notifies=notify, **values),
        context.template(conf / "upstream_definitions" / "gitlab-workhorse.conf",
                         "nginx/gitlab-workhorse-upstream.conf.j2", notifies=notify, **values),
        context.template(conf / "service_conf" / "gitlab-rails.conf",
                         "nginx/gitlab-rails.conf.j2", notifies=notify, **values),
        *site_files(context, conf, notify),
    )
    return [
        Directory(directory, **owner, mode=0o750),
        Directory(conf, **owner, mode=0o750),
        Directory(conf / "service_conf", **owner, mode=0o750),
        Directory(conf / "upstream_definitions", **owner, mode=0o750),
        Directory(Path(nginx["log_directory"]), **owner, mode=0o750),
        Link(directory / "logs", Path(nginx["log_directory"])),
        *letsencrypt.before_nginx(context),  # a stand-in certificate for the check and start
        config_check(context, directory, files).step(),  # before any file is replaced
        *files,
        healthcheck_rc(context, nginx),
    ]


def config_check(context: Context, directory: Path, files: tuple[File, ...]) -> ConfigCheck:
    """`nginx -t` on a copy of conf/ with the new files, with the live prefix (temp and log
    paths); relative includes resolve next to the file -c names, so the copy's are read."""
    program = context.layout.embedded / "sbin" / "nginx"
    return ConfigCheck(
        "nginx", program, files, directory / "conf", copy_live=True,
        argv=lambda scratch: [str(program), "-t", "-q", "-p", str(directory), "-c",
                              str(scratch / "nginx.conf")],
        hint=lambda output: CERTIFICATE_HINT if "cannot load certificate" in output else "")


def healthcheck_rc(context: Context, nginx: dict) -> File:
    """What gitlab-healthcheck asks (omnibus-gitlab writes the same file): GitLab's health
    endpoint through nginx where the package has Rails, else nginx's own status page, so a
    package without Rails (gitlab-local) is healthy when what it bundles answers."""
    rails = context.section("gitlab_rails")
    if (context.layout.embedded / "service" / "gitlab-rails" / "config.ru").exists():
        scheme = "https" if nginx.get("listen_https") else "http"
        relative = rails.get("gitlab_relative_url") or ""
        url = f"{scheme}://localhost:{nginx['listen_port']}{relative}/-/health"
        flags = "--insecure" if scheme == "https" else ""  # the certificate names the host
    else:
        status = nginx["status"]
        url, flags = f"http://{status['listen_address']}:{status['port']}/nginx_status", ""
    return File(context.layout.install_dir / "etc" / "gitlab-healthcheck-rc",
                f"url='{url}'\nflags='{flags}'\n")


def supervise(context: Context) -> list:
    nginx = settings(context)
    www = context.section("web_server")
    run_script = context.render("runit/nginx.run.j2", nginx=nginx)
    # nginx['log_group'], else logging['log_group'], else the web server's group
    log_group = (nginx.get("log_group") or context.section("logging").get("log_group")
                 or www["group"])
    definition = ServiceDefinition("nginx", run_script, Path(nginx["log_directory"]),
                                   log_group=log_group, reload_action="hup")
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("nginx", "nginx", "embedded/sbin/nginx", configure, supervise,
                  after_start=letsencrypt.after_nginx, hup_replaces_workers=True)
