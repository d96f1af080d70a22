"""Let's Encrypt through nginx, as omnibus-gitlab's letsencrypt cookbook does it.

Before nginx's config check: the certificate's directory, a self-signed stand-in when no
certificate is there yet (so nginx can start on the first https run), and the challenge
directory nginx serves at /.well-known/acme-challenge/ on port 80. Once nginx runs: the
certificate from the ACME CA by http-01 (acme-tiny, a maintained client; it drives the openssl
program), from the staging directory first and then production, as omnibus-gitlab does to
spare the production rate limits. The new files replace the old ones only after acme-tiny
succeeded, and nginx is sent HUP only after `nginx -t` accepts them; otherwise the old files
are put back and the run fails. With auto_renew, a cron.d job runs `gitlab-ctl
renew-le-certs` (letsencrypt_renew.py) on the configured schedule."""

from __future__ import annotations

import hashlib
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_ctl.engine import reload, runit
from gitlab_ctl.engine.resources import Absent, Directory, File, ResourceError, Skip
from gitlab_ctl.paths import Layout
from gitlab_ctl.services.base import Context

#: the acme cookbook's defaults: renew within 30 days of expiry, 2048-bit RSA, P-256
RENEW_WITHIN_DAYS = 30
DEFAULT_KEY_SIZE = 2048
DEFAULT_EC_CURVE = "prime256v1"
JOB_NAME = "letsencrypt-renew"
ACME_TIMEOUT = 300.0
HINT = ("the CA must reach http://{host}/.well-known/acme-challenge/ on port 80 of this "
        "server: check that {host} resolves to it and that port 80 is open, then run "
        "`gitlab-ctl reconfigure` (or `gitlab-ctl renew-le-certs`) again")


@dataclass(frozen=True)
class Certificate:
    """What letsencrypt['...'] and nginx['ssl_certificate...'] ask for."""

    host: str
    crt: Path
    key: Path
    alt_names: tuple[str, ...]
    key_type: str
    key_size: int
    ec_curve: str
    owner: str
    group: str
    wwwroot: Path
    contacts: tuple[str, ...]
    endpoints: tuple[str, ...]  # staging (when set), then production

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.host, *self.alt_names)))

    @property
    def challenge_dir(self) -> Path:
        return self.wwwroot / ".well-known" / "acme-challenge"


def enabled(context: Context) -> bool:
    return bool(context.section("letsencrypt").get("enable")
                and context.section("gitlab_rails").get("gitlab_host")
                and context.section("nginx").get("enable") is not False)


def challenge(context: Context) -> dict[str, Any]:
    """What nginx's templates need: whether to serve the challenge, and from where."""
    return {"enable": enabled(context),
            "wwwroot": str(context.section("letsencrypt").get("wwwroot") or "")}


def certificate(context: Context) -> Certificate:
    le, nginx = context.section("letsencrypt"), context.section("nginx")
    host = str(context.section("gitlab_rails")["gitlab_host"])
    return Certificate(
        host=host,
        crt=Path(nginx.get("ssl_certificate") or f"/etc/gitlab/ssl/{host}.crt"),
        key=Path(nginx.get("ssl_certificate_key") or f"/etc/gitlab/ssl/{host}.key"),
        alt_names=tuple(le.get("alt_names") or ()), key_type=str(le.get("key_type") or "rsa"),
        key_size=int(le.get("key_size") or DEFAULT_KEY_SIZE),
        ec_curve=str(le.get("ec_curve") or DEFAULT_EC_CURVE),
        owner=le.get("owner") or "root", group=le.get("group") or "root",
        wwwroot=Path(le["wwwroot"]),
        contacts=tuple(f"mailto:{email}" for email in le.get("contact_emails") or ()),
        endpoints=tuple(str(url) for url in (le.get("acme_staging_endpoint"),
                                             le.get("acme_production_endpoint")) if url))


# --- the schedule ------------------------------------------------------------------------


def chosen_minute(host: str) -> int:
    """Ruby's Random.new(SHA1(host).hex).rand(60), as omnibus-gitlab picks the job's minute:
    the same Mersenne Twister seeded the same way, and Ruby's masked draw (6 bits, retried
    above 59)."""
    generator = random.Random(int(hashlib.sha1(host.encode()).hexdigest(), 16))
    while True:
        value = generator.getrandbits(32) & 63
        if value <= 59:
            return value


