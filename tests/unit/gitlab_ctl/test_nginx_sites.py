"""nginx's sites as administrators configure them: each site's server block for representative
gitlab.rb inputs, compared with tests/golden/nginx_sites/<case>/<file> (UPDATE_GOLDEN=1
rewrites them), each also asserting the facts omnibus-gitlab's specs hold; both key styles;
and the real `nginx -t` on the rendered tree, with an https registry and a self-signed
certificate."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gitlab_ctl.cli import main
from tests.conftest import REPO
from tests.unit.gitlab_ctl.test_config_templates import make_context, rendered

GOLDEN = REPO / "tests" / "golden" / "nginx_sites"
CONF = "var/opt/gitlab/nginx/conf/"
CASES = {
    "registry-http": {"registry_external_url": "http://registry.example.test:5050"},
    "registry-https": {"registry_external_url": "https://registry.example.test",
                       "registry_nginx": {"ssl_certificate": "/srv/tls/reg.crt",
                                          "ssl_certificate_key": "/srv/tls/reg.key",
                                          "redirect_http_to_https": True}},
    "pages": {"pages_external_url": "http://pages.example.test"},
    "kas": {"gitlab_kas_external_url": "wss://kas.example.test"},
    "mattermost": {"mattermost_external_url": "https://mattermost.example.test"},
    "custom": {"nginx": {"custom_gitlab_server_config": "location /x { return 204; }",
                         "custom_nginx_config": "include /etc/gitlab/nginx-extra/*.conf;"}},
}
FILES = {"registry-http": "gitlab-registry.conf", "registry-https": "gitlab-registry.conf",
         "pages": "gitlab-pages.conf", "kas": "gitlab-kas.conf",
         "mattermost": "gitlab-mattermost.conf", "custom": "gitlab-rails.conf"}


def site(case: str, name: str | None = None) -> str:
    text = rendered(make_context(CASES[case]))[CONF + "service_conf/" + (name or FILES[case])]
    path = GOLDEN / case / (name or FILES[case])
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs: UPDATE_GOLDEN=1 and review"
    return text


def test_registry_http():
    # spec/chef/cookbooks/registry/recipes/registry_spec.rb: registry_nginx['listen_port']
    # from the URL's port; proxy to registry['registry_http_addr'] (127.0.0.1:5000)
    text = site("registry-http")
    assert "listen *:5050;" in text and "proxy_pass http://127.0.0.1:5000;" in text
    assert "proxy_set_header X-Forwarded-Proto http;" in text and " ssl;" not in text


def test_registry_https_with_custom_certificate_paths():
    # registry_spec.rb 'HTTP to HTTPS redirection': return 301 https://<host>$request_uri
    text = site("registry-https")
    assert "return 301 https://registry.example.test$request_uri;" in text
    assert "listen *:443 ssl;" in text and "ssl_certificate /srv/tls/reg.crt;" in text
    assert "ssl_certificate_key /srv/tls/reg.key;" in text
    assert "proxy_set_header X-Forwarded-Ssl on;" in text


def test_https_certificates_default_to_the_host():
    text = rendered(make_context({"registry_external_url": "https://registry.example.test"}))[
        CONF + "service_conf/gitlab-registry.conf"]
    assert "ssl_certificate /etc/gitlab/ssl/registry.example.test.crt;" in text


def test_pages():
    # spec/chef/cookbooks/gitlab-pages/recipes/gitlab-pages_spec.rb: gitlab-pages.conf,
    # proxied to gitlab_pages['listen_proxy'] (localhost:8090)
    text = site("pages")
    assert r"server_name ~^(?<group>.*)\.pages\.example\.test$;" in text
    assert "proxy_pass http://localhost:8090;" in text


def test_kas():
    # spec/chef/cookbooks/gitlab-kas/recipes/gitlab-kas_spec.rb: proxy_pass
    # http://localhost:8150/, http://localhost:8154/ and grpc_pass grpc://localhost:8150
    text = site("kas")
    for line in ("proxy_pass http://localhost:8150/;", "proxy_pass http://localhost:8154/;",
                 "grpc_pass grpc://localhost:8150;", "listen *:443 ssl;"):
        assert line in text


def test_mattermost():
    # spec/chef/cookbooks/gitlab/recipes/nginx_spec.rb (before 19.0's removal):
    # gitlab-mattermost.conf, https proxy headers (X-Forwarded-Proto https, X-Forwarded-Ssl on)
    text = site("mattermost")
    assert "server 127.0.0.1:8065;" in text and "proxy_pass http://gitlab_mattermost;" in text
    assert "proxy_set_header X-Forwarded-Proto https;" in text


def test_custom_inserts_are_verbatim():
    # no upstream spec; nginx-gitlab-rails.conf.erb and nginx.conf.erb place them at the end
    # of the server block and of the http block
    text = site("custom")
    assert text.endswith("\nlocation /x { return 204; }\n}\n")
    main_conf = rendered(make_context(CASES["custom"]))[CONF + "nginx.conf"]
    assert main_conf.endswith("\ninclude /etc/gitlab/nginx-extra/*.conf;\n}\n")


def test_no_url_no_site():
    assert not [n for n in rendered(make_context()) if "gitlab-registry" in n]


def test_both_key_styles_newer_wins_and_warns(tmp_path, capsys):
    # gitlab_rails.rb translate_client_settings: gitlab_rails['nginx'][k] wins over nginx[k]
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\nnginx['listen_port'] = 81\n"
                      "gitlab_rails['nginx']['listen_port'] = 8181\n")
    assert main(["check-config", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert ("gitlab_rails['nginx']['listen_port'] and nginx['listen_port'] are both set: "
            "gitlab_rails['nginx']['listen_port'] wins") in err
    context = make_context({"nginx": {"listen_port": 81},
                            "gitlab_rails": {"nginx": {"listen_port": 8181}}})
    assert "listen *:8181;" in rendered(context)[CONF + "service_conf/gitlab-rails.conf"]


def test_a_newer_style_value_of_the_wrong_type_names_its_key(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "registry['nginx']['listen_port'] = 'x'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "registry['nginx']['listen_port'] = 'x' is not a port number" in \
        capsys.readouterr().err


def test_a_registry_url_that_is_not_http_is_refused(tmp_path, capsys):
    config = tmp_path / "gitlab.rb"
    config.write_text("external_url 'http://gitlab.example.test'\n"
                      "registry_external_url 'ftp://registry.example.test'\n")
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "registry_external_url: Unsupported external URL scheme: ftp" in err
    assert "hint: e.g. registry_external_url 'https://registry.gitlab.example.test'" in err


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.mark.skipif(not Path(NGINX).exists() or not Path("/etc/nginx/mime.types").exists()
                    or os.geteuid() != 0, reason="needs root and the host's nginx")
def test_the_rendered_tree_passes_nginx_t(tmp_path):
    certs = tmp_path / "tls"
    certs.mkdir()
    (tmp_path / "log").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=registry.example.test", "-keyout", str(certs / "r.key"),
                    "-out", str(certs / "r.crt")], check=True, capture_output=True)
    settings = {"registry_external_url": "https://registry.example.test:5443",
                "registry_nginx": {"ssl_certificate": str(certs / "r.crt"),
                                   "ssl_certificate_key": str(certs / "r.key"),
                                   "redirect_http_to_https": True,
                                   "redirect_http_to_https_port": 5080,
                                   # the host's nginx may predate `http2 on` (1.25.1)
                                   "http2_enabled": False},
                "pages_external_url": "http://pages.example.test",
                "gitlab_kas_external_url": "ws://kas.example.test:8443",
                "mattermost_external_url": "http://mattermost.example.test:8065",
                "web_server": {"username": "nobody", "group": "nogroup"},
                "nginx": {"log_directory": str(tmp_path / "log"),
                          "custom_nginx_config": "variables_hash_bucket_size 128;",
                          "custom_gitlab_server_config": "location = /ping { return 204; }"}}
    files = rendered(make_context(settings))
    for name, text in files.items():
        if name.startswith(CONF):
            path = tmp_path / name.removeprefix(CONF)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("/opt/gitlab/embedded/conf/mime.types",
                                         "/etc/nginx/mime.types"))
    assert (tmp_path / "service_conf" / "gitlab-kas.conf").exists()
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c",
                             str(tmp_path / "nginx.conf"), "-g", "error_log stderr;"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
