"""Which bundled PostgreSQL major embedded/bin runs, and a restart when the running server
is not the installed one: omnibus-gitlab's postgresql::bin recipe and the version check of
postgresql::enable, planned before PostgreSQL's own resources (initdb runs the linked major).

The major is postgresql['version'] when set, else the data directory's PG_VERSION, else the
one embedded/bin/psql already runs. The links change only when there is no data yet, when
the linked major is not the data's, or when postgresql['version'] is set. A pinned major the
package does not ship gives omnibus-gitlab's warning and the fallback.

Two departures from omnibus-gitlab, both to never leave a server that cannot start:
a pinned major that differs from the existing data's is refused (omnibus-gitlab links it and
PostgreSQL fails to start on the data), and a pinned major that is not shipped falls back to
the data's major where there is data (omnibus-gitlab falls back to psql's).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitlab_ctl.engine import runit
from gitlab_ctl.engine.resources import ResourceError, Run, Skip, Step
from gitlab_ctl.services.base import Context
from gitlab_ctl.services.pg_cluster import (
    Cluster,
    PGVersion,
    default_version,
    installed_majors,
    link_programs,
    unlinked_programs,
)

Query = Callable[[str], str]
#: omnibus-gitlab's bin.rb: majors before this get its deprecation note
MINIMUM_MAJOR = 17
DEPRECATED_NOTE = ("postgresql: Note that PostgreSQL 17 is the minimum required PostgreSQL "
                   "version in GitLab 19.0. To upgrade, please see: https://docs.gitlab.com/"
                   "omnibus/settings/database.html#upgrade-packaged-postgresql-server")
RESTART_WARNING = ("postgresql: The version of the running postgresql service is different "
                   "than what is installed. Please restart postgresql to start the new "
                   "version: sudo gitlab-ctl restart postgresql")


def _cluster(context: Context) -> Cluster:
    return Cluster(context.layout, dict(context.section("postgresql")))


def pinned(context: Context) -> object:
    """postgresql['version'] as gitlab.rb gives it (a string or a number), or None."""
    return context.section("postgresql").get("version")


def link_needed(cluster: Cluster, linked: PGVersion | None, pin: object) -> bool:
    """omnibus-gitlab's only_if: no data yet, the linked major is not the data's, or a pin."""
    data = cluster.data_version()
    return data is None or linked is None or linked.major != data.major or pin is not None


def target_major(cluster: Cluster, linked: PGVersion | None, pin: object,
                 warnings: list[str]) -> int | None:
    """The major embedded/bin should run (None: keep it, for a layout whose embedded/bin
    holds the only PostgreSQL); a warning for a pin the package does not ship."""
    layout, data = cluster.layout, cluster.data_version()
    shipped = installed_majors(layout)
    if not shipped and linked is not None:
        if pin is not None and (PGVersion.parse(pin) or PGVersion(-1)).major != linked.major:
            warnings.append(f"postgresql: We do not ship client binaries for PostgreSQL {pin}, "
                            f"defaulting to {linked.major}")
        return None
    wanted = PGVersion.parse(pin) if pin is not None else data
    if wanted is not None and wanted.major in shipped:
        if pin is not None and data is not None and data.major != wanted.major:
            raise ResourceError(
                "postgresql['version']", f"is {pin}, but the data in {cluster.data_dir} is "
                f"PostgreSQL {data.major}: PostgreSQL {wanted.major} cannot run it",
                hint=f"set postgresql['version'] = '{data.major}' or remove it in "
                "/etc/gitlab/gitlab.rb; to move the data to another major, use "
                "`gitlab-ctl pg-upgrade -V MAJOR` (and `revert-pg-upgrade`)")
        return wanted.major
    fallbacks = [data, linked, default_version(layout)]
    fallback = next((v.major for v in fallbacks if v is not None and v.major in shipped), None)
    if fallback is None:
        raise ResourceError("link[postgresql binaries]", "Could not find PostgreSQL binaries "
                            f"under {layout.embedded / 'postgresql'}",
                            hint="reinstall the package: it ships them")
    if pin is not None:
        warnings.append(f"postgresql: We do not ship client binaries for PostgreSQL {pin}, "
                        f"defaulting to {fallback}")
    return fallback


def link_step(context: Context) -> Step:
    """Link embedded/bin's PostgreSQL programs to the major in use."""
    cluster, pin = _cluster(context), pinned(context)
    chosen: list[int] = []

    def check(run: Run) -> list[str] | None:
        linked = cluster.running_version()
        if pin is not None and (PGVersion.parse(pin) or PGVersion(0)).major < MINIMUM_MAJOR:
            run.warnings.append(DEPRECATED_NOTE)
        if not link_needed(cluster, linked, pin):
            return None
        major = target_major(cluster, linked, pin, run.warnings)
        if major is None:
            return None
        chosen[:] = [major]
        unlinked = unlinked_programs(context.layout, major)
        return [f"link {link} to {program}" for link, program in unlinked] or None

    def apply(run: Run) -> None:
        link_programs(context.layout, chosen[0])

    # the pin names the step, so what was asked for shows in the report
    name = "link[postgresql binaries]" if pin is None else \
        f"link[postgresql binaries of postgresql['version'] = {pin}]"
    return Step(name, check, apply)


def running_differs(context: Context, query: Query) -> tuple[PGVersion, PGVersion] | None:
    """(running, installed) when a bootstrapped server that runit runs is not the installed
    version (omnibus-gitlab's running_version != version), else None."""
    data = Path(context.section("postgresql")["dir"]) / "data"
    if not ((data / "PG_VERSION").exists() and runit.is_running(context.layout, "postgresql")):
        return None
    try:
        running = PGVersion.parse(query("SHOW server_version"))
    except Skip:  # not answering yet: wait[postgresql] reports that
        return None
    installed = _cluster(context).running_version()
    if running is None or installed is None or running == installed:
        return None
    return running, installed


def version_step(context: Context, query: Query) -> Step:
    """Restart a server that runs another version than embedded/bin, or with
    postgresql['auto_restart_on_version_change'] = false only say that it needs one."""
    auto_restart = bool(context.section("postgresql")["auto_restart_on_version_change"])

    def check(run: Run) -> list[str] | None:
        differs = running_differs(context, query)
        if differs is None:
            return None
        if not auto_restart:
            run.warnings.append(RESTART_WARNING)
            return None
        running, installed = differs
        return [f"restart postgresql: it runs {running}, embedded/bin has {installed}"]

    return Step("version[postgresql]", check, lambda run: None,
                notifies=(("restart", "postgresql"),) if auto_restart else ())


def binaries(context: Context, query: Query) -> list:
    """The hook postgresql.configure plans first."""
    return [link_step(context), version_step(context, query)]
