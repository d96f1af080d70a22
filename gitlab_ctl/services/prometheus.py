"""Prometheus as omnibus-gitlab runs it (monitoring cookbook): the gitlab-prometheus account
(shared with Alertmanager and node_exporter), its home with prometheus.yml, the rules
directory with gitlab.rules and node.rules, its env dir and runit service. The scrape jobs
of the services that are enabled come from services/prometheus_scrape. Also what the
monitoring services share: omnibus-gitlab's PrometheusHelper flag rendering and the Go
services' environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gitlab_ctl.engine.resources import Directory, File, Group, Step, User
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common, prometheus_scrape
from gitlab_ctl.services.base import Context, Service
from gitlab_ctl.services.configcheck import ConfigCheck

#: prometheus.yml changed: Prometheus rereads it on HUP
NOTIFY = (("hup", "prometheus"),)
RULES_FILES = ("gitlab.rules", "node.rules")
#: what Shellwords.shellescape leaves unescaped
SHELL_SAFE = re.compile(r"([^A-Za-z0-9_\-.,:+/@\n])")
#: promtool's words -> what to do about them
PROMTOOL_HINTS = {
    "field kubernetes_sd_configs not found": (
        "this Prometheus is built without Kubernetes service discovery: set "
        "prometheus['monitor_kubernetes'] = false and drop kubernetes_sd_configs from "
        "prometheus['scrape_configs'], then run reconfigure again"),
}


def shellescape(value: Any) -> str:
    """Ruby's Shellwords.shellescape, which omnibus-gitlab's flags go through."""
    text = str(value)
    if not text:
        return "''"
    return SHELL_SAFE.sub(r"\\\1", text).replace("\n", "'\n'")


def flags(values: Mapping[str, Any]) -> str:
    """PrometheusHelper#flags: --key=value for each flag with a value."""
    return " ".join(f"--{key}={shellescape(value)}" for key, value in values.items()
                    if value is not None and str(value) != "")


def kingpin_flags(values: Mapping[str, Any]) -> str:
    """PrometheusHelper#kingpin_flags: true is --key, false --no-key, else --key=value."""
    rendered = []
    for key, value in values.items():
        if value is True:
            rendered.append(f"--{key}")
        elif value is False:
            rendered.append(f"--no-{key}")
        elif value is not None and str(value) != "":
            rendered.append(f"--{key}={shellescape(value)}")
    return " ".join(rendered)


def go_env(context: Context, section: Mapping[str, Any]) -> dict[str, Any]:
    """The environment omnibus-gitlab gives its Go monitoring services, under the section's
    env."""
    ssl_dir = f"{context.layout.embedded}/ssl/certs/"
    return {"SSL_CERT_DIR": ssl_dir, "GODEBUG": "tlsmlkem=0", **(section.get("env") or {})}


def account(context: Context) -> tuple[str, str]:
    prometheus = context.section("prometheus")
    return prometheus["username"], prometheus["group"]


def account_resources(context: Context) -> list:
    """monitoring::user: the gitlab-prometheus group and account, home the Prometheus home."""
    prometheus = context.section("prometheus")
    user, group = account(context)
    return [Group(group, prometheus.get("gid")),
            User(user, group, prometheus["home"], prometheus["shell"], prometheus.get("uid"))]


class PlainDumper(yaml.SafeDumper):
    """Writes a value used twice twice, as Ruby's to_yaml of JSON-parsed data does, rather
    than as an anchor and an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(values: Any) -> str:
    """Prometheus.hash_to_yaml: a YAML document with keys in their order."""
    return yaml.dump(values, Dumper=PlainDumper, default_flow_style=False, sort_keys=False,
                     explicit_start=True)


def settings(context: Context) -> dict:
    """The prometheus section with what omnibus-gitlab's Prometheus library derives."""
    values = dict(context.section("prometheus"))
    home = values["home"]
    values["flags"] = {"web.listen-address": values["listen_address"],
                       "storage.tsdb.path": str(Path(home) / "data"),
                       "config.file": str(Path(home) / "prometheus.yml"),
                       **(values.get("flags") or {})}
    rules_dir = values.get("rules_directory") or str(Path(home) / "rules")
    values["rules_directory"] = rules_dir
    if values.get("rules_files") is None:
        values["rules_files"] = [str(Path(rules_dir) / "*.rules")]
    if values.get("alertmanagers") is None:
        alertmanager = context.section("alertmanager")
        values["alertmanagers"] = (
            [{"static_configs": [{"targets": [alertmanager["listen_address"]]}]}]
            if alertmanager.get("enable") else [])
    values["scrape_configs"] = prometheus_scrape.scrape_configs(context)
    return values


