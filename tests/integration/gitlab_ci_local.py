"""gitlab-ci-local (a real GitLab CI client, from npm) for the pipeline tests: finding a
Node.js >= 20 and the installed client, a checkout to run it in, and an HTTP store for the
remote artifact cache that containers reach over docker's bridge.

`./dev test` installs the client with `npm install --prefix cache/tools/gitlab-ci-local
gitlab-ci-local@4.72.0` (4.75.1 crashes); OMNIBUS_GITLAB_CI_LOCAL names another install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import REPO

VERSION = "4.72.0"
INSTALL = Path(os.environ.get("OMNIBUS_GITLAB_CI_LOCAL") or REPO / "cache/tools/gitlab-ci-local")
SCRIPT = INSTALL / "node_modules/gitlab-ci-local/dist/index.js"
OMNIBUS = REPO / ".venv/bin/omnibus"


def _version(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True,
                             timeout=30).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return 0


def find_node() -> tuple[str | None, str]:
    """A node >= 20: the toolchain's (`omnibus toolchain-path node`) when that verb exists,
    else one on PATH; None and why not otherwise."""
    try:
        made = subprocess.run([str(OMNIBUS), "toolchain-path", "node"], capture_output=True,
                              text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        made = None
    if made is not None and made.returncode == 0 and made.stdout.strip():
        node = str(Path(made.stdout.strip().splitlines()[-1]) / "bin" / "node")
        if _version(node) >= 20:
            return node, ""
    node = shutil.which("node")
    if node and _version(node) >= 20:
        return node, ""
    found = f"node {_version(node)}" if node else "no node on PATH"
    return None, (f"gitlab-ci-local needs Node.js >= 20: `omnibus toolchain-path node` gave "
                  f"none and {found} (Debian 12 has 18)")


def client() -> tuple[list[str] | None, str]:
    """The command running gitlab-ci-local, or None and why it cannot run here."""
    node, why = find_node()
    if node is None:
        return None, why
    if not SCRIPT.is_file():
        return None, (f"gitlab-ci-local is not installed in {INSTALL}: run ./dev test, or "
                      f"npm install --prefix {INSTALL} gitlab-ci-local@{VERSION}")
    return [node, str(SCRIPT)], ""


def checkout(path: Path, projects: list[str]) -> Path:
    """A git clone of this checkout's committed tree with the pipeline of `projects` as its
    .gitlab-ci.yml (gitlab-ci-local reads jobs from a git checkout)."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(path)], check=True)
    subprocess.run([str(OMNIBUS), "ci", "generate", *projects, "--out",
                    str(path / ".gitlab-ci.yml"), "--root", str(path)], check=True,
                   capture_output=True)
    subprocess.run(["git", "-c", "user.name=ci", "-c", "user.email=ci@example.test", "commit",
                    "-qam", "the pipeline under test"], cwd=path, check=True)
    return path


def run(command: list[str], cwd: Path, *args: str, timeout: int = 600,
        path: str | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": path or os.environ["PATH"]}
    return subprocess.run([*command, "--no-color", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=environment)


class _Store(SimpleHTTPRequestHandler):
    """GET and HEAD serve the directory; PUT stores (the remote cache's three verbs)."""

    def log_message(self, *args) -> None:
        return None

    def do_PUT(self) -> None:
        target = Path(self.translate_path(self.path))
        target.parent.mkdir(parents=True, exist_ok=True)
        length = int(self.headers.get("Content-Length", "0"))
        partial = target.with_name(f".{target.name}.part")
        with partial.open("wb") as out:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                length -= len(chunk)
        partial.replace(target)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.puts.append(target.name)  # type: ignore[attr-defined]


@contextmanager
def http_store(directory: Path, address: str) -> Iterator[tuple[str, list[str]]]:
    """`directory` served on `address` with PUT; yields its URL and the names PUT."""
    handler = type("Store", (_Store,), {})
    server = ThreadingHTTPServer((address, 0), lambda *a: handler(*a, directory=str(directory)))
    server.puts = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{address}:{server.server_address[1]}", server.puts  # type: ignore
    finally:
        server.shutdown()
        server.server_close()
