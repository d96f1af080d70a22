"""gitlab-sshd, GitLab Shell's own SSH server (off unless gitlab_sshd['enable'] is true), as
omnibus-gitlab's gitlab-shell recipe runs it: its working directory, host keys made once
with ssh-keygen, its env dir and runit service. Its settings are the `sshd:` block of
GitLab Shell's config.yml (`shell_config`, written by services/gitlab_shell), which it reads
from -config-dir."""

from __future__ import annotations

import fnmatch
import glob
from pathlib import Path
from typing import Any

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Command, Directory
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "gitlab-sshd"),)
#: config.yml's sshd: keys, in omnibus-gitlab's order: (key, gitlab_sshd key), None for the
#: host keys and certificates found on disk (GitlabSshdHelper.json_config).
SSHD_KEYS = (
    ("concurrent_sessions_limit", "concurrent_sessions_limit"),
    ("proxy_protocol", "proxy_protocol"), ("proxy_policy", "proxy_policy"),
    ("proxy_header_timeout", "proxy_header_timeout"), ("grace_period", "grace_period"),
    ("client_alive_interval", "client_alive_interval"), ("ciphers", "ciphers"),
    ("kex_algorithms", "kex_algorithms"), ("macs", "macs"),
    ("public_key_algorithms", "public_key_algorithms"),
    ("login_grace_time", "login_grace_time"), ("trusted_user_ca_keys", "trusted_user_ca_keys"),
    ("host_key_files", None), ("host_key_certs", None),
    ("listen", "listen_address"), ("web_listen", "metrics_address"))
#: The host key types omnibus-gitlab generates (a FIPS host may refuse some).
KEY_TYPES = ("rsa", "ecdsa", "ed25519")
#: Makes the host keys: $1 the directory, $2 user:group; fails only when none could be made.
KEYGEN_SCRIPT = (
    'set -e; made=0; for crypto in ' + " ".join(KEY_TYPES) + '; do '
    'f="$1/ssh_host_${crypto}_key"; ssh-keygen -q -N "" -t "$crypto" -f "$f" </dev/null || true; '
    'if [ -f "$f" ]; then made=1; chmod 0600 "$f"; chown "$2" "$f"; fi; done; '
    '[ "$made" = 1 ] || { echo "Failed to generate any keys, aborting." >&2; exit 1; }')


def enabled(context: Context) -> bool:
    return bool(context.section("gitlab_sshd").get("enable"))


def found(directory: Any, pattern: Any) -> list[str]:
    """The files a dir and glob name, sorted (Ruby's Dir[] order); none when either is unset."""
    if not directory or not pattern:
        return []
    return sorted(glob.glob(str(Path(str(directory)) / str(pattern))))


def will_generate(sshd: dict) -> bool:
    """Whether reconfigure makes the host keys: asked for, none there yet, and the keys dir
    exists (or is the working dir reconfigure creates)."""
    directory = sshd.get("host_keys_dir")
    return bool(sshd.get("generate_host_keys") and directory
                and not found(directory, sshd.get("host_keys_glob"))
                and (directory == sshd.get("dir") or Path(str(directory)).is_dir()))


def host_key_files(sshd: dict) -> list[str]:
    """The host keys config.yml lists: those on disk, or those this run will make."""
    if will_generate(sshd):
        names = [f"ssh_host_{crypto}_key" for crypto in KEY_TYPES]
        pattern = str(sshd.get("host_keys_glob"))
        return sorted(str(Path(str(sshd["host_keys_dir"])) / name) for name in names
                      if fnmatch.fnmatch(name, pattern))
    return found(sshd.get("host_keys_dir"), sshd.get("host_keys_glob"))


def shell_config(context: Context) -> dict[str, Any] | None:
    """config.yml's sshd: block, or None when gitlab-sshd is off."""
    if not enabled(context):
        return None
    sshd = dict(context.section("gitlab_sshd"))
    keys = sshd.get("trusted_user_ca_keys")
    if keys is not None and not isinstance(keys, list):
        raise ConfigError("/etc/gitlab/gitlab.rb", "gitlab_sshd['trusted_user_ca_keys'] must "
                          "be an Array", hint="e.g. ['/etc/gitlab/ssh_user_ca.pub']")
    derived = {"host_key_files": host_key_files(sshd),
               "host_key_certs": found(sshd.get("host_certs_dir"), sshd.get("host_certs_glob"))}
    return {key: derived[key] if source is None else sshd.get(source)
            for key, source in SSHD_KEYS}


def configure(context: Context) -> list:
    sshd = context.section("gitlab_sshd")
    user, group = common.git_user(context)
    env_dir = Path(sshd["env_directory"])
    resources: list = [Directory(Path(sshd["dir"]), owner=user, mode=0o700)]
    if sshd.get("generate_host_keys"):
        directory = str(sshd["host_keys_dir"])
        resources.append(Command(
            "generate gitlab-sshd host keys",
            ["sh", "-c", KEYGEN_SCRIPT, "sh", directory, f"{user}:{group}"],
            guard=lambda: not will_generate(dict(sshd)), notifies=NOTIFY,
            env={"PATH": f"{context.layout.embedded}/bin:/usr/bin:/bin"}))
    return [*resources, *common.env_dir_resources(env_dir, sshd.get("env") or {}, NOTIFY)]


def supervise(context: Context) -> list:
    sshd = context.section("gitlab_sshd")
    user, group = common.git_user(context)
    run_script = context.render(
        "runit/gitlab-sshd.run.j2", user=user, group=group, working_dir=sshd["dir"],
        env_dir=sshd["env_directory"], config_dir=context.section("gitlab_shell")["dir"],
        binary=common.shell_home(context) / "bin" / "gitlab-sshd")
    definition = ServiceDefinition("gitlab-sshd", run_script, Path(sshd["log_directory"]),
                                   log_owner=user, log_group=sshd.get("log_group"))
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("gitlab-sshd", "gitlab_sshd",
                  "embedded/service/gitlab-shell/bin/gitlab-sshd", configure, supervise)
