"""Peer tests: gitlab-pages rendered as omnibus-gitlab's specs expect. Each case id names
its spec: `pages-*` ids come from spec/chef/cookbooks/gitlab-pages/recipes/gitlab-pages_spec.rb
(its contexts "with default values", "with Pages enabled", "when internal_gitlab_server is
set", "when access control is enabled", "with custom port", "with custom values")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Absent
from gitlab_ctl.services import gitlab_pages
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

CONFIG = Path("/var/opt/gitlab/gitlab-pages/gitlab-pages-config")
ENABLED = {"external_url": "https://gitlab.example.com",
           "pages_external_url": "https://pages.example.com"}
#: the spec's "with custom values" gitlab_pages settings
CUSTOM = {
    "external_http": ["external_pages.example.com", "localhost:9000"],
    "external_https": ["external_pages.example.com", "localhost:9001"],
    "external_https_proxyv2": ["external_pages.example.com", "localhost:9002"],
    "metrics_address": "localhost:1234", "redirect_http": True, "dir": "/var/opt/gitlab/pages",
    "cert": "/etc/gitlab/pages.crt",
    "artifacts_server_url": "https://gitlab.elsewhere.com/api/v5",
    "artifacts_server_timeout": 60, "status_uri": "/@status", "max_connections": 7500,
    "max_uri_length": 2048, "propagate_correlation_id": True, "log_format": "text",
    "log_verbose": True, "gitlab_id": "app_id", "gitlab_secret": "app_secret",
    "auth_secret": "auth_secret", "auth_redirect_uri": "https://projects.pages.example.com/auth",
    "auth_scope": "read_api", "auth_timeout": "10s", "auth_cookie_session_timeout": "20m",
    "access_control": True, "insecure_ciphers": True, "tls_min_version": "tls1.0",
    "tls_max_version": "tls1.2", "sentry_enabled": True,
    "sentry_dsn": "https://b44a0828b72421a6d8e99efd68d44fa8@example.com/40",
    "sentry_environment": "production",
    "headers": ["X-XSS-Protection: 1; mode=block", "X-Content-Type-Options: nosniff",
                "Test: Header"],
    "server_shutdown_timeout": "30s", "gitlab_client_http_timeout": "60s",
    "gitlab_client_jwt_expiry": "30s", "zip_cache_expiration": "120s",
    "zip_cache_cleanup": "1m", "zip_cache_refresh": "60s", "zip_open_timeout": "45s",
    "zip_http_client_timeout": "30m", "internal_gitlab_server": "https://int.gitlab.example.com",
    "gitlab_cache_expiry": "1m", "gitlab_cache_refresh": "500ms", "gitlab_cache_cleanup": "100ms",
    "gitlab_retrieval_timeout": "3s", "gitlab_retrieval_interval": "500ms",
    "gitlab_retrieval_retries": 5, "rate_limit_source_ip": 100, "rate_limit_source_ip_burst": 50,
    "rate_limit_domain": 1000, "rate_limit_domain_burst": 10000, "rate_limit_tls_source_ip": 101,
    "rate_limit_tls_source_ip_burst": 51, "rate_limit_tls_domain": 1001,
    "rate_limit_tls_domain_burst": 10001,
    "rate_limit_subnets_allow_list": ["10.1.1.0/24", "10.1.2.0/24"],
    "server_read_timeout": "1m", "server_read_header_timeout": "2m",
    "server_write_timeout": "3m", "server_keep_alive": "4m", "redirects_max_config_size": 128000,
    "redirects_max_path_segments": 50, "redirects_max_rule_count": 2000, "enable_disk": True,
    "namespace_in_path": True, "client_cert": "/path/to/client.crt",
    "client_key": "/path/to/client.key", "client_ca_certs": "/path/to/ca.crt",
    "env": {"GITLAB_CONTINUOUS_PROFILING": "stackdriver?service=gitlab-pages"}}
CUSTOM_CONTENT = """\
pages-domain=pages.example.com
pages-root=/var/opt/gitlab/gitlab-rails/shared/pages
api-secret-key=/var/opt/gitlab/pages/.gitlab_pages_secret
auth-client-id=app_id
auth-redirect-uri=https://projects.pages.example.com/auth
auth-client-secret=app_secret
auth-secret=auth_secret
auth-scope=read_api
auth-timeout=10s
auth-cookie-session-timeout=20m
zip-cache-expiration=120s
zip-cache-cleanup=1m
zip-cache-refresh=60s
zip-open-timeout=45s
zip-http-client-timeout=30m
listen-proxy=localhost:8090
metrics-address=localhost:1234
pages-status=/@status
max-conns=7500
max-uri-length=2048
propagate-correlation-id=true
log-format=text
log-verbose
sentry-dsn=https://b44a0828b72421a6d8e99efd68d44fa8@example.com/40
sentry-environment=production
redirect-http=true
use-http2=true
artifacts-server=https://gitlab.elsewhere.com/api/v5
artifacts-server-timeout=60
gitlab-server=https://gitlab.example.com
internal-gitlab-server=https://int.gitlab.example.com
insecure-ciphers
tls-min-version=tls1.0
tls-max-version=tls1.2
server-shutdown-timeout=30s
gitlab-client-http-timeout=60s
gitlab-client-jwt-expiry=30s
listen-http=external_pages.example.com,localhost:9000
listen-https=external_pages.example.com,localhost:9001
listen-https-proxyv2=external_pages.example.com,localhost:9002
root-cert=/etc/gitlab/pages.crt
root-key=/etc/gitlab/ssl/pages.example.com.key
gitlab-cache-expiry=1m
gitlab-cache-refresh=500ms
gitlab-cache-cleanup=100ms
gitlab-retrieval-timeout=3s
gitlab-retrieval-timeout=500ms
gitlab-retrieval-retries=5
enable-disk=true
rate-limit-source-ip=100
rate-limit-source-ip-burst=50
rate-limit-domain=1000
rate-limit-domain-burst=10000
rate-limit-tls-source-ip=101
rate-limit-tls-source-ip-burst=51
rate-limit-tls-domain=1001
rate-limit-tls-domain-burst=10001
rate-limit-subnets-allow-list=10.1.1.0/24,10.1.2.0/24
server-read-timeout=1m
server-read-header-timeout=2m
server-write-timeout=3m
server-keep-alive=4m
redirects-max-config-size=128000
redirects-max-path-segments=50
redirects-max-rule-count=2000
header=X-XSS-Protection: 1; mode=block;;X-Content-Type-Options: nosniff;;Test: Header
namespace-in-path=true
client-cert=/path/to/client.crt
client-key=/path/to/client.key
client-ca-certs=/path/to/ca.crt
"""
DEFAULT_CONTENT = """\
pages-domain=pages.example.com
pages-root=/var/opt/gitlab/gitlab-rails/shared/pages
api-secret-key=/var/opt/gitlab/gitlab-pages/.gitlab_pages_secret
listen-proxy=localhost:8090
log-format=json
use-http2=true
artifacts-server=https://gitlab.example.com/api/v4
artifacts-server-timeout=10
gitlab-server=https://gitlab.example.com
"""


def files(settings: dict) -> dict[str, str]:
    return {str(f.path): f.content for f in service_files(make_context(settings))}


def config(pages: dict, **top: str) -> str:
    settings = {**ENABLED, **top, "gitlab_pages": pages}
    directory = pages.get("dir", "/var/opt/gitlab/gitlab-pages")
    return files(settings)[f"{directory}/gitlab-pages-config"]


def test_pages_default_values_does_not_include_pages():
    """'with default values': gitlab-pages is off (reconfigure neither configures nor runs
    it); 'with Pages enabled': pages_external_url turns it on, unless gitlab.rb says not."""
    assert make_context({}).section("gitlab_pages")["enable"] is False
    assert make_context(ENABLED).section("gitlab_pages")["enable"] is True
    assert make_context({**ENABLED, "gitlab_pages": {"enable": False}}).section(
        "gitlab_pages")["enable"] is False


def test_pages_enabled_renders_pages_config_file():
    assert config({}) == DEFAULT_CONTENT


def test_pages_custom_values_renders_config_in_the_specified_directory():
    assert config(CUSTOM) == CUSTOM_CONTENT


@pytest.mark.parametrize("line", CUSTOM_CONTENT.splitlines())
def test_pages_custom_values_line(line):
    """Each line the spec's 'with custom values' expects, on its own."""
    assert line in config(CUSTOM).splitlines()


