"""Peer tests: expectations from omnibus-gitlab's specs for PostgreSQL's roles and account,
the kernel parameters (sysctl) and runit's `ha` down file, checked against what our
reconfigure does for the same gitlab.rb. Case ids name the spec (under spec/chef/):
pg = cookbooks/postgresql/recipes/postgresql_spec.rb, pg-user = .../postgresql/recipes/
user_spec.rb, pg-sysctl = .../postgresql/recipes/sysctl_spec.rb, pg-objects =
cookbooks/postgresql/resources/database_objects_spec.rb, pg-user-resource =
cookbooks/postgresql/resources/user_spec.rb, pg-helper = cookbooks/gitlab/libraries/helpers/
base_pg_helper_spec.rb, puma = cookbooks/gitlab/recipes/puma_spec.rb, sysctl =
cookbooks/package/resources/gitlab_sysctl_spec.rb. The words are ours, the facts theirs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from gitlab_ctl.engine import sysctl
from gitlab_ctl.engine.resources import Absent, File, Link, Run
from gitlab_ctl.engine.sysctl import Sysctl
from gitlab_ctl.services import SERVICES, postgresql_roles
from tests.unit.gitlab_ctl.test_config_templates import make_context

SV = Path("/opt/gitlab/sv")
PG_HOME = Path("/var/opt/gitlab/postgresql")
#: md5('test123' + 'gitlab'), as base_pg_helper_spec.rb stubs it
GITLAB_TEST123 = "md5b56573ef0d94cff111898c63ec259f3f"


def resources(service: str, settings: dict | None = None) -> list:
    context = make_context(settings)
    return [*SERVICES[service].configure(context), *SERVICES[service].runit_resources(context)]


def kernel(service: str, settings: dict | None = None) -> dict[str, object]:
    return {r.name: r.value for r in resources(service, settings) if isinstance(r, Sysctl)}


def files(service: str, settings: dict | None = None) -> dict[Path, File]:
    return {r.path: r for r in resources(service, settings) if isinstance(r, File)}


def absent(service: str, settings: dict | None = None) -> set[Path]:
    return {r.path for r in resources(service, settings) if isinstance(r, Absent)}


def steps(settings: dict | None = None, stored: str = "") -> dict[str, str]:
    """id -> SQL of every role step whose check reports work."""
    statements: dict[str, str] = {}
    context = make_context(settings)
    original = postgresql_roles._run_sql
    try:
        for step in postgresql_roles.role_passwords(context, lambda sql: stored, ["psql"]):
            if step.check(Run()):
                postgresql_roles._run_sql = (  # type: ignore[assignment]
                    lambda resource, argv, sql, _id=step.id: statements.__setitem__(_id, sql))
                step.apply(Run())
    finally:
        postgresql_roles._run_sql = original  # type: ignore[assignment]
    return statements


PG_PASSWORDS = {"postgresql": {"sql_user_password": "fakepassword",
                               "sql_replication_password": "fakepassword"}}


# ---- kernel parameters: (spec, service, gitlab.rb, parameter, expected value) ----
KERNEL_CASES = [
    ("pg-sysctl-shmmax", "postgresql", {}, "kernel.shmmax", 17179869184),
    ("pg-sysctl-shmall", "postgresql", {}, "kernel.shmall", 4194304),
    ("pg-sysctl-shmmax-set", "postgresql", {"postgresql": {"shmmax": 8589934592}},
     "kernel.shmmax", 8589934592),
    ("pg-sysctl-shmall-set", "postgresql", {"postgresql": {"shmall": 2097152}},
     "kernel.shmall", 2097152),
    ("pg-sysctl-sem", "postgresql", {}, "kernel.sem", "250 32000 32 275"),
    ("pg-sysctl-sem-connections", "postgresql", {"postgresql": {"max_connections": 800}},
     "kernel.sem", "250 32000 32 300"),
    ("puma-somaxconn", "puma", {}, "net.core.somaxconn", 2048),
    ("puma-somaxconn-set", "puma", {"puma": {"somaxconn": 4096}}, "net.core.somaxconn", 4096),
]


@pytest.mark.parametrize("spec,service,settings,name,expected", KERNEL_CASES,
                         ids=[case[0] for case in KERNEL_CASES])
def test_kernel_parameters_as_omnibus(spec, service, settings, name, expected, monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert kernel(service, settings)[name] == expected


@pytest.mark.parametrize("service", ["postgresql", "puma"])
def test_sysctl_modify_kernel_parameters_false_sets_nothing(service):
    # sysctl: "does not create conf file" / "do not link conf file" with the setting false
    assert kernel(service, {"package": {"modify_kernel_parameters": False}}) == {}


def test_pg_sysctl_shm_on_32_bit(monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "armv7l")
    assert kernel("postgresql")["kernel.shmmax"] == 4294967295
    assert kernel("postgresql")["kernel.shmall"] == 1048575


# ---- the gitlab_sysctl resource (sysctl spec), on a scratch tree ----
@pytest.fixture
def foo(tmp_path, monkeypatch) -> tuple[Sysctl, list]:
    loaded: list = []
    monkeypatch.setattr(sysctl, "run_command", lambda resource, argv: loaded.append(argv))
    resource = Sysctl("foo", 15000, tmp_path / "embedded" / "etc", tmp_path / "sysctl.d",
                      tmp_path)
    return resource, loaded


def test_sysctl_conf_content(foo):
    resource, _ = foo
    resource.apply()
    assert (resource.etc_dir / "90-omnibus-gitlab-foo.conf").read_text() == "foo = 15000\n"


def test_sysctl_creates_sysctl_d_0755(foo):
    resource, _ = foo
    resource.apply()
    assert resource.sysctl_d.stat().st_mode & 0o777 == 0o755


def test_sysctl_links_conf_into_sysctl_d(foo):
    resource, _ = foo
    resource.apply()
    link = resource.sysctl_d / "90-omnibus-gitlab-foo.conf"
    assert link.is_symlink() and link.resolve() == resource.etc_dir / link.name


def test_sysctl_loads_with_sysctl_e_p(foo):
    resource, loaded = foo
    assert resource.check()[-1] == f"load it: sysctl -e -p {resource.etc_dir}/" \
                                   "90-omnibus-gitlab-foo.conf"
    resource.apply()
    assert loaded == [["sysctl", "-e", "-p", str(resource.etc_dir / "90-omnibus-gitlab-foo.conf")]]


def test_sysctl_loads_only_on_change(foo):
    # sysctl: the load is an action :nothing execute, run when the file or link changes
    resource, loaded = foo
    resource.apply()
    assert resource.check() is None and len(loaded) == 1


def test_sysctl_read_only_proc_sys_writes_but_does_not_load(foo, monkeypatch):
    resource, loaded = foo
    monkeypatch.setattr(Sysctl, "writable", lambda self: False)
    assert "read-only" in resource.check()[-1]
    resource.apply()
    assert loaded == [] and (resource.sysctl_d / "90-omnibus-gitlab-foo.conf").is_symlink()


def test_sysctl_value_change_rewrites_and_reloads(foo):
    resource, loaded = foo
    resource.apply()
    changed = Sysctl("foo", 16000, resource.etc_dir, resource.sysctl_d, resource.proc_sys)
    assert changed.check() is not None
    changed.apply()
    assert len(loaded) == 2


def test_sysctl_reconfigure_paths():
    """omnibus-gitlab keeps the file in embedded/etc; here etc/sysctl, which reconfigure owns
    (the package removes embedded/ whole, and a purge removes etc/ and the links)."""
    shm = next(r for r in resources("postgresql") if isinstance(r, Sysctl)
               and r.name == "kernel.shmmax")
    assert shm.conf.path == Path("/opt/gitlab/etc/sysctl/90-omnibus-gitlab-kernel.shmmax.conf")
    assert shm.link == Link(Path("/etc/sysctl.d/90-omnibus-gitlab-kernel.shmmax.conf"),
                            shm.conf.path)


# ---- the gitlab-psql account (pg-user) ----
def test_pg_user_profile_path():
    profile = files("postgresql")[PG_HOME / ".profile"]
    assert profile.content == "PATH=/opt/gitlab/embedded/bin:/opt/gitlab/bin:$PATH\n"
    assert profile.owner == "gitlab-psql" and profile.mode == 0o600


def test_pg_user_profile_user_path_set():
    profile = files("postgresql", {"postgresql": {"user_path": "/usr/bin:/bin"}})
    assert profile[PG_HOME / ".profile"].content == "PATH=/usr/bin:/bin\n"


def test_pg_user_custom_home_directory_2775():
    homes = [r for r in resources("postgresql", {"postgresql": {"home": "/mypghomedir"}})
             if getattr(r, "path", None) == Path("/mypghomedir")]
    assert len(homes) == 1
    assert (homes[0].owner, homes[0].group, homes[0].mode) == ("gitlab-psql", "gitlab-psql",
                                                               0o2775)


def test_pg_user_custom_home_profile():
    assert Path("/mypghomedir/.profile") in files("postgresql",
                                                  {"postgresql": {"home": "/mypghomedir"}})


# ---- roles and passwords (pg, pg-objects, pg-user-resource) ----
def test_pg_sql_user_password_is_md5_prefixed():
    sql = steps(PG_PASSWORDS)["execute[set password for gitlab postgresql user]"]
    assert sql == "ALTER USER \"gitlab\" WITH PASSWORD 'md5fakepassword'"


def test_pg_replicator_created():
    assert steps(PG_PASSWORDS)["execute[create gitlab_replicator postgresql user]"] == \
        'CREATE USER "gitlab_replicator"'


def test_pg_replicator_has_replication():
    assert steps(PG_PASSWORDS)["execute[set options for gitlab_replicator postgresql user]"] \
        == 'ALTER USER "gitlab_replicator" REPLICATION'


def test_pg_replicator_password_is_md5_prefixed():
    sql = steps(PG_PASSWORDS)["execute[set password for gitlab_replicator postgresql user]"]
    assert sql == "ALTER USER \"gitlab_replicator\" WITH PASSWORD 'md5fakepassword'"


def test_pg_secondary_creates_no_users(tmp_path):
    # pg: "when on a secondary database node ... should not create users"
    data = tmp_path / "data"
    data.mkdir()
    (data / "standby.signal").write_text("")
    assert steps({**PG_PASSWORDS, "postgresql": {**PG_PASSWORDS["postgresql"],
                                                 "dir": str(tmp_path)}}) == {}


def test_pg_objects_default_leaves_superuser_password():
    assert not any("gitlab-psql" in key for key in steps())


def test_pg_objects_superuser_password_set_as_given():
    sql = steps({"postgresql": {"sql_superuser_password": "abc123hash"}})
    assert sql["execute[set password for gitlab-psql postgresql user]"] == \
        "ALTER USER \"gitlab-psql\" WITH PASSWORD 'abc123hash'"


def test_pg_user_resource_password_unspecified_not_set():
    assert not any(key.startswith("execute[set password") for key in steps())


def test_pg_user_resource_md5_password_in_statement():
    # pg-user-resource: md5_password's hash (of 'toomanysecrets' + 'md5_password') is sent
    sql = steps({"postgresql": {"sql_user": "md5_password",
                                "sql_user_password": "e99b79fbdf9b997e6918df2385e60f5c"}})
    assert "PASSWORD 'md5e99b79fbdf9b997e6918df2385e60f5c'" in \
        sql["execute[set password for md5_password postgresql user]"]


def test_pg_user_resource_password_not_reset_when_it_matches():
    assert "execute[set password for gitlab postgresql user]" not in steps(
        {"postgresql": {"sql_user_password": GITLAB_TEST123[3:]}}, stored=GITLAB_TEST123)


HELPER_CASES = [
    ("pg-helper-plain-same", "test123", True),
    ("pg-helper-md5-same", GITLAB_TEST123, True),
    ("pg-helper-plain-wrong", "wrong", False),
    ("pg-helper-md5-wrong", "md5b599de4332636c03a60fca13be1edb5f", False),
]


@pytest.mark.parametrize("spec,wanted,matches", HELPER_CASES, ids=[c[0] for c in HELPER_CASES])
def test_pg_helper_password_match(spec, wanted, matches):
    assert postgresql_roles.password_matches(GITLAB_TEST123, wanted, "gitlab") is matches


def test_scram_verifier_matches_its_plain_password():
    # PostgreSQL's own SCRAM-SHA-256 verifier of 'test123' (salt and iterations fixed)
    stored = ("SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$"
              "{stored}:{server}")
    salted = hashlib.pbkdf2_hmac("sha256", b"test123", b"saltsaltsaltsalt", 4096)
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = stored.format(
        stored=base64.b64encode(hashlib.sha256(client).digest()).decode(),
        server=base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode())
    assert postgresql_roles.password_matches(stored, "test123", "gitlab")
    assert not postgresql_roles.password_matches(stored, "wrong", "gitlab")


def test_passwords_never_show_in_checks_or_ids():
    context = make_context({"postgresql": {"sql_superuser_password": "s3cr3t-super",
                                           "sql_user_password": "0123456789abcdef"}})
    for step in postgresql_roles.role_passwords(context, lambda sql: "", ["psql"]):
        shown = " ".join([step.id, *(step.check(Run()) or [])])
        assert "s3cr3t" not in shown and "0123456789abcdef" not in shown


def test_password_quotes_are_escaped():
    sql = steps({"postgresql": {"sql_superuser_password": "it's"}})
    assert sql["execute[set password for gitlab-psql postgresql user]"].endswith("'it''s'")


# ---- ha: runit's down file (pg: runit_service start_down; puma; sidekiq_service) ----
@pytest.mark.parametrize("service", ["postgresql", "puma", "sidekiq"])
def test_ha_starts_down(service):
    assert SV / service / "down" in files(service, {service: {"ha": True}})


@pytest.mark.parametrize("service", ["postgresql", "puma", "sidekiq"])
def test_ha_default_keeps_no_down_file(service):
    assert SV / service / "down" in absent(service)


# ---- every key declared applied here changes what reconfigure does ----
def fingerprint(settings: dict) -> list:
    shown: list = []
    for service in ("postgresql", "puma", "sidekiq"):
        for resource in resources(service, settings):
            if isinstance(resource, File):
                shown.append((resource.id, resource.content))
            elif isinstance(resource, Sysctl):
                shown.append((resource.name, resource.value))
            else:
                shown.append(resource.id)
    return [*shown, *sorted(steps(settings).items())]


APPLIED = [
    ("postgresql", "ha", True), ("postgresql", "user_path", "/zz/bin"),
    ("postgresql", "sql_user_password", "0123456789abcdef0123456789abcdef"),
    ("postgresql", "sql_superuser_password", "zz-super"),
    ("postgresql", "sql_replication_password", "fedcba9876543210fedcba9876543210"),
    ("postgresql", "shmmax", 1234567), ("postgresql", "shmall", 7654321),
    ("postgresql", "semmsl", 251), ("postgresql", "semmns", 32001),
    ("postgresql", "semopm", 33), ("postgresql", "semmni", 999),
    ("puma", "somaxconn", 1111), ("puma", "ha", True), ("sidekiq", "ha", True),
    ("package", "modify_kernel_parameters", False),
]


@pytest.mark.parametrize("section,key,value", APPLIED, ids=[f"{s}.{k}" for s, k, _ in APPLIED])
def test_every_applied_key_reaches_output(section, key, value):
    assert fingerprint({section: {key: value}}) != fingerprint({})
