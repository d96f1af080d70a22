"""GitLab's container registry (off unless registry_external_url or registry['enable'] is
set): the registry account, its directory and storage, config.yml, the key pair GitLab signs
registry tokens with, and its runit service. It listens on registry_http_addr (127.0.0.1:5000);
nginx's server block in front of it is written by services/nginx_sites."""

from __future__ import annotations

from pathlib import Path

from gitlab_ctl.engine.resources import Command, Directory, File, Group, User
from gitlab_ctl.engine.runit import ServiceDefinition, service_resources
from gitlab_ctl.services import common, registry_config, registry_database
from gitlab_ctl.services.base import Context, Service

NOTIFY = (("restart", "registry"),)
#: Makes the token-signing key pair when gitlab-secrets.json has none: the key for Rails
#: (root:git 0640), the self-signed certificate for the registry (0644).
KEYPAIR_SCRIPT = (
    'set -e; umask 077; mkdir -p "$(dirname "$2")" "$(dirname "$3")"; '
    '"$1" req -x509 -newkey rsa:4096 -nodes -sha256 -days 3650 -subj /CN=gitlab-registry '
    '-keyout "$2" -out "$3"; chown root:"$4" "$2"; chmod 0640 "$2"; '
    'chown "$5":"$6" "$3"; chmod 0644 "$3"')


def settings(context: Context) -> dict:
    values = dict(context.section("registry"))
    if values.get("token_realm") is None:
        values["token_realm"] = str(context.attributes.get("external_url") or "").rstrip("/")
    values["database"] = registry_database.database(context)
    return values


def env_dir(context: Context) -> Path:
    configured = context.section("registry").get("env_directory")
    return Path(configured or context.layout.install_dir / "etc" / "registry" / "env")


def keypair(context: Context) -> list:
    """The key pair from gitlab-secrets.json (registry internal_key/internal_certificate),
    else one made once with openssl."""
    registry = settings(context)
    git_group = common.git_user(context)[1]
    key = Path(context.section("gitlab_rails").get("registry_key_path")
               or common.rails_etc(context) / "gitlab-registry.key")
    # the certificate is always written here; registry['rootcertbundle'] only changes
    # where config.yml tells the registry to read it (as in omnibus-gitlab)
    certificate = Path(registry["dir"]) / "gitlab-registry.crt"
    stored = {**(context.secrets.get("registry") or {}), **context.section("registry")}
    if stored.get("internal_key") and stored.get("internal_certificate"):
        return [File(key, stored["internal_key"], group=git_group, mode=0o640, sensitive=True,
                     notifies=common.RAILS_NOTIFY),
                File(certificate, stored["internal_certificate"], owner=registry["username"],
                     group=registry["group"], notifies=NOTIFY)]
    openssl = context.layout.embedded / "bin" / "openssl"
    argv = ["sh", "-c", KEYPAIR_SCRIPT, "sh", str(openssl if openssl.exists() else "openssl"),
            str(key), str(certificate), git_group, registry["username"], registry["group"]]
    return [Command("registry token key pair", argv,
                    guard=lambda: key.exists() and certificate.exists(),
                    notifies=(*common.RAILS_NOTIFY, *NOTIFY))]


def configure(context: Context) -> list:
    registry = settings(context)
    rails = context.section("gitlab_rails")
    owner = {"owner": registry["username"], "group": registry["group"]}
    directory = Path(registry["dir"])
    env = {"SSL_CERT_DIR": common.default_env(context)["SSL_CERT_DIR"],
           **(registry.get("env") or {})}
    rootcertbundle = registry.get("rootcertbundle") or str(directory / "gitlab-registry.crt")
    return [
        Group(registry["group"], registry.get("gid")),
        User(registry["username"], registry["group"], registry["home"] or registry["dir"],
             registry["shell"], registry.get("uid")),
        Directory(directory, **owner, mode=0o2770),
        Directory(Path(rails["registry_path"]), owner=registry["username"],
                  group=common.git_user(context)[1], mode=0o770),
        # omnibus-gitlab writes it 0644; it holds the HTTP secret, so only the registry reads it
        context.template(directory / "config.yml", "registry/config.yml.j2", **owner,
                         mode=0o640, sensitive=True, notifies=NOTIFY, registry=registry,
                         rails=rails, q=common.quote, realm=registry["token_realm"],
                         http_secret=context.secrets["registry"]["http_secret"],
                         json=registry_config.compact_json, rootcertbundle=rootcertbundle,
                         storage=registry_config.storage(registry, rails["registry_path"]),
                         notifications=registry_config.notifications(registry),
                         redis_enabled=registry_config.redis_enabled(registry)),
        *keypair(context),
        *common.env_dir_resources(env_dir(context), env, NOTIFY),
    ]


def supervise(context: Context) -> list:
    registry = settings(context)
    run_script = context.render("runit/registry.run.j2", registry=registry,
                                env_dir=env_dir(context))
    definition = ServiceDefinition("registry", run_script, Path(registry["log_directory"]),
                                   log_owner=registry["username"])
    return service_resources(context.layout, definition, context.section("logging"))


SERVICE = Service("registry", "registry", "embedded/bin/registry", configure, supervise,
                  registry_database.migrations)
