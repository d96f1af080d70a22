"""Peer tests: expectations of omnibus-gitlab's spec/chef/cookbooks/nginx/recipes/nginx_spec.rb
(ids `nginx/...`), checked against the nginx files our reconfigure renders for the same
gitlab.rb input: GitLab's server block (gitlab-rails.conf, omnibus-gitlab's gitlab-http.conf),
the registry's, Pages' and KAS' server blocks and nginx.conf. The words are ours, the facts
theirs. Also: every nginx key declared applied changes what is rendered."""

from __future__ import annotations

from typing import Any

import pytest

from gitlab_ctl.config.schema import load_schema
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

CONF = "/var/opt/gitlab/nginx/conf/"
FILES = {"gitlab": CONF + "service_conf/gitlab-rails.conf",
         "registry": CONF + "service_conf/gitlab-registry.conf",
         "pages": CONF + "service_conf/gitlab-pages.conf",
         "kas": CONF + "service_conf/gitlab-kas.conf",
         "nginx.conf": CONF + "nginx.conf"}
#: Every site on https, as the spec's "when https external urls are being used".
HTTPS = {"external_url": "https://gitlab.example.test",
         "registry_external_url": "https://registry.example.test",
         "pages_external_url": "https://pages.example.test",
         "gitlab_kas_external_url": "wss://kas.example.test"}
SITE_SECTIONS = {"gitlab": "nginx", "registry": "registry_nginx", "pages": "pages_nginx",
                 "kas": "gitlab_kas_nginx"}


def files(settings: dict[str, Any]) -> dict[str, str]:
    return {str(f.path): f.content for f in service_files(make_context(settings))}


def every_site(**values: Any) -> dict[str, Any]:
    """The same settings for each site's section (the spec's stub for all four)."""
    return {**HTTPS, **{section: dict(values) for section in SITE_SECTIONS.values()}}


VERIFY = {**HTTPS,
          "gitlab_rails": {"nginx": {"ssl_client_certificate": "/etc/gitlab/ssl/gitlab-http-ca.crt",
                                     "ssl_verify_client": "on", "ssl_verify_depth": "2"}},
          "registry_nginx": {"ssl_client_certificate": "/etc/gitlab/ssl/gitlab-registry-ca.crt",
                             "ssl_verify_client": "off", "ssl_verify_depth": "5"},
          "pages_nginx": {"ssl_client_certificate": "/etc/gitlab/ssl/gitlab-pages-ca.crt",
                          "ssl_verify_client": "on", "ssl_verify_depth": "7"},
          "gitlab_kas_nginx": {"ssl_client_certificate": "/etc/gitlab/ssl/gitlab-kas-ca.crt",
                               "ssl_verify_client": "on", "ssl_verify_depth": "7"}}
CONF_COMMANDS = ["Ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
                 "Options PrioritizeChaCha"]