#: (case id, gitlab_pages settings, top-level settings, line expected, line not expected)
CASES = [
    ("pages-internal-gitlab-server-derives-artifacts-server",
     {"internal_gitlab_server": "https://int.gitlab.example.com"}, {},
     "artifacts-server=https://int.gitlab.example.com/api/v4", None),
    ("pages-access-control-disabled-skips-auth-secret",
     {"access_control": False, "auth_secret": "auth_secret"}, {}, None, "auth-secret=auth_secret"),
    ("pages-access-control-secrets-specified-client-id",
     {"access_control": True, "gitlab_id": "app_id", "gitlab_secret": "app_secret",
      "auth_secret": "auth_secret", "auth_scope": "read_api"}, {}, "auth-client-id=app_id", None),
    ("pages-access-control-secrets-specified-client-secret",
     {"access_control": True, "gitlab_secret": "app_secret"}, {},
     "auth-client-secret=app_secret", None),
    ("pages-access-control-secrets-specified-auth-secret",
     {"access_control": True, "auth_secret": "auth_secret"}, {}, "auth-secret=auth_secret", None),
    ("pages-access-control-secrets-specified-auth-scope",
     {"access_control": True, "auth_scope": "read_api"}, {}, "auth-scope=read_api", None),
    ("pages-access-control-default-redirect-uri",
     {"access_control": True}, {}, "auth-redirect-uri=https://projects.pages.example.com/auth",
     None),
    ("pages-namespace-in-path-default-redirect-uri",
     {"access_control": True, "namespace_in_path": True}, {},
     "auth-redirect-uri=https://pages.example.com/projects/auth", None),
    ("pages-namespace-in-path-renders-flag",
     {"access_control": True, "namespace_in_path": True}, {}, "namespace-in-path=true", None),
    ("pages-custom-port-namespace-in-path-redirect-uri",
     {"access_control": True, "namespace_in_path": True},
     {"pages_external_url": "https://pages.example.com:8443"},
     "auth-redirect-uri=https://pages.example.com:8443/projects/auth", None),
    ("pages-custom-port-sets-the-correct-port-number",
     {"access_control": True}, {"pages_external_url": "https://pages.example.com:8443"},
     "auth-redirect-uri=https://projects.pages.example.com:8443/auth", None),
]


