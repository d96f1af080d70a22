"""rpm packages installed with dnf in a Debian container: Debian's rpm and dnf work there,
but rpm's database does not list what apt installed, so a package's Requires on it would be
unmet. A stand-in rpm, built in the container with rpmbuild, declares them (no --nodeps).
Used by the upgrade tests and bench/e2e.py."""

from __future__ import annotations

from collections.abc import Iterable

HOST_PROVIDES_SPEC = """Name: debian-host-provides
Version: 1
Release: 0
Summary: What apt installed here, declared to rpm
License: MIT
BuildArch: noarch
Provides: {provides}
%description
Stand-in for the Debian packages apt installed, which the rpm database does not list.
%files
"""
#: Where `build_host_provides` leaves the stand-in rpm, for `dnf install`.
HOST_PROVIDES_RPM = "/tmp/rpmbuild/RPMS/noarch/debian-host-provides-1-0.noarch.rpm"


def build_host_provides(requires: Iterable[str]) -> str:
    """Shell that builds the stand-in rpm providing `requires` (less rpm's own rpmlib()
    ones) at HOST_PROVIDES_RPM."""
    provides = sorted({item for item in requires if not item.startswith("rpmlib(")})
    spec = HOST_PROVIDES_SPEC.format(provides=", ".join(provides))
    return (f"mkdir -p /tmp/rpmbuild/SPECS && printf '%s' '{spec}' > "
            "/tmp/rpmbuild/SPECS/host.spec && rpmbuild -bb -D '_topdir /tmp/rpmbuild' "
            "/tmp/rpmbuild/SPECS/host.spec >/dev/null")
