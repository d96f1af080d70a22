"""What `gitlab-ctl registry-garbage-collect` and `registry-database` do, in omnibus-gitlab's
order and words (files/gitlab-ctl-commands/lib/gitlab_ctl/registry/garbage_collect.rb and
database.rb): check that the registry is enabled (its runit service is linked) and installed,
stop it when the command must not run beside it, run the registry program, and start the
registry again whether that worked or not.

Where this differs from omnibus-gitlab, on purpose: a disabled registry makes
registry-database exit 1 too (omnibus-gitlab's exits 0 having done nothing); a config whose
metadata database is on is refused before the registry is stopped (the registry program
itself refuses offline garbage collection then, after omnibus-gitlab has stopped it); and a
failed `registry database` command starts the registry again too (omnibus-gitlab's exit!
skips its ensure)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.commands.registry_options import Invocation
from gitlab_ctl.engine import control, runit
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout

Out = Callable[[str], None]
Ask = Callable[[str], str]  # prints the question, returns the answer ('' at end of input)
SERVICE = "registry"
#: config.yml's database.enabled values with which GitLab's registry uses the database
DATABASE_ON = (True, "true", "prefer")


class RegistryCommandError(GitlabCtlError):
    """A registry command that did not run, or failed (exit 1)."""


@dataclass(frozen=True)
class Registry:
    """The installed registry as gitlab.rb configures it."""

    layout: Layout
    dir: Path
    username: str
    group: str

    @property
    def program(self) -> Path:
        return self.layout.embedded / "bin" / "registry"

    @property
    def config(self) -> Path:
        return self.dir / "config.yml"

    def enabled(self) -> bool:
        """omnibus-ctl's service_enabled?: reconfigure linked the service into runit's."""
        return (self.layout.service_dir / SERVICE).is_symlink()

    def running(self) -> bool:
        return runit.is_running(self.layout, SERVICE)


def load(layout: Layout) -> Registry:
    """registry['dir'], ['username'] and ['group'] from gitlab.rb (omnibus-gitlab reads them
    from the node attributes the last reconfigure saved)."""
    from gitlab_ctl.config.attributes import resolve_attributes
    from gitlab_ctl.config.reader import read_config

    # no gitlab.rb yet: the defaults (omnibus-gitlab's, without saved node attributes)
    settings = read_config(layout.config_file)[0] if layout.config_file.exists() else {}
    registry = resolve_attributes(settings).get("registry") or {}
    return Registry(layout, Path(registry.get("dir") or layout.data_dir / "registry"),
                    registry.get("username") or "registry", registry.get("group") or "registry")


def _require_enabled(registry: Registry) -> None:
    if not registry.enabled():
        raise RegistryCommandError(
            "", "Container registry is not enabled, exiting...",
            hint="set registry_external_url (or registry['enable'] = true) in "
                 f"{registry.layout.config_file} and run `gitlab-ctl reconfigure`")


def _require_files(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            raise RegistryCommandError(
                "", f"Could not find '{path}' file. Is this command being run on a Container "
                "Registry node?", hint="run it where the registry runs, after `gitlab-ctl "
                "reconfigure` has written its configuration")


def _enter(registry: Registry) -> None:
    """Run from the registry's directory, as omnibus-gitlab does (relative paths in
    config.yml are the registry's)."""
    if registry.dir.is_dir():
        os.chdir(registry.dir)


def read_config_yml(path: Path) -> dict[str, Any]:
    """config.yml as a mapping ({} when it is not one: the registry says what is wrong)."""
    from gitlab_ctl.config import safe_yaml

    try:
        data, _node = safe_yaml.load(path.read_text())
    except (OSError, UnicodeDecodeError, GitlabCtlError):
        return {}
    return data if isinstance(data, dict) else {}


def database_enabled(config: dict[str, Any]) -> bool:
    database = config.get("database")
    return isinstance(database, dict) and database.get("enabled") in DATABASE_ON


def read_only(config: dict[str, Any]) -> bool:
    """storage.maintenance.readonly.enabled, as omnibus-gitlab's read_only? reads it."""
    storage = config.get("storage") or {}
    mode = ((storage.get("maintenance") or {}).get("readonly") or {}) if isinstance(
        storage, dict) else {}
    return isinstance(mode, dict) and mode.get("enabled") is True


def _sv(registry: Registry, verb: str, out: Out, svwait: int) -> bool:
    return control.control(registry.layout, verb, SERVICE, out, svwait=svwait) == 0


# --- registry-garbage-collect -----------------------------------------------------------


