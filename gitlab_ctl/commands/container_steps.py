"""The steps of the container image's start that omnibus-gitlab's image takes in its
docker/assets/init-container (and update-permissions), each a function of the layout and
the container's environment: stale PID files and sockets removed, OpenSSH's host keys kept
in /etc/gitlab, the sshd service enabled or not, ownership repaired, and the administrator's
pre/post reconfigure scripts.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitlab_ctl.commands.maintenance import Out
from gitlab_ctl.paths import Layout

#: What omnibus-gitlab's clean_stale_pids removes: regular files and sockets named `pid`,
#: `*.pid` or `socket.?`, at most 4 levels below these roots (left by a container that was
#: killed; a new runsv or postmaster refuses to start over them).
STALE_ROOTS = ("{sv}", "{run}", "{data}")
STALE_DEPTH = 4

#: Host key types sshd gets, each generated once into /etc/gitlab (the volume), as
#: omnibus-gitlab's image does, and linked from /etc/ssh for what reads them there.
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")
SSHD = "sshd"
#: Names the image's assets directory (sshd_config, gitlab.rb defaults); the image sets it.
ASSETS_VARIABLE = "GITLAB_IMAGE_ASSETS"
#: Appended to the sshd config when GITLAB_ALLOW_SHA1_RSA is true (omnibus-gitlab's lines).
SHA1_RSA_LINES = ("", "# Enabled/Disabled via GITLAB_ALLOW_SHA1_RSA=[true/false]",
                  "HostKeyAlgorithms +ssh-rsa", "PubkeyAcceptedKeyTypes +ssh-rsa")


@dataclass(frozen=True)
class Ownership:
    """One line of omnibus-gitlab's update-permissions: `path` (relative to the data or
    log dir) owned by user:group (group None: left as is), all below it too when
    `recursive`; applied only where the user exists and the path does."""
    user: str
    group: str | None
    path: str
    recursive: bool = False
    mode: int | None = None


#: docker/assets/update-permissions, as data ("data/..." is /var/opt/gitlab, "log/..."
#: /var/log/gitlab; a trailing * matches names).
OWNERSHIP = (
    *(Ownership("git", "git", f"data/{name}", True) for name in (
        ".ssh", ".gitconfig", "gitaly", "git-data", "gitlab-ci/builds", "gitlab-rails",
        "gitlab-shell")),
    Ownership("git", None, "data/git-data/repositories", mode=0o2770),
    Ownership("git", "gitlab-www", "data/gitlab-workhorse", True),
    *(Ownership("git", None, f"log/{name}") for name in (
        "gitlab-workhorse", "gitlab-rails", "gitlab-shell", "sidekiq", "puma", "unicorn",
        "gitaly")),
    *(Ownership("git", "git", f"log/{name}/*.log") for name in (
        "gitlab-rails", "gitlab-shell", "puma", "unicorn", "gitaly")),
    Ownership("gitlab-www", "gitlab-www", "data/nginx/*_temp", True),
    Ownership("gitlab-www", "gitlab-www", "data/nginx/*_cache", True),
    Ownership("root", "root", "data/nginx/www", True),
    Ownership("gitlab-psql", "gitlab-psql", "data/postgresql", True),
    Ownership("gitlab-psql", None, "log/postgresql"),
    Ownership("gitlab-prometheus", "gitlab-prometheus", "data/prometheus", True),
    Ownership("gitlab-prometheus", None, "log/prometheus"),
    Ownership("gitlab-prometheus", "gitlab-prometheus", "data/alertmanager", True),
    Ownership("gitlab-prometheus", None, "log/alertmanager"),
    Ownership("gitlab-redis", "gitlab-redis", "data/redis", True),
    Ownership("gitlab-redis", "git", "data/redis"),
    Ownership("gitlab-redis", None, "log/redis"),
    Ownership("registry", "git", "data/gitlab-rails/shared/registry", True),
)


#: How many changed paths update-permissions names; the rest are counted.
SHOWN_CHANGES = 10


def enabled(environ: Mapping[str, str], name: str) -> bool:
    """omnibus-gitlab's flags are on only when exactly 'true'."""
    return environ.get(name) == "true"


