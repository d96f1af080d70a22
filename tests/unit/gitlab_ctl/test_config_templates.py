"""Every config template, rendered by its service for one fixed installation, compared with
tests/golden/config/<where the file is written> (UPDATE_GOLDEN=1 rewrites them: review the
diff). The golden tree mirrors the host: tests/golden/config/var/opt/gitlab/gitlab-rails/etc/
gitlab.yml is what reconfigure writes to /var/opt/gitlab/gitlab-rails/etc/gitlab.yml."""

from __future__ import annotations

import functools
import os

import pytest

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.secrets import SECRETS
from gitlab_ctl.engine.resources import File
from gitlab_ctl.paths import TEMPLATES_DIR, Layout
from gitlab_ctl.services import SERVICES
from gitlab_ctl.services.base import Context, Facts, template_environment
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "config"
EXTERNAL_URL = "http://gitlab.example.test"
#: Every site besides GitLab's, so that nginx/site.conf.j2 is rendered for each.
SITE_URLS = {"registry_external_url": "https://registry.example.test",
             "pages_external_url": "http://pages.example.test",
             "gitlab_kas_external_url": "wss://kas.example.test",
             "mattermost_external_url": "https://mattermost.example.test"}
SIGNING_KEY = ("-----BEGIN RSA PRIVATE KEY-----\nTEST-SIGNING-KEY-NOT-A-REAL-KEY-0123456789\n"
               "-----END RSA PRIVATE KEY-----\n")


def fixed_secrets() -> dict:
    """Every secret gitlab-secrets.json holds, with a recognisable fixed value."""
    values = {section: {key: f"TEST-SECRET-{section}-{key}-0123456789" for key in keys}
              for section, keys in SECRETS.items()}
    values["gitlab_rails"]["openid_connect_signing_key"] = SIGNING_KEY
    return values


@functools.cache
def shared_environment():
    """One jinja2 environment for every test context: each template is compiled once per
    test run instead of once per context (the peer tests make thousands)."""
    return template_environment(TEMPLATES_DIR)


def make_context(settings: dict | None = None, layout: Layout | None = None) -> Context:
    context = Context(layout or Layout(),
                      resolve_attributes({"external_url": EXTERNAL_URL, **(settings or {})}),
                      fixed_secrets(), Facts(cpus=2, memory_kb=8 * 1024 * 1024))
    context.__dict__["_environment"] = shared_environment()  # a cached_property's slot
    return context


def service_files(context: Context) -> list[File]:
    """The Files of every service's configuration and runit directory."""
    files = []
    for service in SERVICES.values():
        files += [r for r in service.configure(context) + service.runit_resources(context)
                  if isinstance(r, File)]
    return files


def rendered(context: Context) -> dict[str, str]:
    """Golden name -> content: rendered templates and runit run scripts."""
    sv_dir = context.layout.sv_dir
    return {str(f.path.relative_to("/")): f.content for f in service_files(context)
            if f.kind == "template" or (f.path.name == "run" and f.path.parent.parent == sv_dir)}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"{path} is missing: run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize("name", sorted(rendered(make_context())))
def test_config_file_is_golden(name):
    check_golden(name, rendered(make_context())[name])


def test_no_golden_file_is_stale():
    produced = set(rendered(make_context()))
    stale = [str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*")
             if p.is_file() and str(p.relative_to(GOLDEN)) not in produced]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        for name in stale:
            (GOLDEN / name).unlink()
        return
    assert stale == []


def test_every_template_is_rendered_by_some_service(monkeypatch):
    used = set()
    original = Context.render

    def recording(self, template, **values):
        used.add(template)
        return original(self, template, **values)

    monkeypatch.setattr(Context, "render", recording)
    service_files(make_context())
    service_files(make_context(SITE_URLS))
    service_files(make_context({"gitlab_rails": {"smtp_enable": True,
                                                 "managed_settings": {"settings": {"x": 1}}}}))
    templates = {str(p.relative_to(TEMPLATES_DIR)) for p in TEMPLATES_DIR.rglob("*.j2")}
    assert templates - used == set()
