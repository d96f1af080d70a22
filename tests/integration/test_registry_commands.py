"""`gitlab-ctl registry-garbage-collect` and `registry-database` on a Debian 12 container
with real PostgreSQL, Redis, nginx and runit (runtime_host's image) and a real distribution
registry holding real blobs.

Said plainly: GitLab's container registry cannot be built here (its Go modules are
unreachable), so Debian's `docker-registry` package stands in: the same distribution
registry program (2.8) GitLab's is a fork of, with the same `garbage-collect` command and
flags, linked as /opt/gitlab/embedded/bin/registry. Reconfigure writes its config.yml and
runit service; images are pushed and deleted through its HTTP API v2 with tokens signed
by the key reconfigure made (registry_push.py), and the collection is checked on the blob
files of its storage directory. Debian's registry has no `database` command (the metadata
database is GitLab's addition), so for registry-database a wrapper records the arguments
and account of `registry database ...` calls and passes everything else to the real one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from builder.compile.builder_images import image_exists
from tests.integration.runtime_host import (
    INSTALL_DIR,
    docker,
    gitlab_ctl,
    install_tree,
    pids,
    runtime_image,  # noqa: F401 (a fixture)
    sh,
    start_host,
)

pytestmark = pytest.mark.integration

REGISTRY = f"{INSTALL_DIR}/embedded/bin/registry"
CONFIG = "/var/opt/gitlab/registry/config.yml"
BLOBS = "/var/opt/gitlab/gitlab-rails/shared/registry/docker/registry/v2/blobs/sha256"
GITLAB_RB = ("external_url 'http://gitlab.example.test'\n"
             "registry_external_url 'http://registry.example.test:5050'\n"
             "registry['database'] = { 'enabled' => 'false' }\n"
             "registry['storage_delete_enabled'] = true\n")
#: For registry-database: `registry database ...` is recorded, the rest is the real registry.
WRAPPER = r"""#!/bin/sh
if [ "$1" = database ]; then
  echo "$* as=$(id -un)" >> /var/tmp/registry-database-calls
  exit $(cat /var/tmp/registry-database-exit 2>/dev/null || echo 0)
