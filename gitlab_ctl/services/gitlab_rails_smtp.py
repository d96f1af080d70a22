"""smtp_settings.rb: the Rails initializer that sends mail over SMTP, written (and linked
into config/initializers/) only when gitlab_rails['smtp_enable'] is on, and removed when it
is off, as omnibus-gitlab does. Values are written as Ruby literals; the authentication
mechanism is normalised the way omnibus-gitlab's SmtpHelper does."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import Absent, Link
from gitlab_ctl.services import common
from gitlab_ctl.services.base import Context

#: smtp_<key> settings written when set, in omnibus-gitlab's order.
KEYS = ("address", "port", "domain", "enable_starttls_auto", "tls", "ssl",
        "openssl_verify_mode", "ca_path", "ca_file", "open_timeout", "read_timeout")
MECHANISMS = ("login", "plain", "cram_md5")
NO_AUTHENTICATION = ("", "false", "none")


def ruby(value: Any) -> str:
    """A value as Ruby's `inspect` writes it: "text", 25, true, nil (strings escape `#`
    before `{`, `$` and `@` so Ruby interpolates nothing)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value)
        for start in ("#{", "#$", "#@"):
            text = text.replace(start, "\\" + start)
        return text
    return json.dumps(value)


def authentication(rails: Mapping[str, Any]) -> str | None:
    """The mechanism as a lowercase name, or None for none; anything else is refused."""
    value = rails.get("smtp_authentication")
    if value is None or value is False:
        return None
    name = str(value).lower()
    if name in NO_AUTHENTICATION:
        return None
    if name not in MECHANISMS:
        raise ConfigError("gitlab_rails['smtp_authentication']",
                          f"is set to an unrecognized value: {value!r}",
                          f"use one of {', '.join(MECHANISMS)}, or false or 'none' for no "
                          "authentication")
    return name


def settings(context: Context) -> list[tuple[str, str]]:
    """(key, Ruby literal) pairs of the smtp_settings hash, user name and password first."""
    rails = context.section("gitlab_rails")
    if rails.get("smtp_tls") and rails.get("smtp_enable_starttls_auto"):
        raise ConfigError("gitlab_rails['smtp_tls']",
                          "smtp_tls and smtp_enable_starttls_auto are mutually exclusive",
                          "set one of them to false: port 465 is usually TLS, 587 STARTTLS")
    pairs = []
    mechanism = authentication(rails)
    if mechanism:
        pairs.append(("authentication", f":{mechanism}"))
    user, password = rails.get("smtp_user_name"), rails.get("smtp_password")
    pairs.append(("user_name", "secrets.username" if user is None else ruby(user)))
    pairs.append(("password", "secrets.password" if password is None else ruby(password)))
    defaults = {"ca_file": str(context.layout.embedded / "ssl" / "certs" / "cacert.pem")}
    for key in KEYS:
        value = rails.get(f"smtp_{key}")
        value = defaults.get(key) if value is None else value
        if value is not None:
            pairs.append((key, ruby(value)))
    return pairs


def resources(context: Context) -> list:
    """The file and its link when SMTP is on, their removal when it is off. omnibus-gitlab
    writes it root:root 0644; it may hold the SMTP password, so here, as for secrets.yml,
    only root and the git group read it."""
    path = common.rails_etc(context) / "smtp_settings.rb"
    initializer = common.rails_home(context) / "config" / "initializers" / "smtp_settings.rb"
    has_rails = (common.rails_home(context) / "config").is_dir()
    if not context.section("gitlab_rails").get("smtp_enable"):
        return [Absent(path, notifies=common.RAILS_NOTIFY),
                *([Absent(initializer)] if has_rails else [])]
    rendered = context.template(
        path, "gitlab-rails/smtp_settings.rb.j2", group=common.git_user(context)[1],
        mode=0o640, sensitive=True, notifies=common.RAILS_NOTIFY, settings=settings(context),
        pool=bool(context.section("gitlab_rails").get("smtp_pool")))
    return [rendered, *([Link(initializer, Path(path))] if has_rails else [])]
