"""`gitlab-ctl renew-le-certs`: what omnibus-gitlab's command of that name does (a run of
letsencrypt::enable alone): the certificate is renewed when it is due (missing, self-signed,
within 30 days of expiry, or no longer matching letsencrypt['...']), through the running
nginx; the new files replace the old ones only once the CA issued them and `nginx -t`
accepts them, and nginx is then sent HUP. The output also goes to
letsencrypt['auto_renew_log_directory']/renewal.<epoch>.log. Exit 0 when the certificate is
good (renewed or not due), 1 when Let's Encrypt is off or the renewal failed (the old
certificate is kept)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import read_config
from gitlab_ctl.engine.resources import Run, converge
from gitlab_ctl.errors import GitlabCtlError
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import letsencrypt
from gitlab_ctl.services.base import Context

NOT_ENABLED = ('LetsEncrypt is not enabled in your gitlab.rb. Have you run "gitlab-ctl '
               'reconfigure" yet?')
FAILED = "There was an error renewing Let's Encrypt certificates, please checkout the output"


def write_renewal_log(directory: Path, lines: list[str]) -> Path | None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"renewal.{int(time.time())}.log"
        path.write_text("\n".join(lines) + "\n")
        return path
    except OSError:
        return None


def renew_le_certs(layout: Layout, out: Callable[[str], None]) -> int:
    settings, _lines = read_config(layout.config_file)
    attributes = resolve_attributes(settings)
    context = Context(layout, attributes, secrets={})
    if not letsencrypt.enabled(context):
        print(NOT_ENABLED, file=sys.stderr)
        return 1
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        out(line)

    resource = letsencrypt.certificate_resource(context)
    run = Run(report=report)
    status = 0
    try:
        converge([*letsencrypt.before_nginx(context), resource], run)
    except GitlabCtlError as error:
        for line in (str(error), *([f"  hint: {error.hint}"] if error.hint else [])):
            report(line)
        print(FAILED, file=sys.stderr)
        status = 1
    else:
        if not run.changed:
            report(f"{resource.cert.crt} is good for {', '.join(resource.cert.names)}: not "
                   f"due for renewal (renewed within {letsencrypt.RENEW_WITHIN_DAYS} days of "
                   "expiry)")
        else:
            report(f"{resource.cert.crt}: renewed, nginx reloaded")
    log = write_renewal_log(Path(attributes["letsencrypt"]["auto_renew_log_directory"]), lines)
    if log:
        out(f"The log is in {log}")
    return status