# --- stale PID files and sockets --------------------------------------------------------


def stale_files(layout: Layout, run_dir: Path = Path("/run")) -> Iterator[Path]:
    for template in STALE_ROOTS:
        root = Path(template.format(sv=layout.sv_dir, run=run_dir, data=layout.data_dir))
        base_depth = len(root.parts)
        for directory, subdirs, files in os.walk(root):
            depth = len(Path(directory).parts) - base_depth
            if depth >= STALE_DEPTH - 1:
                subdirs.clear()  # find -maxdepth 4: entries 4 levels down, no deeper
            for name in (*files, *subdirs):
                if name == "pid" or name.endswith(".pid") or \
                        (len(name) == 8 and name.startswith("socket.")):
                    path = Path(directory) / name
                    mode = path.lstat().st_mode
                    if stat.S_ISREG(mode) or stat.S_ISSOCK(mode):
                        yield path


def clean_stale_pids(layout: Layout, out: Out, run_dir: Path = Path("/run")) -> None:
    out("Cleaning stale PIDs & sockets")
    for path in list(stale_files(layout, run_dir)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            out(f"  removed {path}")


# --- OpenSSH -----------------------------------------------------------------------------


def sshd_config_path(layout: Layout) -> Path:
    """The config sshd runs with, written on every start (the image's /assets/sshd_config
    and GITLAB_ALLOW_SHA1_RSA's lines), so a flag removed is a flag undone."""
    return layout.install_dir / "etc" / SSHD / "sshd_config"


def ensure_host_keys(layout: Layout, out: Out, etc_ssh: Path = Path("/etc/ssh")) -> None:
    for kind in HOST_KEY_TYPES:
        key = layout.etc_dir / f"ssh_host_{kind}_key"
        if not key.is_file():
            out(f"Generating ssh_host_{kind}_key...")
            for stale in (key, key.with_name(key.name + ".pub")):
                stale.unlink(missing_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-f", str(key), "-N", "", "-t", kind],
                           check=True, stdin=subprocess.DEVNULL)
        os.chmod(key, 0o600)
        for suffix in ("", ".pub"):
            link = etc_ssh / f"ssh_host_{kind}_key{suffix}"
            link.unlink(missing_ok=True)
            link.symlink_to(f"{key}{suffix}")


def prepare_sshd(layout: Layout, environ: Mapping[str, str], out: Out, assets: Path,
                 etc_ssh: Path = Path("/etc/ssh"), run_dir: Path = Path("/run")) -> None:
    """Host keys, config and the service link; GITLAB_DISABLE_OPENSSH=true unlinks it."""
    link = layout.service_dir / SSHD
    if enabled(environ, "GITLAB_DISABLE_OPENSSH"):
        out("OpenSSH is disabled (GITLAB_DISABLE_OPENSSH=true)")
        link.unlink(missing_ok=True)
        return
    out("Preparing OpenSSH service...")
    ensure_host_keys(layout, out, etc_ssh)
    config = (assets / "sshd_config").read_text()
    if enabled(environ, "GITLAB_ALLOW_SHA1_RSA"):
        config += "\n".join(SHA1_RSA_LINES) + "\n"
    target = sshd_config_path(layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config)
    for directory in (run_dir / SSHD, layout.log_dir / SSHD):
        directory.mkdir(parents=True, exist_ok=True)
    layout.service_dir.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(layout.sv_dir / SSHD)


# --- update-permissions ------------------------------------------------------------------


def _ids(user: str, group: str | None) -> tuple[int, int] | None:
    try:
        uid = pwd.getpwnam(user).pw_uid
        gid = grp.getgrnam(group).gr_gid if group else -1
    except KeyError:
        return None
    return uid, gid


def _matches(layout: Layout, relative: str) -> list[Path]:
    where, _, rest = relative.partition("/")
    base = layout.data_dir if where == "data" else layout.log_dir
    if "*" in rest:
        parent, _, pattern = rest.rpartition("/")
        return sorted((base / parent).glob(pattern))
    path = base / rest
    return [path] if path.exists() or path.is_symlink() else []


def _walk(path: Path) -> Iterator[Path]:
    yield path
    if path.is_dir() and not path.is_symlink():
        for directory, subdirs, files in os.walk(path):
            for name in (*subdirs, *files):
                yield Path(directory) / name


def wanted_owners(layout: Layout) -> dict[Path, tuple[int, int]]:
    """path -> (uid, gid; -1 keeps the group) after every rule, in order (a later rule
    wins, as the script's later chown does: the redis dir ends gitlab-redis:git)."""
    wanted: dict[Path, tuple[int, int]] = {}
    for rule in OWNERSHIP:
        ids = _ids(rule.user, rule.group)
        if ids is None:
            continue
        for top in _matches(layout, rule.path):
            for path in (_walk(top) if rule.recursive else (top,)):
                wanted[path] = ids
    return wanted


def _update_modes(layout: Layout) -> list[str]:
    changed = []
    for rule in OWNERSHIP:
        if rule.mode is None or _ids(rule.user, rule.group) is None:
            continue
        for top in _matches(layout, rule.path):
            if stat.S_IMODE(top.stat().st_mode) != rule.mode:
                os.chmod(top, rule.mode)
                changed.append(f"{top} (mode {rule.mode:o})")
    return changed


def update_permissions(layout: Layout, out: Out) -> int:
    """omnibus-gitlab's update-permissions: ownership (and the repositories' mode) of the
    data and log volumes for the accounts this image has; how many paths it changed."""
    changed: list[str] = []
    for path, (uid, gid) in wanted_owners(layout).items():
        current = path.lstat()
        # Only a wrong owner is repaired (volumes from another image, other ids): a root
        # owner or a group is reconfigure's choice (configs root:git, gitlab-rails/shared
        # git:gitlab-www, redis.conf gitlab-redis:git), which omnibus-gitlab's script
        # overrides until the next reconfigure sets it back
        if current.st_uid in (0, uid) and uid != 0:
            continue
        if (current.st_uid, current.st_gid if gid >= 0 else -1) != (uid, gid):
            os.lchown(path, uid, gid)
            changed.append(f"{path} ({current.st_uid}:{current.st_gid} -> {uid}:"
                           f"{gid if gid >= 0 else current.st_gid})")
    changed += _update_modes(layout)
    if not changed:
        out("update-permissions: ownership already in place")
    for line in changed[:SHOWN_CHANGES]:
        out(f"update-permissions: {line}")
    if len(changed) > SHOWN_CHANGES:
        out(f"update-permissions: {len(changed) - SHOWN_CHANGES} more path(s) changed")
    return len(changed)


# --- the administrator's scripts ---------------------------------------------------------


def run_script(environ: Mapping[str, str], name: str, out: Out) -> int:
    """GITLAB_PRE/POST_RECONFIGURE_SCRIPT, run by the shell as omnibus-gitlab's `eval`
    does; its exit code (0 when the variable is unset)."""
    if name not in environ:
        return 0
    label = "Pre" if "PRE" in name else "Post"
    out(f"Running {label} Reconfigure Script...")
    code = subprocess.run(["/bin/sh", "-c", environ[name]], check=False,
                          env=dict(environ)).returncode
    if code != 0:
        out(f"{name} failed with exit code {code}; the container stops")
    return code


def gitlab_ctl(layout: Layout) -> str:
    found = layout.install_dir / "bin" / "gitlab-ctl"
    return str(found) if found.exists() else shutil.which("gitlab-ctl") or str(found)
