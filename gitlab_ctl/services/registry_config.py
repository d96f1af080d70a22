"""What the registry's config.yml is made from, derived as omnibus-gitlab derives it: the
storage (the filesystem under gitlab_rails['registry_path'] unless registry['storage'] is
set, with the blob descriptor cache and deletes filled in), the notification endpoints with
the default_notifications_* values filled in, and whether the Redis section is written."""

from __future__ import annotations

import copy
import json
from typing import Any

#: Endpoint keys filled from registry['default_notifications_<key>'] where an endpoint has none.
NOTIFICATION_DEFAULTS = ("timeout", "backoff")


def compact_json(value: Any) -> str:
    """A value as omnibus-gitlab writes it into config.yml (Ruby's to_json: no spaces); JSON
    is YAML, so the registry reads it as the same mapping."""
    return json.dumps(value, separators=(",", ":"))


def storage(registry: dict, registry_path: str) -> dict:
    """registry['storage'] (or the filesystem driver at registry_path) with cache and delete
    added where absent; delete follows storage_delete_enabled (default true)."""
    configured = copy.deepcopy(registry.get("storage") or
                               {"filesystem": {"rootdirectory": registry_path}})
    delete_enabled = registry.get("storage_delete_enabled")
    configured.setdefault("cache", {"blobdescriptor": "inmemory"})
    configured.setdefault("delete", {"enabled": True if delete_enabled is None
                                     else delete_enabled})
    return configured


def notifications(registry: dict) -> list[dict] | None:
    """The endpoints with timeout, backoff, maxretries and headers defaulted; an endpoint with
    the deprecated threshold keeps it and gets no maxretries."""
    endpoints = registry.get("notifications")
    if not endpoints:
        return None
    filled = []
    for endpoint in copy.deepcopy(endpoints):
        for key in NOTIFICATION_DEFAULTS:  # Ruby's ||=: only nil and false are unset
            if endpoint.get(key) in (None, False):
                endpoint[key] = registry[f"default_notifications_{key}"]
        if endpoint.get("maxretries") is None and endpoint.get("threshold") is None:
            endpoint["maxretries"] = registry["default_notifications_maxretries"]
        endpoint["headers"] = {**(registry.get("default_notifications_headers") or {}),
                               **(endpoint.get("headers") or {})}
        filled.append(endpoint)
    return filled


def redis_enabled(registry: dict) -> bool:
    """Whether any of registry['redis']'s sections (cache, loadbalancing, ...) is enabled."""
    return any(isinstance(section, dict) and section.get("enabled")
               for section in (registry.get("redis") or {}).values())
