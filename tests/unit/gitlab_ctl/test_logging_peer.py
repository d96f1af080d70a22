"""Peer tests: expectations of omnibus-gitlab's specs on logging, checked against what our
reconfigure renders for the same gitlab.rb input. Ids: `logrotate/...` =
spec/chef/cookbooks/logrotate/recipes/folders_and_configs_spec.rb, `nginx/...` =
spec/chef/cookbooks/nginx/recipes/nginx_spec.rb ('log directory and runit group', with the
shared examples of spec/chef/support/shared_examples/logged_service.rb and
logrotate_config.rb). The words are ours, the facts theirs. Also: every logging key declared
applied changes what is rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Directory
from gitlab_ctl.engine.runit import log_config
from gitlab_ctl.services import SERVICES
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

NGINX_ROTATE = "/var/opt/gitlab/logrotate/logrotate.d/nginx"
CUSTOM = {"logging": {"logrotate_frequency": "weekly", "logrotate_size": "50",
                      "logrotate_maxsize": "50", "logrotate_rotate": 50,
                      "logrotate_compress": "nocompress", "logrotate_method": "copy",
                      "logrotate_postrotate": "/usr/bin/killall -HUP nginx",
                      "logrotate_dateformat": "-%Y-%m-%d"},
          "logrotate": {"enable": False}}
FUGEE = {"nginx": {"log_group": "fugee"}}


def files(settings: dict[str, Any]) -> dict[str, str]:
    return {str(f.path): f.content for f in service_files(make_context(settings))}


# (spec id, gitlab.rb, file, text, whether the file contains it)
CASES = [
    *[("logrotate/default-values", {}, NGINX_ROTATE, text, True)
      for text in ("daily", "rotate 30", "compress", "copytruncate", "notifempty", "postrotate")],
    *[("logrotate/default-values", {}, NGINX_ROTATE, text, False)
      for text in ("size", "maxsize", "dateext")],
    *[("logrotate/custom-values", CUSTOM, NGINX_ROTATE, text, True)
      for text in ("weekly", "rotate 50", "nocompress", "copy", "postrotate", "size 50",
                   "maxsize 50", "dateext", "dateformat -%Y-%m-%d")],
    ("nginx/log-group-custom-logrotate", FUGEE, NGINX_ROTATE, "su root fugee", True),
    ("nginx/log-group-custom-runit", FUGEE, "/opt/gitlab/sv/nginx/log/run",
     "-U root:fugee -u root:fugee", True),
    ("nginx/log-group-default-logrotate", {}, NGINX_ROTATE, "su root gitlab-www", True),
]


@pytest.mark.parametrize(("spec", "settings", "path", "text", "present"), CASES,
                         ids=[f"{case[0]}:{case[3]}:{case[4]}" for case in CASES])
def test_peer(spec: str, settings: dict, path: str, text: str, present: bool) -> None:
    content = files(settings)[path]
    assert (text in content) is present, f"{spec}: {text!r} {'missing' if present else 'found'}"


@pytest.mark.parametrize(("spec", "settings", "group", "mode"), [
    ("nginx/log-group-default-directory", {}, "gitlab-www", 0o750),
    ("nginx/log-group-custom-directory", FUGEE, "fugee", 0o750)])
def test_nginx_log_directory_group(spec: str, settings: dict, group: str, mode: int) -> None:
    context = make_context(settings)
    directory = next(r for r in SERVICES["nginx"].runit_resources(context)
                     if isinstance(r, Directory) and r.path == Path("/var/log/gitlab/nginx"))
    assert (directory.group, directory.mode) == (group, mode), spec


def test_udp_log_shipping_sets_svlogd_udp_and_a_prefix_per_service() -> None:
    """omnibus-gitlab's Logging.parse_udp_log_shipping: host:port, '<hostname> <service>: '."""
    text = log_config({"svlogd_size": 1, "svlogd_num": 2, "svlogd_timeout": 3,
                       "udp_log_shipping_host": "10.0.0.9", "udp_log_shipping_port": 514},
                      "nginx")
    assert "u10.0.0.9:514" in text.splitlines()
    assert any(line.startswith("p") and line.endswith(" nginx: ") for line in text.splitlines())


# -- every logging key declared applied reaches a file -----------------------------------
VALUES: dict[str, Any] = {"logrotate_size": "77M", "logrotate_maxsize": "88M",
                          "logrotate_dateformat": "-%Y%m", "logrotate_postrotate": "/bin/true",
                          "log_group": "distinct-group", "udp_log_shipping_host": "10.1.2.3",
                          "udp_log_shipping_port": 5514}
KEYS = [("logging", key) for key in VALUES] + [("logrotate", "log_directory"),
                                                ("logrotate", "log_group")]


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_every_applied_key_changes_the_output(section: str, key: str) -> None:
    setting = load_schema().get(section, key)
    assert setting is not None and setting.used, f"{section}['{key}'] is not declared applied"
    base: dict[str, Any] = {}
    if key == "udp_log_shipping_port":
        base = {"logging": {"udp_log_shipping_host": "10.1.2.3"}}
    value = VALUES.get(key, "/var/log/distinct" if key == "log_directory" else "distinct")
    changed = {**base, section: {**base.get(section, {}), key: value}}

    def everything(settings: dict) -> list:
        context = make_context(settings)
        return sorted(repr(r) for service in SERVICES.values()
                      for r in service.configure(context) + service.runit_resources(context))
    assert everything(changed) != everything(base), f"{section}['{key}'] changes nothing"