@pytest.mark.parametrize("pages,top,present,absent", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_pages_spec_case(pages, top, present, absent):
    lines = config(pages, **top).splitlines()
    if present:
        assert present in lines
    if absent:
        assert absent not in lines


def test_pages_renders_the_env_dir_files():
    rendered = files(ENABLED)
    env = "/opt/gitlab/etc/gitlab-pages/env"
    assert rendered[f"{env}/SSL_CERT_DIR"] == "/opt/gitlab/embedded/ssl/certs/"
    assert rendered["/opt/gitlab/etc/gitlab-pages/env/GODEBUG"] == "tlsmlkem=0"


def test_pages_custom_values_renders_the_env_dir_files():
    rendered = files({**ENABLED, "gitlab_pages": CUSTOM})
    assert (rendered["/opt/gitlab/etc/gitlab-pages/env/GITLAB_CONTINUOUS_PROFILING"]
            == "stackdriver?service=gitlab-pages")
    assert rendered["/opt/gitlab/etc/gitlab-pages/env/GODEBUG"] == "tlsmlkem=0"


def test_pages_renders_the_pages_service_run_file():
    run = files(ENABLED)["/opt/gitlab/sv/gitlab-pages/run"]
    assert '-config="/var/opt/gitlab/gitlab-pages/gitlab-pages-config"' in run


def test_pages_deletes_old_admin_secret_file():
    resources = gitlab_pages.configure(make_context(ENABLED))
    assert Path("/var/opt/gitlab/gitlab-pages/admin.secret") in [
        r.path for r in resources if isinstance(r, Absent)]


def test_pages_log_group_custom_value():
    """'log directory and runit group' custom values: log_group fugee on svlogd."""
    log_run = files({**ENABLED, "gitlab_pages": {"log_group": "fugee"}})[
        "/opt/gitlab/sv/gitlab-pages/log/run"]
    assert "-U root:fugee -u root:fugee" in log_run


def test_pages_api_secret_is_shared_with_rails():
    """The key gitlab-pages reads is the one Rails' gitlab_pages_secret holds."""
    rendered = files({**ENABLED, "gitlab_pages": {"api_secret_key": "c2VjcmV0"}})
    assert rendered["/var/opt/gitlab/gitlab-pages/.gitlab_pages_secret"] == "c2VjcmV0\n"
    assert rendered["/var/opt/gitlab/gitlab-rails/etc/gitlab_pages_secret"] == "c2VjcmV0\n"


def applied_keys() -> list[str]:
    schema = load_schema()
    return [key for key in schema.keys("gitlab_pages")
            if schema.get("gitlab_pages", key).used and key not in ("enable", "nginx")]


def probe(key: str):
    setting = load_schema().get("gitlab_pages", key)
    kind = setting.type.split("|")[0]
    default = setting.default
    if kind == "boolean":
        return not default if isinstance(default, bool) else True
    if kind in ("integer", "number"):
        return (default or 0) + 77
    if kind == "list":
        return [f"zz-{key}"]
    if kind == "hash":
        return {f"ZZ_{key.upper()}": "zz"}
    return f"/zz/{key}"


#: keys that are written only together with another one
COMPANION = {"auth_redirect_uri": {"access_control": True}, "gitlab_id": {"access_control": True},
             "gitlab_secret": {"access_control": True}, "auth_secret": {"access_control": True},
             "auth_scope": {"access_control": True}, "auth_timeout": {"access_control": True},
             "auth_cookie_session_timeout": {"access_control": True},
             "sentry_dsn": {"sentry_enabled": True}, "sentry_enabled": {"sentry_dsn": "https://zz"},
             "sentry_environment": {"sentry_enabled": True},
             "cert": {"external_https": ["0.0.0.0:443"]},
             "cert_key": {"external_https": ["0.0.0.0:443"]}}


@pytest.mark.parametrize("key", applied_keys())
def test_every_applied_key_reaches_output(key):
    companion = COMPANION.get(key, {})
    before = files({**ENABLED, "gitlab_pages": companion})
    after = files({**ENABLED, "gitlab_pages": {**companion, key: probe(key)}})
    assert before != after, f"gitlab_pages['{key}'] changes nothing reconfigure writes"
