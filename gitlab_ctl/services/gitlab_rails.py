"""GitLab Rails' configuration: the state directories under /var/opt/gitlab/gitlab-rails,
the YAML files Rails reads (in etc/, linked from the package's config/ as omnibus-gitlab
does), the shared secrets Workhorse and Shell check requests with, and the env dir Puma and
Sidekiq start with. Rails is not a runit service itself: Puma and Sidekiq run it."""

from __future__ import annotations

from math import ceil
from pathlib import Path
from typing import Any

import yaml

from gitlab_ctl.engine.resources import Absent, Directory, File, Group, Link, Ownership
from gitlab_ctl.services import (
    common,
    gitlab_rails_database,
    gitlab_rails_files,
    gitlab_rails_migrations,
    gitlab_rails_redis,
    gitlab_rails_smtp,
    gitlab_rails_yml,
    mailroom,
    registry_database,
)
from gitlab_ctl.services.base import Context, Service, TemplateOptions

#: The files Rails reads from its config/ directory, as links to etc/.
CONFIG_FILES = ("gitlab.yml", "database.yml", "secrets.yml", "resque.yml", "cable.yml",
                "redis.yml")
#: The secret files and the dotfile names Rails and Workhorse look for them under.
SECRET_FILES = {"gitlab_workhorse_secret": ("gitlab_workhorse", ".gitlab_workhorse_secret"),
                "gitlab_shell_secret": ("gitlab_shell", ".gitlab_shell_secret")}
#: Storage under shared_path that gitlab.yml names.
SHARED_DIRS = ("artifacts", "lfs-objects", "packages", "terraform_state", "ci_secure_files",
               "dependency_proxy", "encrypted_settings", "external-diffs",
               "agent_plan_content")


def settings(context: Context) -> dict:
    """The gitlab_rails section with the paths and names omnibus-gitlab derives."""
    values = dict(context.section("gitlab_rails"))
    shared = values["shared_path"]
    host = values.get("gitlab_host") or "localhost"
    derived = {
        "artifacts_path": f"{shared}/artifacts", "lfs_storage_path": f"{shared}/lfs-objects",
        "packages_storage_path": f"{shared}/packages",
        "uploads_storage_path": str(common.rails_home(context) / "public"),
        "gitlab_email_from": f"gitlab@{host}", "gitlab_email_display_name": "GitLab",
        "gitlab_email_reply_to": f"noreply@{host}",
        "registry_api_url": "http://" + context.section("registry").get(
            "registry_http_addr", "127.0.0.1:5000"),
        "registry_key_path": str(common.rails_etc(context) / "gitlab-registry.key"),
        # 95% of Puma's worker timeout, rounded up, as omnibus-gitlab derives it
        "max_request_duration_seconds": ceil(
            int(context.section("puma").get("worker_timeout") or 60) * 0.95),
    }
    client = context.section("gitaly_client")
    for key in ("max_attempts", "max_backoff"):
        if values.get(f"gitaly_client_{key}") is None:
            values[f"gitaly_client_{key}"] = client.get(key)
    for key, value in derived.items():
        if values.get(key) is None:
            values[key] = value
    # mail_room's webhook deliveries: the URL they post to, the secrets they sign with
    values["mailroom_internal_api_url"] = mailroom.internal_api_url(context)
    for mailbox in mailroom.MAILBOXES:
        values[f"{mailbox}_auth_token"] = mailroom.auth_token(values, context.secrets, mailbox)
    return values


def gitaly_token(context: Context) -> str:
    """The token Rails presents to Gitaly: gitlab_rails['gitaly_token'], else
    gitaly['configuration']['auth']['token']."""
    if context.section("gitlab_rails").get("gitaly_token"):
        return str(context.section("gitlab_rails")["gitaly_token"])
    for source in (context.section("gitaly"), context.secrets.get("gitaly") or {}):
        token = ((source.get("configuration") or {}).get("auth") or {}).get("token")
        if token:
            return token
    return ""


def env(context: Context) -> dict:
    """Puma's and Sidekiq's environment: defaults, gitlab_rails['env'] on top."""
    user = context.section("user")
    values = {"HOME": user["home"], "RAILS_ENV": "production",
              "BUNDLE_GEMFILE": str(common.rails_home(context) / "Gemfile"),
              **common.default_env(context)}
    if common.relative_url(context):
        values["RAILS_RELATIVE_URL_ROOT"] = common.relative_url(context)
    return {**values, **(context.section("gitlab_rails").get("env") or {})}


