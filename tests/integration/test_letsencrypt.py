"""Let's Encrypt end to end: gitlab-ctl reconfigure and renew-le-certs against Debian's
`pebble` ACME test server (bookworm's 2.4.0), on loopback inside the test container.

The container is test_reconfigure.py's (Debian's PostgreSQL, Redis, nginx and runit in the
package's prefix; gitlab_ctl from this checkout) plus pebble, Debian's acme-tiny (the same
5.0.1 the package builds) and openssl. Pebble serves ACME on https://127.0.0.1:14000 with a
certificate from a test CA made here, which /etc/gitlab/trusted-certs makes trusted, and
validates http-01 on port 80 of gitlab.example.test (an /etc/hosts entry: 127.0.0.1), that
is through the nginx reconfigure runs. Nothing is mocked: the certificate nginx serves is
pebble's, issued to acme-tiny. go-crond is not in the image, so the renewal job's command is
run as crond runs it (its line from the cron.d file, as root, with cron's bare environment).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time

import pytest

from tests.integration.runtime_host import (
    build_runtime_image,
    docker,
    gitlab_ctl,
    install_tree,
    pids,
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

HOST = "gitlab.example.test"
PACKAGES = "pebble acme-tiny openssl ca-certificates"
ACME = "https://127.0.0.1:14000/dir"
CERT = f"/etc/gitlab/ssl/{HOST}.crt"
KEY = f"/etc/gitlab/ssl/{HOST}.key"
CRON_JOB = "/var/opt/gitlab/crond/letsencrypt-renew"
#: pebble as the ACME CA (bench/e2e_letsencrypt.py uses these too)
LETSENCRYPT_RB = f"""letsencrypt['contact_emails'] = ['admin@example.test']
letsencrypt['acme_staging_endpoint'] = '{ACME}'
letsencrypt['acme_production_endpoint'] = '{ACME}'
"""
GITLAB_RB = f"external_url 'https://{HOST}'\nnginx['http2_enabled'] = false\n" + LETSENCRYPT_RB
PEBBLE_CONFIG = {"pebble": {
    "listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
    "certificate": "/srv/pebble/cert.pem", "privateKey": "/srv/pebble/key.pem",
    "httpPort": 80, "tlsPort": 5001, "ocspResponderURL": "",
    "externalAccountBindingRequired": False}}
#: a test CA, and pebble's own TLS certificate from it (Debian's pebble ships neither)
PEBBLE_TLS = """set -e
mkdir -p /srv/pebble /etc/gitlab/trusted-certs && cd /srv/pebble
openssl req -x509 -addext 'basicConstraints=critical,CA:TRUE' \
  -addext 'keyUsage=critical,keyCertSign,cRLSign' -newkey rsa:2048 -nodes \
  -keyout ca.key -out ca.pem -days 30 \
  -subj '/CN=letsencrypt test CA'
openssl req -new -newkey rsa:2048 -nodes -keyout key.pem -out tls.csr -subj '/CN=127.0.0.1'
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
# the extensions Python 3.13's strict verification (the package's Python) asks of a chain
printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature,keyEncipherment\\n' \
  >> san.ext
printf 'extendedKeyUsage=serverAuth\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' \
  >> san.ext
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
  -days 30 -extfile san.ext
