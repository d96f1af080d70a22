"""Pushes and deletes images through the registry's HTTP API v2, inside the test container
(python3 and openssl there, nothing else): `push REPO TAG CONFIG LAYER...` uploads each blob
(POST, then PUT with its digest) and PUTs a schema 2 manifest under TAG, printing the digests
as JSON; `delete REPO DIGEST` deletes a manifest. Each request carries the token GitLab would
issue: a JWT signed with gitlab-registry.key, whose kid is the libtrust key ID of the
certificate the registry trusts (what `rootcertbundle` names)."""

import base64
import hashlib
import json
import subprocess
import sys
import time
import urllib.request

REGISTRY = "http://127.0.0.1:5000"
KEY = "/var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key"
CERTIFICATE = "/var/opt/gitlab/registry/gitlab-registry.crt"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id() -> str:
    """libtrust's KeyID: base32 of the first 240 bits of the SPKI's SHA-256, in 4s."""
    pem = subprocess.run(["openssl", "x509", "-in", CERTIFICATE, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def token(repository: str) -> str:
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "kid": key_id()}
    claims = {"iss": "omnibus-gitlab-issuer", "sub": "root", "aud": "container_registry",
              "iat": now - 60, "nbf": now - 60, "exp": now + 600, "jti": str(now),
              "access": [{"type": "repository", "name": repository,
                          "actions": ["pull", "push", "delete", "*"]}]}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY],
                               input=signing_input.encode(), capture_output=True,
                               check=True).stdout
    return f"{signing_input}.{b64url(signature)}"


def call(method: str, url: str, repository: str, body: bytes = b"",
         content_type: str = "application/octet-stream") -> tuple[int, dict]:
    request = urllib.request.Request(url if url.startswith("http") else REGISTRY + url,
                                     data=body if method in ("PUT", "POST") else None,
                                     method=method)
    request.add_header("Authorization", f"Bearer {token(repository)}")
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request) as response:
        return response.status, dict(response.headers)


def upload(repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _status, headers = call("POST", f"/v2/{repository}/blobs/uploads/", repository)
    location = headers["Location"]
    separator = "&" if "?" in location else "?"
    call("PUT", f"{location}{separator}digest={digest}", repository, data)
    return digest


def push(repository: str, tag: str, config: str, layers: list[str]) -> dict:
    config_bytes = config.encode()
    descriptor = {"mediaType": "application/vnd.docker.container.image.v1+json",
                  "size": len(config_bytes), "digest": upload(repository, config_bytes)}
    layer_descriptors = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                          "size": len(layer.encode()), "digest": upload(repository,
                                                                        layer.encode())}
                         for layer in layers]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": descriptor,
                           "layers": layer_descriptors}).encode()
    call("PUT", f"/v2/{repository}/manifests/{tag}", repository, manifest, MANIFEST)
    return {"manifest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
            "config": descriptor["digest"],
            "layers": [layer["digest"] for layer in layer_descriptors]}


if __name__ == "__main__":
    if sys.argv[1] == "push":
        print(json.dumps(push(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])))
    else:
        status, _headers = call("DELETE", f"/v2/{sys.argv[2]}/manifests/{sys.argv[3]}",
                                sys.argv[2])
        print(status)
