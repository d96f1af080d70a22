"""A service's new configuration is checked by its own program before it replaces the live
one: nginx's, converged on temporary directories with the host's real nginx (`nginx -t`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.engine.resources import Group, ResourceError, Run, User, converge
from gitlab_ctl.paths import Layout
from gitlab_ctl.services import nginx
from gitlab_ctl.services.base import Context, Facts
from tests.unit.gitlab_ctl.test_config_templates import fixed_secrets

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(NGINX).exists() or not MIME_TYPES.exists(),
    reason="needs root (the files are root-owned) and the host's nginx")


@pytest.fixture
def site(tmp_path) -> dict:
    """An installation whose embedded nginx is the host's, and nginx settings in tmp_path."""
    layout = Layout(install_dir=tmp_path / "opt", etc_dir=tmp_path / "etc",
                    data_dir=tmp_path / "var", log_dir=tmp_path / "log")
    for name, target in (("sbin/nginx", NGINX), ("conf/mime.types", MIME_TYPES)):
        (layout.embedded / name).parent.mkdir(parents=True, exist_ok=True)
        (layout.embedded / name).symlink_to(target)
    return {"layout": layout, "dir": tmp_path / "nginx", "ssl": tmp_path / "ssl"}


def resources(site: dict, url: str = "http://gitlab.example.test", **nginx_settings) -> list:
    """nginx's resources for `url`, with an existing account standing in for gitlab-www
    (the accounts themselves are left out: they are not what is tested here)."""
    settings = {"external_url": url, "web_server": {"username": "nobody", "group": "nogroup"},
                "nginx": {"dir": str(site["dir"]), "log_directory": str(site["dir"] / "log"),
                          "ssl_certificate": str(site["ssl"] / "gitlab.crt"),
                          "ssl_certificate_key": str(site["ssl"] / "gitlab.key"),
                          # the host's nginx may predate `http2 on` (1.25.1); the shipped
                          # ones (1.26 and later) have it
                          "http2_enabled": False, **nginx_settings},
                # the certificate is what this file tests, not Let's Encrypt's stand-in
                "letsencrypt": {"enable": False}}
    context = Context(site["layout"], resolve_attributes(settings), fixed_secrets(),
                      Facts(cpus=1, memory_kb=1024 * 1024))
    return [r for r in nginx.configure(context) if not isinstance(r, (Group, User))]


def converged(planned: list) -> Run:
    run = Run()
    converge(planned, run)
    return run


def vhost(site: dict) -> str:
    return (site["dir"] / "conf" / "service_conf" / "gitlab-rails.conf").read_text()


def test_an_https_url_without_a_certificate_is_refused_and_nothing_is_written(site):
    first = converged(resources(site))
    assert "check[nginx]" in first.changed  # the first configuration is checked too
    before = vhost(site)
    with pytest.raises(ResourceError) as failure:
        converged(resources(site, "https://gitlab.example.test"))
    error = failure.value
    assert error.resource == "check[nginx]"
    assert f'cannot load certificate "{site["ssl"]}/gitlab.crt"' in error.message
    assert (f"nginx rejects the new configuration ({site['dir']}/conf/service_conf/"
            "gitlab-rails.conf)") in error.message
    assert "Nothing was written: nginx keeps its previous configuration" in error.message
    assert "an https external_url needs a certificate and its key" in error.hint
    assert vhost(site) == before  # so a reload or a restart still finds a working config
    assert not [p for p in site["dir"].iterdir() if ".check-" in p.name]  # copy removed
    # with the certificate in place the same change goes through, and nginx is reloaded
    site["ssl"].mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=gitlab.example.test", "-keyout", str(site["ssl"] / "gitlab.key"),
                    "-out", str(site["ssl"] / "gitlab.crt")], check=True, capture_output=True)
    run = converged(resources(site, "https://gitlab.example.test"))
    assert f"ssl_certificate {site['ssl']}/gitlab.crt;" in vhost(site)
    assert ("hup", "nginx") in run.notifications


def test_the_error_names_the_live_file_and_line(site):
    converged(resources(site))
    with pytest.raises(ResourceError) as failure:
        converged(resources(site, client_max_body_size="10 MB"))
    message = failure.value.message
    assert ('invalid number of arguments in "client_max_body_size" directive in '
            f"{site['dir']}/conf/service_conf/gitlab-rails.conf:") in message
    assert ".conf.check-" not in message  # the scratch copy's path is never shown
    assert failure.value.hint == "correct gitlab.rb and run reconfigure again"


def test_an_unchanged_configuration_runs_no_check(site):
    converged(resources(site))
    again = converged(resources(site))
    assert again.changed == []
    (site["layout"].embedded / "sbin" / "nginx").unlink()  # no program: nothing to check with
    step = next(r for r in resources(site, client_max_body_size="10 MB")
                if r.id == "check[nginx]")
    assert step.check() is None