def configuration(prometheus: Mapping[str, Any]) -> str:
    return to_yaml({
        "global": {"scrape_interval": f"{prometheus['scrape_interval']}s",
                   "scrape_timeout": f"{prometheus['scrape_timeout']}s",
                   "external_labels": dict(prometheus.get("external_labels") or {})},
        "remote_read": list(prometheus.get("remote_read") or []),
        "remote_write": list(prometheus.get("remote_write") or []),
        "rule_files": list(prometheus["rules_files"]),
        "scrape_configs": prometheus["scrape_configs"],
        "alerting": {"alertmanagers": list(prometheus["alertmanagers"])},
    })


def configure(context: Context) -> list:
    prometheus = settings(context)
    user = prometheus["username"]
    home, rules_dir = Path(prometheus["home"]), Path(prometheus["rules_directory"])
    config = context.template(home / "prometheus.yml", "prometheus/prometheus.yml.j2",
                              owner=user, notifies=NOTIFY,
                              configuration=configuration(prometheus))
    rules = tuple(context.template(rules_dir / name, f"prometheus/{name}.j2", owner=user,
                                   notifies=NOTIFY) for name in RULES_FILES)
    return [
        *account_resources(context),
        Directory(home, owner=user, mode=0o750),
        Directory(rules_dir, owner=user, mode=0o750),
        *config_checks(context, config, rules),  # before any file is replaced
        *common.env_dir_resources(Path(prometheus["env_directory"]),
                                  go_env(context, prometheus), (("restart", "prometheus"),)),
        config,
        *rules,
    ]


def promtool_hint(output: str) -> str:
    return next((hint for words, hint in PROMTOOL_HINTS.items() if words in output), "")


def config_checks(context: Context, config: File, rules: tuple[File, ...]) -> list[Step]:
    """promtool on copies of the new files: `check config --syntax-only` on prometheus.yml
    (without it promtool would also read the rules and other files prometheus.yml names,
    the live ones at their absolute paths, not the new ones), and `check rules` on a copy
    of the rules directory, which may lie outside the home."""
    program = context.layout.embedded / "bin" / "promtool"
    return [
        ConfigCheck("prometheus", program, (config,), config.path.parent, hint=promtool_hint,
                    argv=lambda scratch: [str(program), "check", "config", "--syntax-only",
                                          str(scratch / config.path.name)]).step(),
        ConfigCheck("prometheus", program, rules, rules[0].path.parent, name="prometheus-rules",
                    argv=lambda scratch: [str(program), "check", "rules",
                                          *(str(scratch / file.path.name) for file in rules)]
                    ).step(),
    ]


def definition(context: Context, name: str, section: Mapping[str, Any], run_script: str,
               owner: str, reload_action: str = "restart") -> ServiceDefinition:
    """The runit service of a monitoring service, logging to its log_directory."""
    return ServiceDefinition(name, run_script, Path(section["log_directory"]), log_owner=owner,
                             log_group=section.get("log_group"), reload_action=reload_action)


def kingpin_service(context: Context, name: str, values: Mapping[str, Any]) -> list:
    """The runit service of a program run as gitlab-prometheus with kingpin-style flags
    (alertmanager, node-exporter): runit/<name>.run.j2 with the env dir and flags."""
    user, group = account(context)
    run_script = context.render(f"runit/{name}.run.j2", user=user, group=group,
                                env_dir=values["env_directory"],
                                flags=kingpin_flags(values["flags"]))
    return service_resources(context.layout, definition(context, name, values, run_script,
                                                       user), context.section("logging"))


def supervise(context: Context) -> list:
    prometheus = settings(context)
    user, group = account(context)
    run_script = context.render("runit/prometheus.run.j2", user=user, group=group,
                                env_dir=prometheus["env_directory"], binary="prometheus",
                                flags=flags(prometheus["flags"]))
    return service_resources(context.layout, definition(
        context, "prometheus", prometheus, run_script, user, "hup"), context.section("logging"))


SERVICE = Service("prometheus", "prometheus", "embedded/bin/prometheus", configure, supervise)
