"""A real nginx serving GET/HEAD/PUT on loopback: a stand-in for a shared artifact cache."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

CONFIG = """\
daemon off;
user root;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {work}/store;
        client_max_body_size 0;
        location / {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
}}
"""


class WebDav:
    def __init__(self, work: Path) -> None:
        if shutil.which("nginx") is None:
            raise RuntimeError("nginx is not installed (./dev test installs nginx-light)")
        self.work = work
        (work / "store").mkdir(parents=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (work / "nginx.conf").write_text(CONFIG.format(work=work, port=self.port))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/omnibus"

    def access_log(self) -> str:
        return (self.work / "access.log").read_text()

    def __enter__(self) -> WebDav:
        self.process = subprocess.Popen(["nginx", "-c", str(self.work / "nginx.conf"),
                                         "-e", str(self.work / "error.log")])
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(self.work / 'error.log').read_text()}")

    def __exit__(self, *exc) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)