cp ca.pem /etc/gitlab/trusted-certs/letsencrypt-test-ca.pem
"""


def build_image() -> str:
    base = build_runtime_image()
    tag = "gitlab-ctl-test/debian-12-letsencrypt:" + hashlib.sha256(
        f"{base} {PACKAGES}".encode()).hexdigest()[:16]
    if docker("image", "inspect", tag, check=False).returncode != 0:
        recipe = (f"FROM {base}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                  f"apt-get install -y -qq --no-install-recommends {PACKAGES}\n")
        subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=recipe,
                       text=True, check=True, capture_output=True, timeout=1800)
    return tag


def start_pebble(container: str) -> None:
    docker("exec", "-d", "-e", "PEBBLE_VA_NOSLEEP=1", "-e", "PEBBLE_WFE_NONCEREJECT=0",
           container, "sh", "-c", "exec pebble -config /srv/pebble/config.json "
           ">>/var/log/pebble.log 2>&1")
    sh(container, "for i in $(seq 50); do curl -s --cacert /srv/pebble/ca.pem "
                  f"{ACME} >/dev/null && exit 0; sleep 0.2; done; cat /var/log/pebble.log; "
                  "exit 1")


def stop_pebble(container: str) -> None:
    sh(container, "pkill -x pebble; for i in $(seq 50); do pgrep -x pebble || exit 0; "
                  "sleep 0.1; done; exit 1", check=False)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    name = start_host(build_image(), install_tree(tmp_path_factory.mktemp("install")),
                      options=("--add-host", f"{HOST}:127.0.0.1"))
    try:
        sh(name, f"ln -sf /usr/bin/openssl /opt/gitlab/embedded/bin/openssl && {PEBBLE_TLS}")
        sh(name, "printf %s \"$CONFIG\" > /srv/pebble/config.json && "
                 "printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
           env={"CONFIG": json.dumps(PEBBLE_CONFIG), "RB": GITLAB_RB})
        start_pebble(name)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def served(container: str) -> dict[str, str]:
    """The certificate nginx presents for the host: issuer, serial, key."""
    text = sh(container, f"openssl s_client -connect 127.0.0.1:443 -servername {HOST} "
                         "</dev/null 2>/dev/null | openssl x509 -noout -issuer -serial -text"
              ).stdout
    issuer = re.search(r"^issuer=(.*)$", text, re.MULTILINE)
    serial = re.search(r"^serial=(.*)$", text, re.MULTILINE)
    key = re.search(r"Public Key Algorithm: (\S+)\s+Public-Key: \((\d+) bit", text)
    return {"issuer": issuer.group(1) if issuer else "", "serial": serial.group(1) if serial
            else "", "key": f"{key.group(1)} {key.group(2)}" if key else ""}


def set_rb(container: str, *lines: str) -> None:
    sh(container, "printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
       env={"RB": GITLAB_RB + "".join(f"{line}\n" for line in lines)})


def md5(container: str, *paths: str) -> str:
    return sh(container, f"md5sum {' '.join(paths)}").stdout


@pytest.fixture(scope="module")
def issued(host):
    run = gitlab_ctl(host, "reconfigure", check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_the_first_https_reconfigure_gets_the_certificate_from_the_acme_ca(host, issued):
    assert f"acme_selfsigned[{HOST}]" in issued.stdout  # nginx could start with it
    assert f"letsencrypt_certificate[{HOST}]" in issued.stdout
    assert "gitlab Reconfigured!" in issued.stdout
    presented = served(host)
    assert "Pebble Intermediate CA" in presented["issuer"]
    assert presented["key"] == "rsaEncryption 2048"
    # the chain verifies against pebble's root (its management API hands it out)
    sh(host, "curl -sf --cacert /srv/pebble/ca.pem https://127.0.0.1:15000/roots/0 "
             "> /tmp/pebble-root.pem")
    code = sh(host, f"curl -s -o /dev/null -w '%{{http_code}}' --cacert /tmp/pebble-root.pem "
                    f"https://{HOST}/").stdout
    assert code == "502"  # TLS verified; no Rails behind workhorse here
    assert sh(host, f"stat -c %a {KEY}").stdout.strip() == "600"
    assert sh(host, f"test -s {CERT}-staging && test -s {KEY}-staging", check=False
              ).returncode == 0  # the staging endpoint was asked first, as omnibus-gitlab
    secrets = json.loads(sh(host, "cat /etc/gitlab/gitlab-secrets.json").stdout)
    assert secrets["letsencrypt"]["auto_enabled"] is True
    # http is redirected, except the challenge
    assert "301" in sh(host, f"curl -s -o /dev/null -w '%{{http_code}}' http://{HOST}/").stdout


def test_a_second_reconfigure_keeps_the_certificate(host, issued):
    before = served(host)["serial"]
    run = gitlab_ctl(host, "reconfigure")
    assert "letsencrypt_certificate" not in run.stdout
    assert served(host)["serial"] == before


def test_renew_le_certs_does_nothing_when_not_due(host, issued):
    before = md5(host, CERT, KEY)
    run = gitlab_ctl(host, "renew-le-certs")
    assert "not due for renewal" in run.stdout
    assert md5(host, CERT, KEY) == before
    assert sh(host, "ls /var/log/gitlab/lets-encrypt/").stdout.startswith("renewal.")


def test_renew_le_certs_renews_and_reloads_nginx(host, issued):
    before, nginx_pid = served(host)["serial"], pids(host)["nginx"]
    set_rb(host, "letsencrypt['key_size'] = 3072")  # due: the key no longer matches
    run = gitlab_ctl(host, "renew-le-certs")
    assert "renewed, nginx reloaded" in run.stdout
    time.sleep(1)  # HUP: the workers restart with the new certificate
    now = served(host)
    assert now["serial"] != before and now["key"] == "rsaEncryption 3072"
    assert "Pebble Intermediate CA" in now["issuer"]
    assert pids(host)["nginx"] == nginx_pid  # reloaded, not restarted


def test_the_crond_job_renews_as_crond_runs_it(host, issued):
    # the first reconfigure wrote the job (and, as omnibus-gitlab, turned crond on)
    assert "crond: not started, because this package does not include" in issued.stdout
    line = sh(host, f"cat {CRON_JOB}").stdout
    fields = line.split()
    assert fields[1:6] == ["0", "*/4", "*", "*", "root"] and 0 <= int(fields[0]) < 60
    assert fields[6:] == ["/opt/gitlab/bin/gitlab-ctl", "renew-le-certs"]
    before = served(host)["serial"]
    set_rb(host, "letsencrypt['key_type'] = 'ec'")  # due, for the job to renew
    sh(host, "env -i PATH=/usr/bin:/bin HOME=/root SHELL=/bin/sh sh -c \"$JOB\"",
       env={"JOB": " ".join(fields[6:])})
    time.sleep(1)
    now = served(host)
    assert now["serial"] != before and now["key"] == "id-ecPublicKey 256"


def test_nginx_is_reloaded_only_after_its_check_passes(host, issued):
    """A new certificate nginx -t refuses (here: its config broke meanwhile) is taken back."""
    set_rb(host, "letsencrypt['key_type'] = 'ec'",
           "nginx['custom_nginx_config'] = 'include /etc/gitlab/extra-nginx.conf;'")
    sh(host, "echo '# fine' > /etc/gitlab/extra-nginx.conf")
    gitlab_ctl(host, "reconfigure")
    sh(host, "echo 'this is not nginx;' > /etc/gitlab/extra-nginx.conf")
    set_rb(host, "letsencrypt['key_type'] = 'ec'", "letsencrypt['ec_curve'] = 'secp384r1'",
           "nginx['custom_nginx_config'] = 'include /etc/gitlab/extra-nginx.conf;'")
    files, before, nginx_pid = md5(host, CERT, KEY), served(host)["serial"], pids(host)["nginx"]
    try:
        run = gitlab_ctl(host, "renew-le-certs", check=False)
        assert run.returncode == 1, run.stdout + run.stderr
        assert "nginx -t refuses the new certificate" in run.stdout
        assert "There was an error renewing Let's Encrypt certificates" in run.stderr
        assert md5(host, CERT, KEY) == files
        assert served(host)["serial"] == before and pids(host)["nginx"] == nginx_pid
    finally:
        sh(host, "echo '# fine' > /etc/gitlab/extra-nginx.conf")


def test_a_failed_renewal_keeps_the_certificate(host, issued):
    set_rb(host, "letsencrypt['key_type'] = 'rsa'")  # due again
    files, before = md5(host, CERT, KEY), served(host)["serial"]
    stop_pebble(host)
    try:
        run = gitlab_ctl(host, "renew-le-certs", check=False)
        assert run.returncode == 1, run.stdout + run.stderr
        assert f"{CERT} is kept" in run.stdout
        assert md5(host, CERT, KEY) == files and served(host)["serial"] == before
        failed = gitlab_ctl(host, "reconfigure", check=False)  # reconfigure fails too
        assert failed.returncode == 1 and "gitlab Reconfigured!" not in failed.stdout
        assert f"letsencrypt_certificate[{HOST}]" in failed.stderr
        assert md5(host, CERT, KEY) == files
    finally:
        start_pebble(host)
    assert gitlab_ctl(host, "renew-le-certs").returncode == 0  # and recovers


def test_enable_false_without_certificate_files_is_refused_before_anything(host, issued):
    set_rb(host, "letsencrypt['enable'] = false",
           "nginx['ssl_certificate'] = '/etc/gitlab/ssl/missing.crt'",
           "nginx['ssl_certificate_key'] = '/etc/gitlab/ssl/missing.key'")
    vhost = md5(host, "/var/opt/gitlab/nginx/conf/service_conf/gitlab-rails.conf")
    try:
        for verb in ("check-config", "reconfigure"):
            run = gitlab_ctl(host, verb, check=False)
            assert run.returncode == 2, run.stdout + run.stderr
            assert "/etc/gitlab/gitlab.rb:6" in run.stderr  # the line of enable
            assert "/etc/gitlab/ssl/missing.crt and /etc/gitlab/ssl/missing.key" in run.stderr
        assert md5(host, "/var/opt/gitlab/nginx/conf/service_conf/gitlab-rails.conf") == vhost
    finally:
        set_rb(host)