def directories(context: Context) -> list:
    user, group = common.git_user(context)
    rails = settings(context)
    base = common.rails_dir(context)
    www = context.section("web_server")["group"]
    owned: Ownership = {"owner": user, "group": group}
    resources: list = [Group(www), Directory(base, owner=user, mode=0o755)]
    resources += [Directory(base / name, owner=user, mode=0o700)
                  for name in ("etc", "working", "tmp", "upgrade-status")]
    # shared_path 0751 and pages 0750 in the web server's group, as omnibus-gitlab's
    # rails_pages_shared_path recipe makes them: the web server reads pages under it
    shared = Path(rails["shared_path"])
    resources += [Directory(shared, owner=user, group=www, mode=0o751),
                  *(Directory(shared / name, **owned, mode=0o700) for name in SHARED_DIRS),
                  Directory(shared / "pages", owner=user, group=www, mode=0o750),
                  Directory(Path(rails["uploads_directory"]), **owned, mode=0o700),
                  Directory(base / "sockets", owner=user, group=www, mode=0o750),
                  log_directory(context, rails)]
    if rails["manage_backup_path"]:
        resources.append(Directory(Path(rails["backup_path"]), owner=user, mode=0o700))
    builds = Path(context.section("gitlab_ci")["builds_directory"])
    if builds.parent == context.layout.data_dir / "gitlab-ci":  # gitlab_ci['dir']'s default:
        resources.append(Directory(builds.parent, owner=user, mode=0o700))  # never /tmp
    resources.append(Directory(builds, owner=user, mode=0o700))
    return resources + common.repository_directories(context)


def log_directory(context: Context, rails: dict) -> Directory:
    """The log directory: git 0700, or 0750 in log_group (gitlab_rails', else logging's)."""
    group = rails.get("log_group") or context.section("logging").get("log_group")
    return Directory(Path(rails["log_directory"]), owner=common.git_user(context)[0],
                     group=group, mode=0o750 if group else 0o700)


