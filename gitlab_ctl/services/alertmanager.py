"""Prometheus' Alertmanager as omnibus-gitlab runs it: under the gitlab-prometheus account,
its home with alertmanager.yml (email through GitLab's SMTP settings to admin_email), its
env dir and runit service. Prometheus sends its alerts here while it is enabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import Directory, File
from gitlab_ctl.services import common, prometheus
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.configcheck import ConfigCheck

NOTIFY = (("restart", "alertmanager"),)
#: the SMTP authentications whose user name and password Alertmanager is given
PASSWORD_AUTHENTICATIONS = ("login", "plain")


def smtp_global(context: Context) -> dict[str, Any]:
    """alertmanager.yml global's SMTP settings from gitlab_rails' (when smtp_enable)."""
    rails = context.section("gitlab_rails")
    if not rails.get("smtp_enable"):
        return {}
    values = {"smtp_from": rails.get("gitlab_email_from") or "unconfigured",
              "smtp_smarthost": f"{rails.get('smtp_address') or 'unconfigured'}:"
                                f"{rails.get('smtp_port') or '25'}"}
    if rails.get("smtp_authentication") in PASSWORD_AUTHENTICATIONS:
        values["smtp_auth_username"] = rails.get("smtp_user_name")
        values["smtp_auth_password"] = rails.get("smtp_password")
    return values


def settings(context: Context) -> dict[str, Any]:
    """The alertmanager section with what omnibus-gitlab's Prometheus library derives."""
    values = dict(context.section("alertmanager"))
    home = values["home"]
    values["flags"] = {"web.listen-address": values["listen_address"],
                       "storage.path": str(Path(home) / "data"),
                       "config.file": str(Path(home) / "alertmanager.yml"),
                       **(values.get("flags") or {})}
    receiver: dict[str, Any] = {"name": "default-receiver"}
    if values.get("admin_email") is not None:
        receiver["email_configs"] = [{"to": values["admin_email"]}]
    values["global"] = {**smtp_global(context), **(values.get("global") or {})}
    values["receivers"] = [receiver, *(values.get("receivers") or [])]
    values["default_receiver"] = values.get("default_receiver") or "default-receiver"
    return values


def configuration(alertmanager: dict[str, Any]) -> str:
    return prometheus.to_yaml({
        "global": alertmanager["global"],
        "templates": list(alertmanager.get("templates") or []),
        "route": {"receiver": alertmanager["default_receiver"],
                  "routes": list(alertmanager.get("routes") or [])},
        "receivers": alertmanager["receivers"],
        "inhibit_rules": list(alertmanager.get("inhibit_rules") or []),
    })


def configure(context: Context) -> list:
    alertmanager = settings(context)
    user = prometheus.account(context)[0]
    home = Path(alertmanager["home"])
    # it holds the SMTP password
    config = context.template(home / "alertmanager.yml", "alertmanager/alertmanager.yml.j2",
                              owner=user, sensitive=True, notifies=NOTIFY,
                              configuration=configuration(alertmanager))
    return [
        *prometheus.account_resources(context),
        Directory(home, owner=user, mode=0o750),
        config_check(context, config).step(),  # before the file or the env dir changes
        *common.env_dir_resources(Path(alertmanager["env_directory"]),
                                  prometheus.go_env(context, alertmanager), NOTIFY),
        config,
    ]


def config_check(context: Context, config: File) -> ConfigCheck:
    """`amtool check-config` on a copy of alertmanager.yml: its schema, its routes'
    receivers, and the templates it names (a template it cannot find is not an error).
    The copy, with the SMTP password, lies in a directory only root can read."""
    program = context.layout.embedded / "bin" / "amtool"
    return ConfigCheck("alertmanager", program, (config,), config.path.parent,
                       argv=lambda scratch: [str(program), "check-config",
                                             str(scratch / config.path.name)])


def supervise(context: Context) -> list:
    return prometheus.kingpin_service(context, "alertmanager", settings(context))


SERVICE = Service("alertmanager", "alertmanager", "embedded/bin/alertmanager", configure,
                  supervise)
