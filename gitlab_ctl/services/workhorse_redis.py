"""The Redis GitLab Workhorse watches keys in, as omnibus-gitlab resolves it: each
gitlab_workhorse['redis_*'] setting, else Rails' gitlab_rails['redis_*'] one; a TCP URL when
a redis_host is set (Workhorse's or Rails') or there is no socket, else the Unix socket."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gitlab_ctl.services.base import Context

#: Settings Workhorse takes from gitlab_rails['redis_*'] where it sets none of its own.
INHERITED = ("ssl", "host", "socket", "port", "password", "database")


def _credential(value: Any) -> str:
    return quote(str(value), safe="")


def _userinfo(username: Any, password: Any) -> str:
    if username is None and password is None:
        return ""
    user = _credential(username) if username is not None else ""
    secret = f":{_credential(password)}" if password is not None else ""
    return f"{user}{secret}@"


def settings(context: Context) -> dict[str, Any]:
    """Workhorse's redis_* settings with Rails' filling the ones it leaves unset."""
    workhorse = context.section("gitlab_workhorse")
    rails = context.section("gitlab_rails")
    values = {key: workhorse.get(f"redis_{key}") for key in (*INHERITED, "username")}
    for key in INHERITED:
        if values[key] is None:
            values[key] = rails.get(f"redis_{key}")
    if values["password"] is None:
        values["password"] = context.section("redis").get("password")
    # a redis_host (Workhorse's or Rails') means TCP, as it does for Rails; a TCP URL
    # without one is the local Redis'
    values["tcp"] = bool(values["host"]) or not values["socket"]
    values["host"] = values["host"] or "127.0.0.1"
    return values


def params(context: Context) -> dict[str, Any]:
    """URL, username, password and TLS for config.toml's [redis] table."""
    redis = settings(context)
    userinfo = _userinfo(redis["username"], redis["password"])
    if redis["tcp"]:
        scheme = "rediss" if redis["ssl"] else "redis"
        port = f":{redis['port']}" if redis["port"] else ""
        database = redis["database"] if redis["database"] is not None else ""
        url = f"{scheme}://{userinfo}{redis['host']}{port}/{database}"
    else:
        url = f"unix://{userinfo}{redis['socket']}"
    return {"url": url, "username": redis["username"], "password": redis["password"] or "",
            "tls": bool(redis["ssl"])}
