"""What `node[...]` answers in gitlab.rb, as in omnibus-gitlab, where Chef's node holds Ohai's
facts about the host and the package's attribute defaults while gitlab.rb is read:
`node['fqdn']`, `node['hostname']`, `node['ipaddress']`, ..., `node['package']['install-dir']`
(the directory the package is installed in, /opt/gitlab), and a section's defaults,
`node['gitlab']['gitlab_rails']['key']` or `node['gitaly']['key']` (the default, never what
gitlab.rb sets: that is read as gitlab_rails['key']). Anything else is refused by name."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from gitlab_ctl.config.gitlabrb_limits import GitlabRbError, excerpt
from gitlab_ctl.paths import Layout

#: Ohai's facts that gitlab.rb files read, and the package's own attribute.
HOST_FACTS = ("fqdn", "hostname", "machinename", "domain", "ipaddress", "platform",
              "platform_family", "platform_version")
_NODE_HINT = ("gitlab.rb can read node['fqdn'], node['hostname'], node['machinename'], "
              "node['domain'], node['ipaddress'], node['platform'], node['platform_family'], "
              "node['platform_version'], node['package']['install-dir'] and a section's "
              "defaults, node['gitlab']['gitlab_rails']['key']; a setting is read back as "
              "gitlab_rails['key']")


def host_facts(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The host's facts, and where the package is installed (the gitlab-ctl wrapper's
    GITLAB_INSTALL_DIR, as Layout reads it). The IP address is looked up only when read."""
    hostname = socket.gethostname()
    fqdn = socket.getfqdn() or hostname
    domain = fqdn.partition(".")[2] or None
    install_dir = Layout.from_environ(environ).install_dir
    return {"fqdn": fqdn, "hostname": hostname.partition(".")[0], "machinename": hostname,
            "domain": domain, "ipaddress": _ip_address, **_platform(),
            "package": {"install-dir": str(install_dir)}}


def default_facts() -> dict[str, Any]:
    """The facts when none are given: the package's install directory, nothing of the host."""
    return {"package": {"install-dir": str(Layout.from_environ({}).install_dir)}}


def _ip_address() -> str | None:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return None


def _platform() -> dict[str, str | None]:
    """Ohai's platform facts from /etc/os-release (ID, ID_LIKE, VERSION_ID)."""
    values: dict[str, str] = {}
    try:
        with open("/etc/os-release", encoding="utf-8") as stream:
            for line in stream:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip("\"'")
    except OSError:
        pass
    family = (values.get("ID_LIKE") or values.get("ID") or "").split(" ")[0] or None
    return {"platform": values.get("ID"), "platform_family": family,
            "platform_version": values.get("VERSION_ID")}


def node_value(facts: Mapping[str, Any], keys: list[str], line: int,
               defaults: Callable[[], Mapping[str, Any]]) -> Any:
    """What node[keys...] answers; `defaults` gives the sections' defaults when read."""
    first = keys[0] if keys else ""
    if first in HOST_FACTS and len(keys) == 1:
        value = facts.get(first)
        return value() if callable(value) else value
    if keys[:2] == ["package", "install-dir"] and len(keys) == 2:
        return (facts.get("package") or default_facts()["package"])["install-dir"]
    sections = defaults()
    path = keys[1:] if first == "gitlab" else keys
    if path and path[0] in sections:
        found: Any = sections
        for key in path:
            found = found.get(key) if isinstance(found, Mapping) else None
        return found
    written = "node" + "".join(f"['{excerpt(key)}']" for key in keys)
    raise GitlabRbError(line, f"unknown node attribute {written}", hint=_NODE_HINT)