# (spec id, gitlab.rb, file, text, whether the file contains it)
CASES = [
    *[(f"nginx/no-ssl_client_certificate-by-default[{s}]", HTTPS, s, "ssl_client_certificate",
       False) for s in ("gitlab", "registry", "pages", "kas")],
    *[(f"nginx/no-ssl_verify_client-by-default[{s}]", HTTPS, s, "ssl_verify_client", False)
      for s in ("gitlab", "registry", "pages", "kas")],
    *[(f"nginx/no-ssl_verify_depth-by-default[{s}]", HTTPS, s, "ssl_verify_depth", False)
      for s in ("gitlab", "registry", "pages", "kas")],
    ("nginx/default-ssl_verify_depth-with-ssl_verify_client",
     every_site(ssl_verify_client="on"), "gitlab", "ssl_verify_depth 1", True),
    ("nginx/gitlab-http-verify-client", VERIFY, "gitlab",
     "ssl_client_certificate /etc/gitlab/ssl/gitlab-http-ca.crt", True),
    ("nginx/gitlab-http-verify-client", VERIFY, "gitlab", "ssl_verify_client on", True),
    ("nginx/gitlab-http-verify-client", VERIFY, "gitlab", "ssl_verify_depth 2", True),
    ("nginx/registry-verify-client", VERIFY, "registry",
     "ssl_client_certificate /etc/gitlab/ssl/gitlab-registry-ca.crt", True),
    ("nginx/registry-verify-client", VERIFY, "registry", "ssl_verify_client off", True),
    ("nginx/registry-verify-client", VERIFY, "registry", "ssl_verify_depth 5", True),
    ("nginx/pages-verify-client", VERIFY, "pages",
     "ssl_client_certificate /etc/gitlab/ssl/gitlab-pages-ca.crt", True),
    ("nginx/pages-verify-client", VERIFY, "pages", "ssl_verify_depth 7", True),
    ("nginx/kas-verify-client", VERIFY, "kas",
     "ssl_client_certificate /etc/gitlab/ssl/gitlab-kas-ca.crt", True),
    ("nginx/kas-verify-client", VERIFY, "kas", "ssl_verify_client on", True),
    *[(f"nginx/ssl_password_file-by-default[{s}]", HTTPS, s, "ssl_password_file", False)
      for s in ("gitlab", "registry", "pages", "kas")],
    *[(f"nginx/ssl_password_file-set[{s}]",
       {**HTTPS, SITE_SECTIONS[s]: {"ssl_password_file": f"/etc/gitlab/ssl/{s}_password_file.txt"}},
       s, f"ssl_password_file '/etc/gitlab/ssl/{s}_password_file.txt';", True)
      for s in ("gitlab", "registry", "pages", "kas")],
    ("nginx/no-ssl_ecdh_curve-by-default", HTTPS, "gitlab", "ssl_ecdh_curve", False),
    *[(f"nginx/ssl_ecdh_curve-secp384r1[{s}]", every_site(ssl_ecdh_curve="secp384r1"), s,
       "ssl_ecdh_curve secp384r1;", True) for s in ("gitlab", "registry", "pages", "kas")],
    ("nginx/no-ssl_conf_command-by-default", HTTPS, "gitlab", "ssl_conf_command", False),
    *[(f"nginx/ssl_conf_command-set[{s}]", every_site(ssl_conf_command=CONF_COMMANDS), s,
       f"ssl_conf_command {command};", True)
      for s in ("gitlab", "registry", "pages", "kas") for command in CONF_COMMANDS],
    ("nginx/hsts-disabled", {**HTTPS, "gitlab_rails": {"nginx": {"hsts_max_age": 0}}},
     "gitlab", "add_header Strict-Transport-Security", False),
    ("nginx/hsts-default-max-age", HTTPS, "gitlab",
     'add_header Strict-Transport-Security "max-age=63072000" always;', True),
    ("nginx/hsts-include-subdomains",
     {**HTTPS, "gitlab_rails": {"nginx": {"hsts_include_subdomains": True}}}, "gitlab",
     'add_header Strict-Transport-Security "max-age=63072000; includeSubdomains" always;', True),
    ("nginx/hsts-max-age-10", {**HTTPS, "gitlab_rails": {"nginx": {"hsts_max_age": 10}}},
     "gitlab", '"max-age=10"', True),
    ("nginx/gzip-disabled", {"gitlab_rails": {"nginx": {"gzip_enabled": False}}},
     "nginx.conf", "gzip off;", True),
    ("nginx/gzip-by-default", {}, "nginx.conf", "gzip on;", True),
    *[(f"nginx/real_ip_header[{s}]", every_site(real_ip_header="X-FAKE"), s,
       "real_ip_header X-FAKE", True) for s in ("gitlab", "registry", "pages", "kas")],
    *[(f"nginx/real_ip_recursive[{s}]", every_site(real_ip_recursive="On"), s,
       "real_ip_recursive On", True) for s in ("gitlab", "registry", "pages", "kas")],
    *[(f"nginx/real_ip_trusted_addresses[{s}]",
       every_site(real_ip_trusted_addresses=["one", "two", "three"]), s,
       f"set_real_ip_from {address}", True)
      for s in ("gitlab", "registry", "pages", "kas") for address in ("one", "two", "three")],
    *[(f"nginx/proxy_protocol[{s}]", every_site(proxy_protocol=True), s, text, True)
      for s in ("gitlab", "registry", "pages", "kas")
      for text in (" proxy_protocol ssl;", "real_ip_header proxy_protocol;",
                   "proxy_set_header X-Real-IP $proxy_protocol_addr;",
                   "proxy_set_header X-Forwarded-For $proxy_protocol_addr;")],
    *[(f"nginx/no-proxy_protocol-by-default[{s}]", HTTPS, s, text, False)
      for s in ("gitlab", "registry", "pages", "kas")
      for text in (" proxy_protocol", "real_ip_header proxy_protocol;",
                   "$proxy_protocol_addr")],
    *[(f"nginx/proxy_custom_buffer_size[{s}]",
       {**HTTPS, SITE_SECTIONS[s]: {"proxy_custom_buffer_size": "42k"}}, s, text, True)
      for s in ("gitlab", "pages", "kas")
      for text in ("proxy_buffers 8 42k;", "proxy_buffer_size 42k;")],
    *[(f"nginx/no-proxy_custom_buffer_size-by-default[{s}]:{text}", HTTPS, s, text, False)
      for s in ("gitlab", "pages") for text in ("proxy_buffers", "proxy_buffer_size")],
    ("nginx/http2-on-for-https", HTTPS, "gitlab", "http2 on;", True),
    ("nginx/log_format_escape-default", {}, "nginx.conf", "log_format gitlab_access escape=default",
     True),
    ("nginx/log_format_escape-json", {"nginx": {"log_format_escape": "json"}}, "nginx.conf",
     "log_format gitlab_access escape=json", True),
    # Let's Encrypt off: on (an https URL without certificate files) it turns the redirect on
    ("nginx/redirect-off-by-default", {**HTTPS, "letsencrypt": {"enable": False}}, "gitlab",
     "return 301 https://", False),
    ("nginx/no-total-cpus-worker_processes", {"nginx": {"worker_processes": 16}}, "nginx.conf",
     "worker_processes 16;", True),
]


