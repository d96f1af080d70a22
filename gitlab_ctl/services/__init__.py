"""The services reconfigure manages, in the order it converges them (omnibus-gitlab's
recipe order: the database and Redis before what connects to them, Rails' and Shell's files
before the processes that read them, nginx after what it proxies to). One `Service` per
module; the plain dict below is the whole registry."""

from __future__ import annotations

from gitlab_ctl.services import (
    crond,
    gitaly,
    gitlab_backup_cli,
    gitlab_kas,
    gitlab_pages,
    gitlab_rails,
    gitlab_shell,
    gitlab_sshd,
    gitlab_workhorse,
    logrotate,
    mailroom,
    monitoring,
    nginx,
    postgresql,
    puma,
    redis,
    registry,
    sidekiq,
    storage_check,
)
from gitlab_ctl.services.base import Service

SERVICES: dict[str, Service] = {
    service.name: service for service in (
        postgresql.SERVICE, redis.SERVICE, gitlab_rails.SERVICE, gitlab_shell.SERVICE,
        gitlab_sshd.SERVICE,
        gitaly.SERVICE, puma.SERVICE, sidekiq.SERVICE, gitlab_workhorse.SERVICE,
        mailroom.SERVICE, storage_check.SERVICE,
        registry.SERVICE, gitlab_pages.SERVICE, gitlab_kas.SERVICE, nginx.SERVICE,
        logrotate.SERVICE, crond.SERVICE, *monitoring.SERVICES, gitlab_backup_cli.SERVICE)
}