def renewal_job(context: Context) -> File | Absent:
    """The crond_job omnibus-gitlab writes: `minute hour day-of-month month day-of-week user
    command` in crond's cron.d; deleted when auto_renew is off."""
    le, crond = context.section("letsencrypt"), context.section("crond")
    path = Path(crond["cron_d"]) / JOB_NAME
    notify = (("restart", "crond"),) if crond.get("enable") else ()
    if not enabled(context) or not le.get("auto_renew") or not crond.get("enable"):
        return Absent(path, notifies=notify)
    minute = le.get("auto_renew_minute")
    minute = chosen_minute(certificate(context).host) if minute is None else minute
    schedule = f"{minute} {le['auto_renew_hour']} {le['auto_renew_day_of_month']} * *"
    command = context.layout.install_dir / "bin" / "gitlab-ctl"
    return File(path, f"{schedule} root {command} renew-le-certs\n", notifies=notify)


# --- before nginx starts -----------------------------------------------------------------


def openssl(argv: Sequence[str], what: str) -> str:
    try:
        result = subprocess.run(["openssl", *argv], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ResourceError(what, f"openssl could not run: {error}") from error
    if result.returncode != 0:
        raise ResourceError(what, f"openssl {argv[0]} failed: {result.stderr.strip()}")
    return result.stdout


def new_key(cert: Certificate, path: Path, what: str) -> None:
    options = (["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{cert.ec_curve}"]
               if cert.key_type == "ec" else
               ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{cert.key_size}"])
    openssl(["genpkey", *options, "-out", str(path)], what)


def san(cert: Certificate) -> str:
    return "subjectAltName=" + ",".join(f"DNS:{name}" for name in cert.names)


@dataclass(frozen=True)
class StandinCertificate:
    """acme_selfsigned: a self-signed certificate where none is, so nginx starts (and its
    config check passes) before the CA's certificate comes."""

    cert: Certificate
    notifies: tuple[tuple[str, str], ...] = (("restart", "nginx"),)

    @property
    def id(self) -> str:
        return f"acme_selfsigned[{self.cert.host}]"

    def check(self) -> list[str] | None:
        return None if self.cert.crt.exists() else [
            f"create a self-signed stand-in {self.cert.crt} until the CA's certificate comes"]

    def apply(self) -> None:
        cert = self.cert
        with tempfile.TemporaryDirectory(dir=cert.crt.parent, prefix=".selfsigned-") as work:
            key, crt = Path(work) / "key", Path(work) / "crt"
            new_key(cert, key, self.id)
            openssl(["req", "-x509", "-new", "-key", str(key), "-out", str(crt), "-days", "30",
                     "-subj", f"/CN={cert.host}", "-addext", san(cert)], self.id)
            install_pair(cert, crt.read_text(), key.read_text())


def before_nginx(context: Context) -> list:
    """Planned before nginx's config check: the directories and the stand-in."""
    if not enabled(context):
        return []
    cert = certificate(context)
    log_dir = Path(context.section("letsencrypt")["auto_renew_log_directory"])
    return [Directory(cert.crt.parent, group="root", mode=0o755),
            Directory(log_dir, group="root", mode=0o755),
            Directory(cert.wwwroot, group="root", mode=0o755),
            Directory(cert.wwwroot / ".well-known", group="root", mode=0o755),
            Directory(cert.challenge_dir, group="root", mode=0o755),
            StandinCertificate(cert)]


# --- the certificate in place ------------------------------------------------------------


def x509_fields(path: Path) -> dict[str, str]:
    try:
        result = subprocess.run(
            ["openssl", "x509", "-in", str(path), "-noout", "-subject", "-issuer", "-enddate",
             "-ext", "subjectAltName"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if "=" in line and not line.startswith(" "):
            name, value = line.split("=", 1)
            fields[name.strip()] = value.strip()
        elif "DNS:" in line:
            fields["names"] = line.strip()
    return fields


def key_description(path: Path) -> str:
    try:
        text = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout", "-text"],
                              capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    rsa = re.search(r"Private-Key: \((\d+) bit", text)
    curve = re.search(r"NIST CURVE: (\S+)|ASN1 OID: (\S+)", text)
    if curve:
        return f"ec {curve.group(2) or curve.group(1)}"
    return f"rsa {rsa.group(1)}" if rsa else ""


CURVE_NAMES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}


def due(cert: Certificate, now: float | None = None) -> list[str]:
    """Why a certificate must be (re)issued; none: the one in place is good."""
    if not cert.crt.exists() or not cert.key.exists():
        return [f"get a certificate for {', '.join(cert.names)}: {cert.crt} is missing"]
    fields = x509_fields(cert.crt)
    reasons = []
    if fields.get("subject") == fields.get("issuer"):
        reasons.append(f"replace the self-signed {cert.crt} with the CA's certificate")
    try:
        expires = time.mktime(time.strptime(fields.get("notAfter", ""), "%b %d %H:%M:%S %Y %Z"))
    except ValueError:
        expires = 0.0
    if expires - (now or time.time()) < RENEW_WITHIN_DAYS * 86400:
        reasons.append(f"renew {cert.crt}: it expires within {RENEW_WITHIN_DAYS} days "
                       f"({fields.get('notAfter', 'unreadable')})")
    wanted = (f"ec {cert.ec_curve}" if cert.key_type == "ec" else f"rsa {cert.key_size}")
    have = key_description(cert.key)
    have = " ".join(CURVE_NAMES.get(part, part) for part in have.split())
    if have != wanted:
        reasons.append(f"a new {wanted} key: {cert.key} is {have or 'unreadable'}")
    covered = set(re.findall(r"DNS:([^,\s]+)", fields.get("names", "")))
    missing = [name for name in cert.names if name not in covered]
    if missing:
        reasons.append(f"cover {', '.join(missing)} too")
    return reasons


def install_pair(cert: Certificate, crt_text: str, key_text: str,
                 suffix: str = "") -> None:
    """Key first (0600), then the certificate, each replaced atomically."""
    for path, text, mode in ((Path(f"{cert.key}{suffix}"), key_text, 0o600),
                             (Path(f"{cert.crt}{suffix}"), crt_text, 0o644)):
        File(path, text, owner=cert.owner, group=cert.group, mode=mode, sensitive=True).apply()


def ca_bundle(layout: Layout, work: Path) -> Path:
    """The CAs acme-tiny trusts for the directory's TLS: the default bundle and the
    certificates in /etc/gitlab/trusted-certs (where omnibus-gitlab takes them from too)."""
    parts = []
    default = ssl.get_default_verify_paths().cafile
    if default and Path(default).is_file():
        parts.append(Path(default).read_text())
    trusted = layout.etc_dir / "trusted-certs"
    if trusted.is_dir():
        parts += [path.read_text() for path in sorted(trusted.iterdir())
                  if path.suffix in (".crt", ".pem") and path.is_file()]
    bundle = work / "ca-bundle.pem"
    bundle.write_text("\n".join(parts))
    return bundle


def acme_tiny(resource: LetsEncryptCertificate, work: Path, csr: Path, endpoint: str,
              what: str) -> str:
    """One certificate chain from `endpoint` (an ACME directory URL), by acme-tiny."""
    cert, layout = resource.cert, resource.layout
    account = work / "account.key"  # a fresh account each run, deleted with `work`
    if not account.exists():
        openssl(["genrsa", "-out", str(account), str(DEFAULT_KEY_SIZE)], what)
    argv = [sys.executable, "-m", "acme_tiny", "--account-key", str(account), "--csr", str(csr),
            "--acme-dir", str(cert.challenge_dir), "--directory-url", endpoint,
            "--disable-check", "--quiet"]
    if cert.contacts:
        argv += ["--contact", *cert.contacts]
    env = {**os.environ, "SSL_CERT_FILE": str(ca_bundle(layout, work)),
           "PATH": f"{layout.embedded / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=env,
                                timeout=ACME_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ResourceError(what, f"acme-tiny did not finish: {error}. {cert.crt} is kept.",
                            hint=HINT.format(host=cert.host)) from error
    if result.returncode != 0 or "BEGIN CERTIFICATE" not in result.stdout:
        said = "\n    ".join(result.stderr.strip().splitlines()[-10:]) or "(no output)"
        raise ResourceError(
            what, f"no certificate from {endpoint} for {', '.join(cert.names)}; {cert.crt} "
            f"is kept and nginx goes on with it. acme-tiny said:\n    {said}",
            hint=HINT.format(host=cert.host))
    return result.stdout


def nginx_accepts(layout: Layout, directory: Path) -> str | None:
    """`nginx -t` on the live configuration (it loads the new certificate): None, or what
    nginx said."""
    program = layout.embedded / "sbin" / "nginx"
    if not program.exists():
        return None
    result = subprocess.run([str(program), "-t", "-q", "-p", str(directory), "-c",
                             str(directory / "conf" / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    return None if result.returncode == 0 else (result.stderr + result.stdout).strip()


def replace_checked(resource: LetsEncryptCertificate, crt_text: str, key_text: str,
                    what: str) -> None:
    """Put the new pair in place, have nginx check it, and HUP nginx; if nginx refuses,
    the old pair goes back and the run fails."""
    cert, layout = resource.cert, resource.layout
    old = {path: path.read_bytes() for path in (cert.crt, cert.key) if path.exists()}
    install_pair(cert, crt_text, key_text)
    refused = nginx_accepts(layout, resource.nginx_dir)
    if refused is not None:
        for path in (cert.crt, cert.key):
            if path in old:
                path.write_bytes(old[path])
        raise ResourceError(what, f"nginx -t refuses the new certificate, so the previous "
                            f"one is back in {cert.crt} and nginx was not reloaded. nginx "
                            f"said:\n    {refused}", hint="see nginx's message above")
    if runit.is_running(layout, "nginx"):
        result, late = reload.hup_and_wait(layout, "nginx")
        if result.returncode != 0:
            raise ResourceError(what, f"`sv hup nginx` said: {result.stdout.strip()}")
        if late:
            raise ResourceError(what, late, hint="nginx -t accepted the configuration; "
                                "nginx's log says why it did not reload")


def obtain(resource: LetsEncryptCertificate, what: str) -> None:
    """Staging first (its pair kept beside the real one as -staging), then production."""
    cert = resource.cert
    with tempfile.TemporaryDirectory(dir=cert.crt.parent, prefix=".letsencrypt-") as name:
        work = Path(name)
        key, csr = work / "domain.key", work / "domain.csr"
        new_key(cert, key, what)
        openssl(["req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={cert.host}",
                 "-addext", san(cert)], what)
        chains = [acme_tiny(resource, work, csr, endpoint, what)
                  for endpoint in cert.endpoints]
        if len(chains) > 1:
            install_pair(cert, chains[0], key.read_text(), suffix="-staging")
        replace_checked(resource, chains[-1], key.read_text(), what)


@dataclass(frozen=True)
class LetsEncryptCertificate:
    """letsencrypt_certificate: issue or renew when `due` says so, once nginx runs (the CA
    fetches the challenge through it). A run that cannot do it fails: it never passes over
    a certificate that is missing, self-signed or expiring."""

    cert: Certificate
    layout: Layout
    nginx_dir: Path
    notifies: tuple[tuple[str, str], ...] = ()  # it sends nginx HUP itself, once checked

    @property
    def id(self) -> str:
        return f"letsencrypt_certificate[{self.cert.host}]"

    def check(self) -> list[str] | None:
        reasons = due(self.cert)
        if not reasons:
            return None
        if not runit.is_running(self.layout, "nginx"):
            raise Skip("nginx is not running, so the CA cannot fetch the challenge",
                       hint="start nginx (gitlab-ctl start nginx), then run this again")
        return reasons

    def apply(self) -> None:
        obtain(self, self.id)


def certificate_resource(context: Context) -> LetsEncryptCertificate:
    return LetsEncryptCertificate(certificate(context), context.layout,
                                  Path(context.section("nginx")["dir"]))


def after_nginx(context: Context) -> list[Any]:
    return [certificate_resource(context)] if enabled(context) else []
