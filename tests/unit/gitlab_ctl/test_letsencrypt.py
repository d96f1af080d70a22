"""Peer tests: expectations of omnibus-gitlab's Let's Encrypt specs, checked against what our
reconfigure resolves and plans for the same gitlab.rb. Case ids name the spec:
  le_lib/...   spec/chef/cookbooks/letsencrypt/libraries/lets_encrypt_spec.rb
  le_recipe/...  spec/chef/cookbooks/letsencrypt/recipes/letsencrypt_spec.rb ('enabling
               letsencrypt', 'letsencrypt::enable' and 'letsencrypt::renew')
  le_cert/...  spec/chef/cookbooks/letsencrypt/resources/letsencrypt_certificate_spec.rb
The words are ours, the facts theirs; where the spec stubs File.exist? or a certificate, the
test makes real files (openssl) under tmp_path and points nginx['ssl_certificate'] at them.
Also: every letsencrypt key declared applied changes what reconfigure plans, and
letsencrypt['enable'] = false without certificate files is refused naming them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gitlab_ctl.config import letsencrypt as le_config
from gitlab_ctl.config.attributes import resolve_attributes
from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.config.schema import load_schema
from gitlab_ctl.engine.resources import Absent, File, Skip
from gitlab_ctl.services import letsencrypt
from gitlab_ctl.services.crond import configure as crond_configure
from tests.unit.gitlab_ctl.test_applied_settings import everything
from tests.unit.gitlab_ctl.test_config_templates import make_context, service_files

HOST = "fakehost.example.com"
HTTPS = {"external_url": f"https://{HOST}"}
ENABLED = {**HTTPS, "letsencrypt": {"enable": True}}
SITES = {**ENABLED, "registry_external_url": "https://fakereg.example.com",
         "pages_external_url": "https://fakepages.example.com",
         "gitlab_pages": {"namespace_in_path": True}}
CONF = "/var/opt/gitlab/nginx/conf/service_conf/"
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"


@pytest.fixture(autouse=True)
def no_stored_secrets(tmp_path, monkeypatch):
    """gitlab-secrets.json (letsencrypt.auto_enabled) is read from a directory of the test."""
    monkeypatch.setenv("GITLAB_ETC_DIR", str(tmp_path / "etc"))


def openssl(*argv: str) -> None:
    subprocess.run(["openssl", *argv], check=True, capture_output=True)


def pair(directory: Path, subject: str = f"/CN={HOST}", days: int = 90,
         key: str = "rsa:2048", names: tuple[str, ...] = (HOST,)) -> dict[str, Any]:
    """A real self-signed certificate and key; nginx settings pointing at them."""
    directory.mkdir(parents=True, exist_ok=True)
    crt, keyfile = directory / "site.crt", directory / "site.key"
    algorithm = ["-newkey", key] if key.startswith("rsa") else [
        "-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{key.split(':')[1]}"]
    openssl("req", "-x509", *algorithm, "-nodes", "-keyout", str(keyfile), "-out", str(crt),
            "-days", str(days), "-subj", subject,
            "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names))
    return {"ssl_certificate": str(crt), "ssl_certificate_key": str(keyfile)}


def attributes(settings: dict) -> dict:
    return resolve_attributes(settings)


def files(settings: dict) -> dict[str, str]:
    return {str(f.path): f.content for f in service_files(make_context(settings))}


def cert_of(settings: dict) -> letsencrypt.Certificate:
    return letsencrypt.certificate(make_context(settings))


# --- lets_encrypt_spec.rb: should_auto_enable? and parse_enable ----------------------------


def auto(settings: dict, auto_enabled: bool = False, now: float | None = None) -> bool:
    return le_config.should_auto_enable(attributes(settings), auto_enabled, now)


def test_le_lib_is_true(tmp_path):
    missing = {"ssl_certificate": str(tmp_path / "example.crt"),
               "ssl_certificate_key": str(tmp_path / "example.key")}
    assert auto({**HTTPS, "nginx": missing}) is True


def test_le_lib_is_false_when_not_using_a_https_url():
    assert auto({"external_url": f"http://{HOST}"}) is False


def test_le_lib_is_false_when_nginx_is_not_enabled():
    assert auto({**HTTPS, "nginx": {"enable": False}}) is False


def test_le_lib_is_false_when_nginx_is_disabled_by_roles():
    assert auto({**HTTPS, "roles": ["redis_master_role"]}) is False


def test_le_lib_is_false_with_explicit_nginx_listen_https_false():
    assert auto({**HTTPS, "nginx": {"listen_https": False}}) is False


def test_le_lib_is_false_with_the_key_present(tmp_path):
    nginx = pair(tmp_path)
    Path(nginx["ssl_certificate"]).unlink()  # only the key is there
    assert auto({**HTTPS, "nginx": nginx}) is False


def test_le_lib_is_false_with_the_cert_present(tmp_path):
    assert auto({**HTTPS, "nginx": pair(tmp_path)}) is False


def test_le_lib_is_true_when_files_present_but_we_provisioned_them_before(tmp_path):
    assert auto({**HTTPS, "nginx": pair(tmp_path)}, auto_enabled=True) is True


def test_le_lib_is_true_when_files_present_but_le_certificate_is_expired(tmp_path):
    issuer = "/C=US/O=Let's Encrypt/CN=Let's Encrypt Authority X3"
    nginx = pair(tmp_path, subject=issuer, days=1)
    assert auto({**HTTPS, "nginx": nginx}) is False  # not expired yet
    assert auto({**HTTPS, "nginx": nginx}, now=time.time() + 3 * 86400) is True


def test_le_lib_is_false_when_files_present_but_non_le_certificate_is_expired(tmp_path):
    nginx = pair(tmp_path, subject="/C=US/O=Example Corporation/CN=Example", days=1)
    assert auto({**HTTPS, "nginx": nginx}, now=time.time() + 3 * 86400) is False


@pytest.mark.parametrize("value", [True, False])
def test_le_lib_parse_enable_specified_is_kept(tmp_path, value):
    # with files present, so false is not refused and true is not what auto would say
    resolved = attributes({**HTTPS, "nginx": pair(tmp_path), "letsencrypt": {"enable": value}})
    assert resolved["letsencrypt"]["enable"] is value
    assert "auto_enabled" not in resolved["letsencrypt"]  # should_auto_enable? not asked


def test_le_lib_parse_enable_unspecified_uses_should_auto_enable(tmp_path):
    resolved = attributes(HTTPS)
    assert resolved["letsencrypt"]["enable"] is True
    assert resolved["letsencrypt"]["auto_enabled"] is True  # remembered for later runs
    kept = attributes({**HTTPS, "nginx": pair(tmp_path)})
    assert kept["letsencrypt"]["enable"] is False and kept["letsencrypt"]["auto_enabled"] is False


def test_le_lib_save_auto_enabled_is_read_back_from_gitlab_secrets(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "gitlab-secrets.json").write_text('{"letsencrypt": {"auto_enabled": true}}')
    assert attributes({**HTTPS, "nginx": pair(tmp_path)})["letsencrypt"]["enable"] is True


# --- letsencrypt_spec.rb: 'enabling letsencrypt', letsencrypt::enable, ::renew ---------------


def planned(settings: dict) -> list:
    context = make_context(settings)
    return letsencrypt.before_nginx(context) + letsencrypt.after_nginx(context)


def test_le_recipe_unspecified_true_includes_enable():
    assert any(isinstance(r, letsencrypt.LetsEncryptCertificate) for r in planned(HTTPS))


def test_le_recipe_unspecified_false_does_not_include_enable(tmp_path):
    assert planned({**HTTPS, "nginx": pair(tmp_path)}) == []


def test_le_recipe_specified_true_includes_enable(tmp_path):
    assert planned({**ENABLED, "nginx": pair(tmp_path)}) != []


def test_le_recipe_specified_false_does_not_include_enable(tmp_path):
    assert planned({**HTTPS, "nginx": pair(tmp_path), "letsencrypt": {"enable": False}}) == []


def test_le_recipe_default_does_not_run():
    assert planned({"external_url": f"http://{HOST}"}) == []


@pytest.mark.parametrize("section", ["nginx", "registry_nginx", "pages_nginx"])
def test_le_recipe_redirects_http_to_https(section):
    assert attributes(SITES)[section]["redirect_http_to_https"] is True


@pytest.mark.parametrize("name", ["gitlab-rails.conf", "gitlab-registry.conf",
                                  "gitlab-pages.conf"])
def test_le_recipe_includes_the_well_known_acme_challenge_location_block(name):
    content = files(SITES)[CONF + name]
    redirect, _, https = content.partition("listen *:443 ssl;")
    location = "location /.well-known/acme-challenge/ {\n    root /var/opt/gitlab/nginx/www/;"
    assert "return 301 https://" in redirect and location in redirect
    assert location in https


def test_le_recipe_uses_http_authorization_by_default():
    # http-01: the challenge files go where nginx serves /.well-known/acme-challenge/ from
    assert cert_of(SITES).challenge_dir == Path("/var/opt/gitlab/nginx/www/.well-known/"
                                                "acme-challenge")


def test_le_recipe_creates_a_self_signed_certificate():
    standin = [r for r in planned(SITES) if isinstance(r, letsencrypt.StandinCertificate)]
    assert [r.id for r in standin] == [f"acme_selfsigned[{HOST}]"]
    cert = standin[0].cert
    assert sorted(cert.names) == sorted([HOST, "fakereg.example.com", "fakepages.example.com"])
    assert cert.key == Path(f"/etc/gitlab/ssl/{HOST}.key")
    assert cert.crt == Path(f"/etc/gitlab/ssl/{HOST}.crt")


def test_le_recipe_creates_a_letsencrypt_certificate():
    resource = letsencrypt.after_nginx(make_context(SITES))[0]
    assert resource.id == f"letsencrypt_certificate[{HOST}]"
    assert (resource.cert.key, resource.cert.crt) == (Path(f"/etc/gitlab/ssl/{HOST}.key"),
                                                      Path(f"/etc/gitlab/ssl/{HOST}.crt"))


def test_le_recipe_auto_renew_default_enables_crond():
    assert attributes(ENABLED)["crond"]["enable"] is True


def test_le_recipe_auto_renew_default_adds_a_crond_job():
    job = [r for r in crond_configure(make_context(ENABLED)) if isinstance(r, File)]
    assert [(str(r.path), r.content) for r in job] == [(
        "/var/opt/gitlab/crond/letsencrypt-renew",
        "31 0 */4 * * root /opt/gitlab/bin/gitlab-ctl renew-le-certs\n")]
    assert letsencrypt.chosen_minute(HOST) == 31


def test_le_recipe_auto_renew_false_removes_the_letsencrypt_renew_cronjob():
    settings = {**HTTPS, "letsencrypt": {"enable": True, "auto_renew": False},
                "crond": {"enable": True}}
    removed = [r for r in crond_configure(make_context(settings)) if isinstance(r, Absent)]
    assert [str(r.path) for r in removed] == ["/var/opt/gitlab/crond/letsencrypt-renew"]
    assert attributes({**HTTPS, "letsencrypt": {"enable": True, "auto_renew": False}}
                      )["crond"]["enable"] is False


@pytest.mark.parametrize("settings", [ENABLED, HTTPS], ids=["enabled", "auto-enabled"])
def test_le_recipe_renew_executes_letsencrypt_certificate(settings):
    context = make_context(settings)
    assert letsencrypt.enabled(context)
    assert letsencrypt.certificate_resource(context).cert.host == HOST


def test_le_recipe_external_url_uses_http_logs_a_warning():
    plain = {"external_url": "http://plainhost.example.com", "letsencrypt": {"enable": True}}
    assert le_config.warnings(attributes(plain)) == [
        "Let's Encrypt is enabled, but external_url is using http"]
    assert le_config.warnings(attributes(ENABLED)) == []  # 'does not log a warning'


# --- letsencrypt_certificate_spec.rb --------------------------------------------------------


def test_le_cert_creates_a_staging_certificate():
    cert = cert_of(ENABLED)
    assert cert.endpoints[0] == STAGING
    assert (Path(f"{cert.crt}-staging"), Path(f"{cert.key}-staging")) == (
        Path(f"/etc/gitlab/ssl/{HOST}.crt-staging"), Path(f"/etc/gitlab/ssl/{HOST}.key-staging"))
    assert cert.wwwroot == Path("/var/opt/gitlab/nginx/www")


def test_le_cert_creates_a_production_certificate():
    cert = cert_of(ENABLED)
    assert cert.endpoints[-1] == PRODUCTION
    assert (cert.crt, cert.key) == (Path(f"/etc/gitlab/ssl/{HOST}.crt"),
                                    Path(f"/etc/gitlab/ssl/{HOST}.key"))


def test_le_cert_specifying_a_different_key_size_recreates_the_ssl_files(tmp_path):
    nginx = pair(tmp_path, subject=f"/CN={HOST}")
    cert = cert_of({**HTTPS, "nginx": nginx, "letsencrypt": {"enable": True, "key_size": 3072}})
    assert cert.key_size == 3072
    assert "a new rsa 3072 key: " in " ".join(letsencrypt.due(cert))


def test_le_cert_the_same_key_size_is_not_reissued_for_it(tmp_path):
    cert = cert_of({**HTTPS, "nginx": pair(tmp_path), "letsencrypt": {"enable": True}})
    assert not [r for r in letsencrypt.due(cert) if r.startswith("a new")]


@pytest.mark.parametrize("endpoint", [0, -1], ids=["staging", "production"])
def test_le_cert_with_ec_certificates_key_type_ec(endpoint):
    cert = cert_of({**HTTPS, "letsencrypt": {"enable": True, "key_type": "ec"}})
    assert cert.key_type == "ec" and cert.endpoints[endpoint]


def test_le_cert_specifying_a_different_ec_curve_recreates_the_ssl_files(tmp_path):
    nginx = pair(tmp_path, key="ec:prime256v1")
    settings = {**HTTPS, "nginx": nginx,
                "letsencrypt": {"enable": True, "key_type": "ec", "ec_curve": "secp384r1"}}
    assert "a new ec secp384r1 key" in " ".join(letsencrypt.due(cert_of(settings)))
    same = {**settings, "letsencrypt": {"enable": True, "key_type": "ec"}}
    assert not [r for r in letsencrypt.due(cert_of(same)) if r.startswith("a new")]


def test_le_cert_with_extra_options_adds_alt_names_and_contacts():
    cert = cert_of({**HTTPS, "letsencrypt": {
        "enable": True, "alt_names": ["one.example.com", "two.example.com"],
        "contact_emails": ["foo@bar.com", "one@two.com"]}})
    assert {"one.example.com", "two.example.com"} <= set(cert.alt_names)
    assert cert.contacts == ("mailto:foo@bar.com", "mailto:one@two.com")


def test_le_cert_when_nginx_is_not_running_does_not_attempt_a_certificate(tmp_path):
    """Ours says so and fails the run instead of passing over it (a runtime never reports
    success when it skipped work)."""
    from gitlab_ctl.paths import Layout
    layout = Layout(install_dir=tmp_path / "opt", etc_dir=tmp_path / "etc",
                    data_dir=tmp_path / "var", log_dir=tmp_path / "log")
    resource = letsencrypt.after_nginx(make_context(ENABLED, layout))[0]
    with pytest.raises(Skip, match="nginx is not running"):
        resource.check()


# --- ours: the stand-in is good enough for nginx, and not taken for the real one ------------


def test_a_self_signed_or_expiring_certificate_is_due(tmp_path):
    cert = cert_of({**HTTPS, "nginx": pair(tmp_path, days=10), "letsencrypt": {"enable": True}})
    reasons = " ".join(letsencrypt.due(cert))
    assert "replace the self-signed" in reasons and "expires within 30 days" in reasons


def test_a_name_the_certificate_lacks_is_due(tmp_path):
    cert = cert_of({**HTTPS, "nginx": pair(tmp_path),
                    "letsencrypt": {"enable": True, "alt_names": ["extra.example.com"]}})
    assert "cover extra.example.com too" in letsencrypt.due(cert)


def test_the_stand_in_is_made_where_nginx_reads_it(tmp_path):
    cert = cert_of({**HTTPS, "nginx": {"ssl_certificate": str(tmp_path / "a.crt"),
                                       "ssl_certificate_key": str(tmp_path / "a.key")},
                    "letsencrypt": {"enable": True, "owner": None}})
    standin = letsencrypt.StandinCertificate(cert)
    assert standin.check()
    standin.apply()
    assert standin.check() is None
    assert (tmp_path / "a.key").stat().st_mode & 0o777 == 0o600
    assert any("cover" not in r for r in letsencrypt.due(cert))  # self-signed: still due


# --- refused before anything changes ----------------------------------------------------------


def test_enable_false_without_certificate_files_is_refused_naming_them(tmp_path):
    resolved = attributes({**HTTPS, "letsencrypt": {"enable": False}})
    with pytest.raises(ConfigError) as refused:
        le_config.refuse_missing_certificate(resolved, "/etc/gitlab/gitlab.rb:3")
    assert refused.value.where == "/etc/gitlab/gitlab.rb:3"
    assert f"/etc/gitlab/ssl/{HOST}.crt and /etc/gitlab/ssl/{HOST}.key do not exist" in str(
        refused.value)
    assert "put the certificate at" in refused.value.hint


def test_check_config_refuses_it_at_its_line(tmp_path, capsys):
    from gitlab_ctl.cli import main
    config = tmp_path / "gitlab.rb"
    config.write_text(f"external_url 'https://{HOST}'\nletsencrypt['enable'] = false\n")
    assert main(["check-config", "--config", str(config)]) == 2
    assert f"{config}:2" in capsys.readouterr().err


def test_enable_false_with_the_files_is_fine(tmp_path):
    resolved = attributes({**HTTPS, "nginx": pair(tmp_path), "letsencrypt": {"enable": False}})
    le_config.refuse_missing_certificate(resolved, "gitlab.rb")


# --- every applied key reaches what reconfigure plans ---------------------------------------

APPLIED = [s for (section, _key), s in load_schema().settings.items()
           if section == "letsencrypt" and s.used]
PROBES = {"enable": False, "contact_emails": ["probe@example.test"], "group": "probe",
          "owner": "probe", "key_size": 4096, "key_type": "ec", "ec_curve": "secp384r1",
          "wwwroot": "/srv/probe-www", "alt_names": ["probe.example.test"], "auto_renew": False,
          "auto_renew_hour": 5, "auto_renew_minute": 7, "auto_renew_day_of_month": "*/9",
          "auto_renew_log_directory": "/var/log/probe-le",
          "acme_staging_endpoint": None,
          "acme_production_endpoint": "https://probe.example.test/dir"}


def test_every_letsencrypt_key_has_a_probe():
    assert {s.key for s in APPLIED} == set(PROBES)


@pytest.mark.parametrize("key", sorted(PROBES))
def test_every_applied_key_changes_what_reconfigure_plans(key):
    base = {**HTTPS, "letsencrypt": {"enable": True}}
    probed = {**HTTPS, "letsencrypt": {"enable": True, key: PROBES[key]}}
    assert everything(make_context(probed)) != everything(make_context(base))