fi
exec /usr/bin/docker-registry "$@"
"""


@pytest.fixture(scope="module")
def registry_image(runtime_image):  # noqa: F811 (the fixture imported above)
    recipe = (f"FROM {runtime_image}\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
              "apt-get install -y -qq --no-install-recommends docker-registry && "
              "rm -rf /var/lib/apt/lists/*\n")
    tag = ("gitlab-ctl-test/debian-12-registry:"
           + hashlib.sha256(recipe.encode()).hexdigest()[:16])
    if not image_exists(tag):
        subprocess.run(["docker", "build", "--network", "host", "-t", tag, "-"], input=recipe,
                       text=True, check=True, capture_output=True, timeout=1800)
    return tag


@pytest.fixture(scope="module")
def host(registry_image, tmp_path_factory):
    name = start_host(registry_image, install_tree(tmp_path_factory.mktemp("install")))
    try:
        docker("cp", str(Path(__file__).with_name("registry_push.py")),
               f"{name}:/usr/local/bin/registry_push.py")
        sh(name, f"ln -sf /usr/bin/docker-registry {REGISTRY} && printf %s \"$RB\" > "
           "/etc/gitlab/gitlab.rb", env={"RB": GITLAB_RB})
        result = gitlab_ctl(name, "reconfigure", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for_registry(name)
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def wait_for_registry(host: str) -> None:
    """Until the registry answers /v2/ (401: it wants a token)."""
    sh(host, "for i in $(seq 100); do code=$(curl -s -o /dev/null -w '%{http_code}' "
       "http://127.0.0.1:5000/v2/); [ \"$code\" = 401 ] && exit 0; sleep 0.2; done; "
       "echo \"registry answers $code\"; exit 1")


def push(host: str, repository: str, tag: str, config: str, *layers: str) -> dict:
    return json.loads(sh(host, f"python3 /usr/local/bin/registry_push.py push {repository} "
                               f"{tag} '{config}' " + " ".join(f"'{x}'" for x in layers)
                         ).stdout)


def delete(host: str, repository: str, digest: str) -> None:
    assert sh(host, f"python3 /usr/local/bin/registry_push.py delete {repository} {digest}"
              ).stdout.strip() == "202"


def blob_exists(host: str, digest: str) -> bool:
    hexdigest = digest.removeprefix("sha256:")
    return sh(host, f"test -f {BLOBS}/{hexdigest[:2]}/{hexdigest}/data", check=False
              ).returncode == 0


@pytest.fixture(scope="module")
def images(host):
    """'keep' stays tagged; 'gone' is deleted by digest; 'temp' is pushed, then retagged
    to another manifest, which leaves the first one untagged (but not deleted)."""
    keep = push(host, "group/app", "keep", '{"image": "keep"}', "shared layer")
    gone = push(host, "group/app", "gone", '{"image": "gone"}', "shared layer", "gone layer")
    untagged = push(host, "group/app", "temp", '{"image": "temp 1"}', "temp layer 1")
    retagged = push(host, "group/app", "temp", '{"image": "temp 2"}', "shared layer")
    delete(host, "group/app", gone["manifest"])
    return {"keep": keep, "gone": gone, "untagged": untagged, "retagged": retagged}


def all_blobs(image: dict) -> list[str]:
    return [image["manifest"], image["config"], *image["layers"]]


def test_garbage_collect_deletes_the_blobs_no_manifest_references(host, images):
    before = pids(host)["registry"]
    assert blob_exists(host, images["gone"]["layers"][1])
    result = gitlab_ctl(host, "registry-garbage-collect", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (f'Running garbage-collect using configuration ["{REGISTRY}", "garbage-collect", '
            f'"{CONFIG}"], this might take a while...') in result.stdout
    assert "ok: down: registry" in result.stdout and "ok: run: registry" in result.stdout
    # the deleted image's own blobs are gone: its manifest, config and the layer only it had
    gone = images["gone"]
    for digest in (gone["manifest"], gone["config"], gone["layers"][1]):
        assert not blob_exists(host, digest), digest
    # tagged images keep all theirs (the shared layer too); the untagged one is still
    # referenced by its repository's revisions, so plain garbage-collect keeps it
    for image in ("keep", "retagged", "untagged"):
        assert all(blob_exists(host, digest) for digest in all_blobs(images[image])), image
    after = pids(host)["registry"]
    assert after != before  # stopped for the collection, running again
    wait_for_registry(host)


def test_delete_untagged_removes_untagged_manifests_and_their_blobs(host, images):
    result = gitlab_ctl(host, "registry-garbage-collect", "-m", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'"{CONFIG}", "-m"]' in result.stdout
    assert not any(blob_exists(host, digest) for digest in all_blobs(images["untagged"]))
    for image in ("keep", "retagged"):
        assert all(blob_exists(host, digest) for digest in all_blobs(images[image])), image
    assert "registry" in pids(host)
    wait_for_registry(host)


def test_a_failing_collection_exits_1_and_the_registry_runs_again(host):
    """A config path that exists but is no registry config: the registry program fails."""
    sh(host, "printf 'version: 0.1\\nstorage:\\n  nosuchdriver: {}\\n' > /tmp/broken.yml")
    before = pids(host)["registry"]
    result = gitlab_ctl(host, "registry-garbage-collect", "/tmp/broken.yml", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed to run garbage-collect command, starting registry service." in result.stdout
    assert "registry garbage-collect: exited" in result.stderr
    after = pids(host).get("registry")
    assert after and after != before
    wait_for_registry(host)


def test_a_missing_config_or_a_metadata_database_is_refused_before_stopping(host):
    before = pids(host)["registry"]
    missing = gitlab_ctl(host, "registry-garbage-collect", "/nonexistent/config.yml",
                         check=False)
    assert missing.returncode == 1
    assert ("Didn't find /nonexistent/config.yml, please supply the path to registry "
            "config.yml file, eg: gitlab-ctl registry-garbage-collect /path/to/config.yml"
            ) in missing.stderr
    sh(host, f"sed 's/\"enabled\":\"false\"/\"enabled\":\"prefer\"/' {CONFIG} > /tmp/db.yml "
       "&& grep -q '\"enabled\":\"prefer\"' /tmp/db.yml")
    database = gitlab_ctl(host, "registry-garbage-collect", "/tmp/db.yml", check=False)
    assert database.returncode == 1
    assert ("the garbage-collect command is not compatible with database metadata, please "
            "use online garbage collection instead") in database.stderr
    assert pids(host)["registry"] == before  # never stopped


def database_calls(host: str) -> list[str]:
    return sh(host, "cat /var/tmp/registry-database-calls 2>/dev/null; "
                    ": > /var/tmp/registry-database-calls").stdout.splitlines()


@pytest.fixture(scope="module")
def wrapped(host):
    sh(host, f"rm -f {REGISTRY} && printf %s \"$W\" > {REGISTRY} && chmod 0755 {REGISTRY} && "
       "touch /var/tmp/registry-database-calls && chmod 0666 /var/tmp/registry-database-calls",
       env={"W": WRAPPER})
    return host


def test_registry_database_passes_the_command_as_the_registry_account(wrapped):
    result = gitlab_ctl(wrapped, "registry-database", "migrate", "up", "-s", "--limit", "2",
                        check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Running migrate up\n")
    assert (f"Executing command:\n{INSTALL_DIR}/embedded/bin/chpst -u registry:registry "
            f"{REGISTRY} database migrate up -n 2 -s {CONFIG}\n") in result.stdout
    assert database_calls(wrapped) == [f"database migrate up -n 2 -s {CONFIG} as=registry"]
    failing = sh(wrapped, "echo 3 > /var/tmp/registry-database-exit; "
                 f"{INSTALL_DIR}/bin/gitlab-ctl registry-database gc-stats --format json; "
                 "echo rc=$?; rm /var/tmp/registry-database-exit")
    assert "rc=1" in failing.stdout and "registry database gc-stats: exited 3" in failing.stderr
    assert database_calls(wrapped) == [f"database gc-stats --format json {CONFIG} as=registry"]


def test_migrate_down_asks_before_stopping_the_registry(wrapped):
    before = pids(wrapped)["registry"]
    declined = sh(wrapped, f"echo n | {INSTALL_DIR}/bin/gitlab-ctl registry-database migrate "
                  "down; echo rc=$?")
    assert "Stop the registry before proceeding? (y/n)\nExiting..." in declined.stdout
    assert "rc=1" in declined.stdout and database_calls(wrapped) == []
    assert pids(wrapped)["registry"] == before
    accepted = sh(wrapped, f"echo y | {INSTALL_DIR}/bin/gitlab-ctl registry-database migrate "
                  "down -f; echo rc=$?")
    assert "Stopping service registry" in accepted.stdout
    assert "Starting service registry" in accepted.stdout and "rc=0" in accepted.stdout
    assert database_calls(wrapped) == [f"database migrate down -f {CONFIG} as=registry"]
    assert pids(wrapped)["registry"] != before


def test_import_of_all_repositories_needs_read_only_mode(wrapped):
    result = gitlab_ctl(wrapped, "registry-database", "import", "--all-repositories",
                        check=False)
    assert result.returncode == 1
    assert ("Command requires the container registry to be in read-only mode. Exiting..."
            in result.stdout)
    assert database_calls(wrapped) == []


@pytest.mark.parametrize(("words", "message"), [
    ("", "parse error: registry-database command is not specified."),
    ("migrate sideways", "parse error: Unknown migrate subcommand: sideways"),
    ("gc-stats -f xml", "invalid argument: Invalid format 'xml'. Must be 'text' or 'json'"),
    ("import --unknown", "invalid option: --unknown"),
])
def test_registry_database_usage_errors_exit_128(wrapped, words, message):
    result = gitlab_ctl(wrapped, "registry-database", words, check=False)
    assert result.returncode == 128
    assert result.stderr.startswith(message + "\n\n")
    assert database_calls(wrapped) == []


def test_a_disabled_registry_gives_omnibus_gitlabs_message(wrapped):
    sh(wrapped, "printf %s \"$RB\" > /etc/gitlab/gitlab.rb",
       env={"RB": "external_url 'http://gitlab.example.test'\n"})
    result = gitlab_ctl(wrapped, "reconfigure", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ("registry-garbage-collect", "registry-database migrate status"):
        disabled = gitlab_ctl(wrapped, command, check=False)
        assert disabled.returncode == 1, command
        assert "Container registry is not enabled, exiting..." in disabled.stderr
    assert database_calls(wrapped) == []