class PlainDumper(yaml.SafeDumper):
    """Writes a value shared by two places twice, not as an &anchor and *alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(tree: Any) -> str:
    """A tree as block YAML, keys in the order given."""
    return yaml.dump(tree, Dumper=PlainDumper, default_flow_style=False,
                     sort_keys=False).rstrip("\n")


def config_files(context: Context) -> list:
    """gitlab.yml, database.yml, secrets.yml, resque.yml and cable.yml (root:git 0640)."""
    rails = settings(context)
    etc = common.rails_etc(context)
    group = common.git_user(context)[1]
    token = gitaly_token(context)
    options: TemplateOptions = {"group": group, "mode": 0o640, "notifies": common.RAILS_NOTIFY}
    values: dict[str, Any] = {"rails": rails, "q": common.quote, "to_yaml": to_yaml}
    gitlab_yml: dict[str, Any] = {
        "shell": shell_values(context), "storages": common.gitaly_storages(context),
        "gitaly": context.section("gitaly"), "token": token,
        "registry": context.section("registry"), "sidekiq": context.section("sidekiq"),
        "rails_home": common.rails_home(context), "etc": etc,
        "gitlab_ci": context.section("gitlab_ci"), "extra": gitlab_rails_yml.values(rails),
        "other": other_sections(context, rails)}
    return [
        context.template(etc / "gitlab.yml", "gitlab-rails/gitlab.yml.j2", **options,
                         sensitive=bool(token) or gitlab_rails_yml.holds_secrets(rails),
                         **values, **gitlab_yml),
        context.template(etc / "database.yml", "gitlab-rails/database.yml.j2", **options,
                         sensitive=gitlab_rails_database.holds_secrets(rails), **values,
                         production=gitlab_rails_database.production(rails)),
        # omnibus-gitlab writes secrets.yml root 0644; it holds the keys that encrypt the
        # database's secrets, so here only root and the git group may read it.
        context.template(etc / "secrets.yml", "gitlab-rails/secrets.yml.j2", **options,
                         sensitive=True, **values, keys=context.secrets.get("gitlab_rails", {})),
        *redis_files(context, rails, options, values),
        *gitlab_rails_files.config_files(context, rails, values),
    ]


def other_sections(context: Context, rails: dict) -> dict[str, Any]:
    """What gitlab.yml takes from sections other than gitlab_rails (and from the URLs)."""
    urls = context.attributes
    return {"monitoring": gitlab_rails_yml.monitoring(rails, context.section("puma"),
                                                      context.section("sidekiq")),
            "routing_rules": gitlab_rails_yml.routing_rules(context.section("sidekiq")),
            "mattermost": gitlab_rails_yml.mattermost(rails, urls.get("mattermost_external_url")),
            "pages": gitlab_rails_yml.pages(rails, context.section("gitlab_pages"),
                                            urls.get("pages_external_url")),
            "gitlab_ci": gitlab_rails_yml.gitlab_ci(rails, context.section("gitlab_ci")),
            "nats": gitlab_rails_yml.nats(rails),
            "repositories": gitlab_rails_yml.repositories(rails)}


def redis_files(context: Context, rails: dict, options: TemplateOptions,
                values: dict[str, Any]) -> list:
    """resque.yml, cable.yml, redis.yml (gitlab_rails['redis_yml_override'], else empty) and
    a redis.<name>.yml per separate instance (none for an instance that is not configured).
    They may hold passwords: root and git only."""
    etc = common.rails_etc(context)
    redis = context.section("redis")
    files: list = [
        context.template(etc / "resque.yml", "gitlab-rails/resque.yml.j2", **options,
                         sensitive=True, **values, what="background jobs and caches",
                         production=gitlab_rails_redis.resque(rails, redis)),
        context.template(etc / "cable.yml", "gitlab-rails/cable.yml.j2", **options,
                         sensitive=True, **values,
                         production=gitlab_rails_redis.cable(rails, redis)),
        context.template(etc / "redis.yml", "gitlab-rails/redis.yml.j2", **options,
                         sensitive=True, **values, override=rails.get("redis_yml_override"))]
    for name in gitlab_rails_redis.INSTANCES:
        path = etc / f"redis.{name}.yml"
        tree = gitlab_rails_redis.instance(rails, name)
        if tree is None:
            files.append(Absent(path, notifies=common.RAILS_NOTIFY))
            continue
        files.append(context.template(path, "gitlab-rails/resque.yml.j2", **options,
                                      sensitive=True, **values, what=f"the {name} instance",
                                      production=tree))
    return files


def shell_values(context: Context) -> dict:
    shell = context.section("gitlab_shell")
    home = context.section("user")["home"]
    return {"path": f"{common.shell_home(context)}/",
            "auth_file": shell.get("auth_file") or f"{home}/.ssh/authorized_keys",
            "secret_file": str(common.rails_etc(context) / "gitlab_shell_secret")}


def secret_files(context: Context) -> list:
    """The tokens Workhorse and GitLab Shell sign their requests to Rails with."""
    group = common.git_user(context)[1]
    etc = common.rails_etc(context)
    return [File(etc / name, str(context.secrets[section]["secret_token"]), group=group,
                 mode=0o640, sensitive=True, notifies=common.RAILS_NOTIFY)
            for name, (section, _dotfile) in SECRET_FILES.items()]


def package_links(context: Context) -> list:
    """What Rails finds in its own tree: config files, secrets, log/, tmp/ and uploads, as
    links to /var (only when the package has Rails: the links live in its tree)."""
    home = common.rails_home(context)
    if not (home / "config").is_dir():
        return []
    rails, etc = settings(context), common.rails_etc(context)
    links: list = [Link(home / "config" / name, etc / name) for name in CONFIG_FILES]
    for instance in gitlab_rails_redis.INSTANCES:
        name = f"redis.{instance}.yml"
        configured = gitlab_rails_redis.instance(rails, instance) is not None
        links.append(Link(home / "config" / name, etc / name) if configured
                     else Absent(home / "config" / name))
    links += [Link(home / dotfile, etc / name) for name, (_s, dotfile) in SECRET_FILES.items()]
    links += gitlab_rails_files.links(context, rails)
    links += [Link(home / "log", Path(rails["log_directory"])),
              Link(home / "tmp", common.rails_dir(context) / "tmp")]
    if rails["uploads_storage_path"] == str(home / "public"):
        links.append(Link(home / "public" / "uploads", Path(rails["uploads_directory"])))
    return links


def configure(context: Context) -> list:
    env_dir = context.layout.install_dir / "etc" / "gitlab-rails" / "env"
    return [*directories(context), *config_files(context), *secret_files(context),
            *gitlab_rails_smtp.resources(context),
            *common.env_dir_resources(env_dir, env(context), common.RAILS_NOTIFY),
            *package_links(context), *registry_database.backup_env_files(context)]


#: Configuration only (Puma and Sidekiq run Rails); its after_start is the database
#: migration, which reconfigure runs between the pre-migration services and the rest.
SERVICE = Service("gitlab-rails", "gitlab_rails",
                  "embedded/service/gitlab-rails/config/application.rb", configure,
                  after_start=gitlab_rails_migrations.after_start)