def garbage_collect(registry: Registry, config: Path | None, flags: list[str], out: Out,
                    svwait: int) -> int:
    """Stop the registry, `registry garbage-collect CONFIG [-m] [-d]`, start it again."""
    path = config or registry.config
    _enter(registry)
    _require_enabled(registry)
    if not path.exists():
        raise RegistryCommandError(
            "", f"Didn't find {path}, please supply the path to registry config.yml file, "
            "eg: gitlab-ctl registry-garbage-collect /path/to/config.yml",
            hint="`gitlab-ctl reconfigure` writes it when the registry is enabled")
    _require_files(registry.program)
    if database_enabled(read_config_yml(path)):
        raise RegistryCommandError(
            str(path), "the garbage-collect command is not compatible with database metadata, "
            "please use online garbage collection instead (the registry was not stopped)",
            hint="with registry['database'] on, the registry collects garbage online by "
                 "itself (registry['gc']); offline collection is only for a registry without "
                 "its metadata database")
    command = [str(registry.program), "garbage-collect", str(path), *flags]
    if not _sv(registry, "stop", out, svwait):
        raise RegistryCommandError(
            "", "the registry did not stop; garbage collection did not run (it must not run "
                "beside a registry that takes pushes)",
            hint=f"see `gitlab-ctl status {SERVICE}` and {registry.layout.log_dir}/registry")
    try:
        out(f"Running garbage-collect using configuration {json.dumps(command)}, this might "
            "take a while...\n")
        returncode = subprocess.call(command, cwd=registry.dir if registry.dir.is_dir()
                                     else None)
        if returncode != 0:
            out("\nFailed to run garbage-collect command, starting registry service.")
    finally:
        started = _sv(registry, "start", out, svwait)
    if returncode != 0:
        raise RegistryCommandError(
            "registry garbage-collect", f"exited {returncode}; nothing more was collected"
            + ("" if started else ", and the registry did not start again"),
            hint="its output above says why (a config the registry cannot read, a storage "
                 "it cannot reach)")
    if not started:
        raise RegistryCommandError("", "garbage collection ran, but the registry did not "
                                   "start again", hint=f"`gitlab-ctl start {SERVICE}`; its "
                                   f"log is in {registry.layout.log_dir}/registry")
    return 0


# --- registry-database ------------------------------------------------------------------


def database_argv(registry: Registry, invocation: Invocation) -> list[str]:
    """`registry database COMMAND [SUBCOMMAND] OPTIONS CONFIG`, through chpst as the
    registry's account unless gitlab-ctl already runs as it (PostgreSQL's peer
    authentication knows the registry by its account)."""
    argv = [str(registry.program), "database", invocation.command,
            *([invocation.subcommand] if invocation.subcommand else []),
            *invocation.arguments, str(registry.config)]
    if pwd.getpwuid(os.geteuid()).pw_name == registry.username:
        return argv
    chpst = registry.layout.embedded / "bin" / "chpst"
    return [str(chpst), "-u", f"{registry.username}:{registry.group}", *argv]


def _may_continue(registry: Registry, invocation: Invocation, out: Out, ask: Ask,
                  svwait: int) -> None:
    """omnibus-gitlab's continue?: a command that must not run beside the registry asks to
    stop it; one that needs read-only mode refuses a registry that takes writes."""
    if invocation.needs_stop and registry.running():
        answer = ask("WARNING: Command cannot run while the container registry is running. "
                     "Stop the registry before proceeding? (y/n)")
        if answer.strip().lower() != "y":
            out("Exiting...")
            raise RegistryCommandError("", "the registry is running, and was not stopped: "
                                       "nothing ran", hint="answer y, or `gitlab-ctl stop "
                                       f"{SERVICE}` first")
        out(f"Stopping service {SERVICE}")
        if not _sv(registry, "stop", out, svwait):
            raise RegistryCommandError("", "the registry did not stop: nothing ran",
                                       hint=f"see `gitlab-ctl status {SERVICE}`")
    if (invocation.needs_read_only and registry.running()
            and not read_only(read_config_yml(registry.config))):
        out("Command requires the container registry to be in read-only mode. Exiting...")
        raise RegistryCommandError(
            "", "the registry takes writes: nothing ran",
            hint="set registry['storage'] with 'maintenance' => {'readonly' => {'enabled' => "
                 "true}}, reconfigure, and run it again (or stop the registry)")


def database(registry: Registry, invocation: Invocation, out: Out, ask: Ask,
             svwait: int) -> int:
    """Run `registry database ...` for `invocation`, then make sure the registry runs."""
    _enter(registry)
    _require_enabled(registry)
    _require_files(registry.program, registry.config)
    _may_continue(registry, invocation, out, ask, svwait)
    argv = database_argv(registry, invocation)
    out(f"Executing command:\n{' '.join(argv)}\n")
    try:
        returncode = subprocess.call(argv, cwd=registry.dir)
    finally:
        if not registry.running():
            out(f"Starting service {SERVICE}")
            _sv(registry, "start", out, svwait)
    if returncode != 0:
        raise RegistryCommandError(f"registry database {invocation.title}",
                                   f"exited {returncode}",
                                   hint="its output above says why")
    return 0


def ask_stdin(question: str) -> str:
    print(question, flush=True)
    line = sys.stdin.readline()
    return line
