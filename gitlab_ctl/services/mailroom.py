"""mail_room: reads the incoming email and Service Desk mailboxes and hands each message to
Rails, as omnibus-gitlab's gitlab::mailroom recipe runs it. On by itself when either
mailbox is enabled (mailroom['enable'] = false keeps it off); mail_room is Ruby from
GitLab's Rails, so its runit service is made only where the package has the program. Rails
writes config/mail_room.yml's mailboxes from gitlab.yml, which gitlab_rails renders with
the webhook's URL and secret file from here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.engine.resources import File, Link
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context, Service

#: omnibus-gitlab's mailroom['log_directory']; it and mailroom['log_group'] are not
#: gitlab.rb.template settings, so the log group is logging['log_group']
LOG_DIRECTORY = Path("/var/log/gitlab/mailroom")
#: The mailboxes mail_room reads, as gitlab.yml and gitlab_rails['<mailbox>_*'] name them.
MAILBOXES = ("incoming_email", "service_desk_email")
#: runit's finish script: wait before a crashed mail_room is started again, not after a stop
FINISH = """\
#!/bin/sh
if [ x$2 = x15 ] ; then
  # mailroom received SIGTERM (15) so this is probably a
  # user-initiated restart. Skip the waiting.
  exit 0
fi

wait=5
echo "Runit: waiting ${wait} seconds before restarting mail_room"
sleep ${wait}
"""


def auth_token(rails: Mapping[str, Any], secrets: Mapping[str, Any], mailbox: str) -> Any:
    """The secret a webhook delivery of `mailbox` signs with: gitlab_rails' own, else, when
    the mailbox is enabled with the webhook delivery, the one gitlab-secrets.json keeps for
    mail_room (IncomingEmail.parse_secrets); None: no secret file."""
    key = f"{mailbox}_auth_token"
    if rails.get(key):
        return rails[key]
    if rails.get(f"{mailbox}_enabled") and rails.get(f"{mailbox}_delivery_method") == "webhook":
        return (secrets.get("mailroom") or {}).get(key)
    return None


def internal_api_url(context: Context) -> str:
    """Where mail_room posts deliveries (MailroomHelper#internal_api_url): Workhorse's TCP
    address, or, as mail_room cannot speak HTTP over a Unix socket, the external URL."""
    url = common.internal_api_url(context)
    if url.startswith("http+unix"):
        return str(context.attributes.get("external_url") or "").removesuffix("/")
    return url


def working_dir(context: Context) -> Path:
    return common.rails_dir(context) / "working"


def configure(context: Context) -> list:
    """The webhook secrets' links in mail_room's working directory, where it reads them."""
    rails, home = context.section("gitlab_rails"), common.rails_home(context)
    return [Link(working_dir(context) / f".gitlab_{mailbox}_secret",
                 home / f".gitlab_{mailbox}_secret")
            for mailbox in MAILBOXES if auth_token(rails, context.secrets, mailbox)]


def supervise(context: Context) -> list:
    mailroom = context.section("mailroom")
    user, group = common.git_user(context)
    run_script = context.render(
        "runit/mailroom.run.j2", user=user, group=group, working_dir=working_dir(context),
        env_dir=context.layout.install_dir / "etc" / "gitlab-rails" / "env",
        config=common.rails_home(context) / "config" / "mail_room.yml",
        exit_log_format=mailroom["exit_log_format"])
    definition = ServiceDefinition("mailroom", run_script, LOG_DIRECTORY, log_owner=user)
    return [*service_resources(context.layout, definition, context.section("logging")),
            File(context.layout.sv_dir / "mailroom" / "finish", FINISH, mode=0o755)]


SERVICE = Service("mailroom", "mailroom", "embedded/bin/mail_room", configure, supervise)
