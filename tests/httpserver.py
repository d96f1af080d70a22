"""A real HTTP server on loopback for fetch tests: serves files, honours Range, can fail."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)
    drop_first_after: int | None = None  # close the first full response after N bytes
    ranges: bool = True  # answer Range requests with 206
    status: int | None = None  # answer every request with this status instead
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args) -> None:  # keep test output clean
        return None

    def do_GET(self) -> None:
        behaviour = self.behaviour
        behaviour.requests.append((self.path, self.headers.get("Range")))
        body = behaviour.files.get(self.path)
        if behaviour.status is not None or body is None:
            self.send_error(behaviour.status or 404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and behaviour.ranges and wanted.startswith("bytes="):
            start = int(wanted[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if behaviour.drop_first_after is not None and start == 0:
            cut, behaviour.drop_first_after = behaviour.drop_first_after, None
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class LocalServer:
    def __init__(self, behaviour: Behaviour) -> None:
        handler = type("Handler", (_Handler,), {"behaviour": behaviour})
        self.behaviour = behaviour
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test and bench output clean
        return None


@contextmanager
def serving_directory(directory: Path, address: str = "127.0.0.1") -> Iterator[str]:
    """`directory` as static files over HTTP on `address` (loopback unless told); yields
    the URL of its root."""
    handler = functools.partial(_QuietFileHandler, directory=str(directory))
    server = ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def docker_bridge_gateway() -> str:
    """This machine's address on docker's default bridge: reachable from its containers,
    unlike loopback, without `--network host`.

    The bridge interface's own address, not `docker network inspect`'s Gateway: a dockerd on
    its very first start reports the default bridge's IPAM config without a Gateway."""
    import fcntl
    import socket
    import struct
    import subprocess

    name = subprocess.run(["docker", "network", "inspect", "bridge", "-f",
                           '{{index .Options "com.docker.network.bridge.name"}}'],
                          capture_output=True, text=True, check=True).stdout.strip() or "docker0"
    siocgifaddr = 0x8915  # linux/sockios.h: the interface's IPv4 address
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
        except OSError as error:
            raise RuntimeError(f"docker's bridge {name} has no IPv4 address ({error}); "
                               "is dockerd running?") from error
    return socket.inet_ntoa(answer[20:24])
