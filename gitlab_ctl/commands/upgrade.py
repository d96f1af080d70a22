"""`gitlab-ctl upgrade` (what the package's postinst runs) and `gitlab-ctl upgrade-check`.

upgrade follows omnibus-gitlab's flow: a first install with a real EXTERNAL_URL is simply
reconfigured; an installation that was never configured, or one with
/etc/gitlab/skip-auto-reconfigure, is left alone; otherwise every service except the ones
migrations need is stopped, those are started, reconfigure runs, and the services that ran
before are started again. Reconfigure (and its output) comes from the caller, so upgrade
prints exactly what `gitlab-ctl reconfigure` prints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping

from gitlab_ctl.commands.maintenance import MaintenanceError, Out
from gitlab_ctl.engine import control, runit
from gitlab_ctl.paths import Layout

EXAMPLE_URL = "http://gitlab.example.com"
#: The oldest MAJOR.MINOR this package upgrades from (omnibus-gitlab's MIN_VERSION).
UPGRADE_STOP = "19.2"
UPGRADE_DOCS = "https://docs.gitlab.com/update/upgrade_paths/"
#: What migrations need running; everything else is stopped during the upgrade.
KEEP_RUNNING = ("postgresql", "patroni", "consul", "redis", "geo-postgresql", "gitaly",
                "praefect")
MAJOR_MINOR = re.compile(r"^\s*v?(\d+)\.(\d+)(?:[.\-+~ ]|$)")


def major_minor(version: str, where: str):
    """The comparable MAJOR.MINOR of '19.2.3-ee' and the like (packaging's Version where
    it is installed; the package's bundled Python has only the standard library)."""
    match = MAJOR_MINOR.match(version)
    if not match:
        raise MaintenanceError(where, f"'{version}' is not a version",
                               hint="give MAJOR.MINOR[.PATCH], e.g. 19.2.1")
    try:
        from packaging.version import Version
    except ImportError:
        return int(match.group(1)), int(match.group(2))
    return Version(f"{match.group(1)}.{match.group(2)}")


def package_manifest(layout: Layout) -> dict:
    """The installed package's version manifest ({} when it cannot be read)."""
    try:
        manifest = json.loads((layout.install_dir / "version-manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def package_upgrade_stop(layout: Layout) -> str:
    """The installed package's upgrade stop ('' if it names none)."""
    return str(package_manifest(layout).get("upgrade_stop") or "")


def upgrade_check(old: str, new: str, environ: Mapping[str, str] | None = None,
                  package_stop: str = "") -> list[str]:
    """Why upgrading from `old` to `new` is refused (omnibus-gitlab's words); [] if it is
    allowed. No old version means a first install, always allowed. The stop is MIN_VERSION
    from the environment, else the package's own (`package_stop`), else UPGRADE_STOP."""
    environ = os.environ if environ is None else environ
    stop = environ.get("MIN_VERSION") or package_stop or UPGRADE_STOP
    if not old.strip():
        return []
    if major_minor(old, "OLD") >= major_minor(stop, "MIN_VERSION"):
        return []
    return [f"It seems you are upgrading from {old} to {new}.",
            f"It is required to upgrade to the latest {stop}.x version first before "
            "proceeding.",
            f"Please follow the upgrade documentation at {UPGRADE_DOCS}"]


def not_configured(layout: Layout) -> bool:
    """Nothing supervised: no service enabled, or runsv not running for one of them."""
    enabled = runit.enabled_services(layout)
    return not enabled or any(runit.read_status(layout.service_dir / name) is None
                              for name in enabled)


def welcome(url: str, layout: Layout) -> list[str]:
    return ["Thank you for installing GitLab!", f"GitLab should be available at {url}", "",
            f"Its settings are in {layout.config_file}; after changing them run",
            "  sudo gitlab-ctl reconfigure"]


def _sv_each(layout: Layout, command: str, names: list[str], out: Out, svwait: int
             ) -> list[str]:
    """`sv COMMAND` on each service; the names for which sv failed."""
    return [name for name in names
            if control.control(layout, command, name, out, svwait=svwait) != 0]


def _reconfigure_failure(reconfigure: Callable[[], int]) -> str | None:
    """None if reconfigure succeeded, else what to say (also for an unexpected exception,
    which must not leave the services down without a word)."""
    try:
        code = reconfigure()
    except Exception as error:  # reported, and the upgrade stops
        return f"reconfigure failed: {type(error).__name__}: {error}"
    return f"reconfigure failed with exit code {code} (its error is above)" if code else None


def _migrate(layout: Layout, out: Out, reconfigure: Callable[[], int], svwait: int) -> int:
    running = [name for name in runit.enabled_services(layout)
               if runit.is_running(layout, name)]
    stopped = [name for name in running if name not in KEEP_RUNNING]
    out("Shutting down all GitLab services except those needed for migrations")
    _sv_each(layout, "stop", stopped, out, svwait)
    out("Ensuring the required services are running")
    needed = [name for name in runit.enabled_services(layout) if name in KEEP_RUNNING]
    for name in _sv_each(layout, "start", needed, out, svwait):
        out(f"WARNING: {name} did not start in {svwait} s; reconfigure may fail without it "
            f"(see {layout.log_dir / name}/current)")
    out("Reconfiguring GitLab to apply migrations")
    failure = _reconfigure_failure(reconfigure)
    if failure:
        raise MaintenanceError(
            "gitlab-ctl upgrade", f"{failure}; stopped for the upgrade and still down: "
            f"{', '.join(stopped) or 'nothing'}",
            hint="fix the cause, then run 'gitlab-ctl reconfigure' and 'gitlab-ctl start'")
    out("Restarting previously running GitLab services")
    failed = _sv_each(layout, "start", running, out, svwait)
    if failed:
        out(f"WARNING: did not start again: {', '.join(failed)}; see 'gitlab-ctl status'")
    return 1 if failed else 0


def upgrade(layout: Layout, out: Out, reconfigure: Callable[[], int],
            environ: Mapping[str, str] | None = None, svwait: int = 30) -> int:
    """The exit code of `gitlab-ctl upgrade`; MaintenanceError when reconfigure fails."""
    environ = os.environ if environ is None else environ
    url = environ.get("EXTERNAL_URL", "").strip()
    if not (layout.data_dir / "bootstrapped").exists() and url and url != EXAMPLE_URL:
        if reconfigure() != 0:
            raise MaintenanceError("gitlab-ctl upgrade", "the first reconfigure failed (its "
                                   "error is above)", hint="fix the cause, then run "
                                   "'gitlab-ctl reconfigure'")
        for line in welcome(url, layout):
            out(line)
        return 0
    skip = layout.etc_dir / "skip-auto-reconfigure"
    if not_configured(layout) and (layout.data_dir / "bootstrapped").exists() and \
            not skip.exists():
        # configured before, then stopped by `gitlab-ctl uninstall` (package removal): a
        # reinstall brings it back as it was
        out("GitLab was configured here before; reconfiguring to start it again")
        if reconfigure() != 0:
            raise MaintenanceError("gitlab-ctl upgrade", "reconfigure failed (its error is "
                                   "above)", hint="fix the cause, then run "
                                   "'gitlab-ctl reconfigure'")
        return 0
    if not_configured(layout):
        out("It looks like GitLab has not been configured yet; skipping the upgrade script.")
        out(f"Set external_url in {layout.config_file}, then run: sudo gitlab-ctl reconfigure")
        return 0
    if skip.exists():
        out(f"Found {skip}, exiting...")
        return 0
    code = _migrate(layout, out, reconfigure, svwait)
    out("")
    out("Upgrade complete! If your GitLab server is misbehaving try running")
    out("  sudo gitlab-ctl restart")
    out("before anything else.")
    return code