@pytest.mark.parametrize(("spec", "settings", "site", "text", "present"), CASES,
                         ids=[f"{case[0]}:{case[3]}" for case in CASES])
def test_peer(spec: str, settings: dict, site: str, text: str, present: bool) -> None:
    content = files(settings)[FILES[site]]
    assert (text in content) is present, f"{spec}: {text!r} {'missing' if present else 'found'}"


# -- every nginx key declared applied reaches a file -------------------------------------
#: A distinctive value per key (the rest take "distinct-<key>" or a number).
VALUES: dict[str, Any] = {
    "log_format": "$remote_addr distinct", "log_format_escape": "json", "hide_server_tokens": "on",
    "server_names_hash_bucket_size": 128, "sendfile": "off", "tcp_nopush": "off",
    "tcp_nodelay": "off", "keepalive_time": "2h", "gzip_enabled": False,
    "gzip_http_version": "1.0", "gzip_comp_level": "7", "gzip_proxied": "any",
    "gzip_types": ["text/distinct"], "proxy_cache_path": "distinct keys_zone=x:1m",
    "proxy_cache": "off", "log_group": "distinct-group", "http2_enabled": False,
    "proxy_protocol": True, "real_ip_trusted_addresses": ["10.9.8.7"],
    "hsts_include_subdomains": True, "ssl_conf_command": ["Options Distinct"],
    "ssl_session_tickets": "on", "ssl_verify_depth": "9",
}
NEW_NGINX_KEYS = [
    "log_format", "log_format_escape", "log_group", "hide_server_tokens",
    "server_names_hash_bucket_size", "sendfile", "tcp_nopush", "tcp_nodelay", "keepalive_time",
    "gzip_enabled", "gzip_http_version", "gzip_comp_level", "gzip_proxied", "gzip_types",
    "proxy_cache_path", "proxy_cache", "ssl_ciphers", "ssl_session_cache", "ssl_session_timeout",
    "http2_enabled", "proxy_protocol", "real_ip_header", "real_ip_recursive",
    "real_ip_trusted_addresses", "ssl_client_certificate", "ssl_verify_client", "ssl_dhparam",
    "ssl_ecdh_curve", "ssl_conf_command", "ssl_password_file", "ssl_session_tickets",
    "hsts_include_subdomains", "proxy_custom_buffer_size"]
SITE_KEYS = ["http2_enabled", "proxy_protocol", "real_ip_header", "real_ip_recursive",
             "real_ip_trusted_addresses", "ssl_client_certificate", "ssl_verify_client",
             "ssl_dhparam", "ssl_ecdh_curve", "ssl_conf_command", "ssl_password_file",
             "ssl_session_tickets", "hsts_include_subdomains", "proxy_custom_buffer_size"]


def everything(settings: dict[str, Any]) -> dict[str, str]:
    """Every File's content, the log run scripts included (log_group reaches those)."""
    return files(settings)


@pytest.mark.parametrize(("section", "key"), [("nginx", k) for k in NEW_NGINX_KEYS] + [
    (section, key) for section in ("registry_nginx", "pages_nginx", "gitlab_kas_nginx",
                                   "mattermost_nginx") for key in SITE_KEYS
    if (section, key) != ("registry_nginx", "proxy_custom_buffer_size")])
def test_every_applied_key_changes_the_output(section: str, key: str) -> None:
    setting = load_schema().get(section, key)
    assert setting is not None and setting.used, f"{section}['{key}'] is not declared applied"
    base = {**HTTPS, "mattermost_external_url": "https://mattermost.example.test"}
    value = VALUES.get(key, f"distinct-{key}")
    if key == "ssl_verify_depth":
        base = {**base, section: {"ssl_verify_client": "on"}}
    changed = {**base, section: {**base.get(section, {}), key: value}}
    assert everything(changed) != everything(base), f"{section}['{key}'] changes nothing"
