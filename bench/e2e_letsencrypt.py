"""End to end, as an administrator with an https external_url and no certificate: install the
built .deb with apt into a clean Debian 12 container where Debian's `pebble` ACME test server
runs on loopback, and check that the install ends with nginx answering over TLS with the
certificate pebble issued (through the package's own nginx, acme-tiny and openssl), that
`gitlab-ctl renew-le-certs` leaves a good certificate alone, and that the renewal job is in
crond's directory.

Usage: .venv/bin/python bench/e2e_letsencrypt.py [--deb pkg/gitlab-local_..._amd64.deb]
       (after ./dev build)

Said plainly: pebble is a test CA (Debian's package, not Let's Encrypt), trusted through
/etc/gitlab/trusted-certs as an administrator trusts a private CA; everything else is what a
user gets. Prints each step with its time; exits 1 at the first failed check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.compile.builder_images import ensure_base  # noqa: E402
from builder.definitions.loader import load_catalog  # noqa: E402
from tests.integration.test_letsencrypt import (  # noqa: E402
    ACME,
    HOST,
    LETSENCRYPT_RB,
    PEBBLE_CONFIG,
    PEBBLE_TLS,
)

NAME = "e2e-letsencrypt"
GITLAB_RB = f"external_url 'https://{HOST}'\n" + LETSENCRYPT_RB
#: pebble's TLS certificate from a private CA (Debian's pebble ships none), trusted by
#: gitlab-ctl through /etc/gitlab/trusted-certs, as the integration test makes them
SETUP = f"""set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends pebble openssl \
  ca-certificates curl >/dev/null
{PEBBLE_TLS}
cd /srv/pebble
printf %s "$CONFIG" > config.json && printf %s "$RB" > /etc/gitlab/gitlab.rb
(PEBBLE_VA_NOSLEEP=1 setsid pebble -config config.json >/var/log/pebble.log 2>&1 &)
for i in $(seq 50); do curl -s --cacert ca.pem {ACME} >/dev/null && exit 0; sleep 0.2; done
cat /var/log/pebble.log; exit 1
"""
PRESENTED = (f"openssl s_client -connect 127.0.0.1:443 -servername {HOST} </dev/null "
             "2>/dev/null | openssl x509 -noout")
CHECKS = {
    "nginx presents a certificate issued by pebble":
        f"{PRESENTED} -issuer | grep -q 'Pebble Intermediate'",
    f"... for {HOST}": f"{PRESENTED} -ext subjectAltName | grep -q 'DNS:{HOST}'",
    "... that verifies against pebble's root":
        "curl -sk https://127.0.0.1:15000/roots/0 > /tmp/root.pem && "
        "curl -sk https://127.0.0.1:15000/intermediates/0 > /tmp/intermediate.pem && "
        f"{PRESENTED.removesuffix(' -noout')} > /tmp/served.pem && openssl verify -CAfile "
        "/tmp/root.pem -untrusted /tmp/intermediate.pem /tmp/served.pem",
    "https answers (502 from nginx: gitlab-local bundles no Rails)":
        f"curl -s -o /dev/null -w '%{{http_code}}' --resolve {HOST}:443:127.0.0.1 -k "
        f"https://{HOST}/ | grep -qx 502",
    "http redirects to https": f"curl -s -o /dev/null -w '%{{redirect_url}}' -H 'Host: {HOST}' "
                               f"http://127.0.0.1/ | grep -q '^https://{HOST}/'",
    "the renewal job is in crond's directory":
        "grep -q 'gitlab-ctl renew-le-certs' /var/opt/gitlab/crond/letsencrypt-renew",
}


def sh(script: str, env: dict[str, str] | None = None, check: bool = True
       ) -> subprocess.CompletedProcess:
    argv = ["docker", "exec", *[f"-e{k}={v}" for k, v in (env or {}).items()], NAME,
            "bash", "-c", script]
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"e2e_letsencrypt: failed: {script[:200]}")
    return result


def step(title: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {title}", flush=True)


def newest_deb() -> Path:
    debs = sorted((ROOT / "pkg").glob("gitlab-local_*_amd64.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise SystemExit("e2e_letsencrypt: no pkg/gitlab-local_*_amd64.deb: run ./dev build")
    return debs[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deb", type=Path, help="the package (default: newest in pkg/)")
    parser.add_argument("--keep", action="store_true",
                        help=f"leave the container ({NAME}) running afterwards, to look inside")
    args = parser.parse_args()
    deb = (args.deb or newest_deb()).resolve()
    started = time.monotonic()
    base = ensure_base(load_catalog(ROOT).platforms["debian-12"], "amd64",
                       lambda *_a, **_k: None)
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", NAME, "--add-host", f"{HOST}:127.0.0.1",
                    "-v", f"{deb.parent}:/pkg:ro", base, "sleep", "infinity"],
                   check=True, capture_output=True)
    try:
        sh(SETUP, env={"CONFIG": json.dumps(PEBBLE_CONFIG), "RB": GITLAB_RB})
        step("pebble answers on loopback; gitlab.rb has an https external_url, no certificate",
             started)
        # EXTERNAL_URL as omnibus-gitlab's install instructions give it: the first install
        # then reconfigures (gitlab.rb already has the same URL and the ACME endpoints)
        install = sh(f"EXTERNAL_URL=https://{HOST} DEBIAN_FRONTEND=noninteractive "
                     f"apt-get install -y -qq /pkg/{deb.name} "
                     "> /var/log/e2e-install.log 2>&1; status=$?; grep -E "
                     "'letsencrypt|acme|Reconfigured|Thank you|rror' /var/log/e2e-install.log; "
                     "exit $status")
        print("\n".join("    " + line for line in install.stdout.splitlines()[-8:]))
        step(f"apt-get install {deb.name}", started)
        for title, command in CHECKS.items():
            sh(command)
            step(f"ok: {title}", started)
        serial = sh(f"{PRESENTED} -serial").stdout
        renew = sh("gitlab-ctl renew-le-certs")
        if sh(f"{PRESENTED} -serial").stdout != serial:
            raise SystemExit("e2e_letsencrypt: renew-le-certs replaced a good certificate")
        print("\n".join("    " + line for line in renew.stdout.splitlines()[-3:]))
        step("ok: renew-le-certs keeps the certificate that is not due", started)
        return 0
    finally:
        if not args.keep:
            subprocess.run(["docker", "rm", "-f", NAME], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
