"""The address tests and e2e serve repositories on must be reachable from containers on
docker's default bridge, whatever dockerd's IPAM report says.

A dockerd on its very first start reports the default bridge as `[{"Subnet": ...}]` with no
Gateway (the second start reports it), so reading the Gateway gave "" and URLs like
`http://:PORT/` on every new machine. This test runs on whatever state dockerd is in; on a
fresh machine (as CI's is) it is the first-start state."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from builder.compile.builder_images import ensure_base
from builder.definitions.loader import load_catalog
from tests.conftest import REPO
from tests.httpserver import docker_bridge_gateway, serving_directory

pytestmark = pytest.mark.integration


def test_the_bridge_address_is_inside_the_bridge_subnet():
    address = ipaddress.ip_address(docker_bridge_gateway())
    config = json.loads(subprocess.run(
        ["docker", "network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}"],
        capture_output=True, text=True, check=True).stdout)
    subnets = [ipaddress.ip_network(entry["Subnet"]) for entry in config if "Subnet" in entry]
    assert any(address in subnet for subnet in subnets), (address, config)


def test_a_container_on_the_default_bridge_fetches_from_it(tmp_path):
    (tmp_path / "probe").write_text("reached\n")
    base = ensure_base(load_catalog(REPO).platforms["debian-12"], "amd64",
                       lambda *_args, **_kw: None)
    with serving_directory(tmp_path, docker_bridge_gateway()) as url:
        host, port = url.removeprefix("http://").split(":")
        # bash's /dev/tcp: the minimal base image has no curl
        fetched = subprocess.run(
            ["docker", "run", "--rm", "--network", "bridge", base, "bash", "-c",
             f"exec 3<>/dev/tcp/{host}/{port}; printf 'GET /probe HTTP/1.0\\r\\n\\r\\n' >&3; "
             "cat <&3"], capture_output=True, text=True, timeout=120)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.endswith("reached\n")
