"""A Redis replica, from omnibus-gitlab's spec/chef/cookbooks/redis/recipes/redis_spec.rb
('by default', 'with a replica configured', 'in HA mode with Sentinels') and the rules of
files/gitlab-cookbooks/gitlab/libraries/redis.rb (announce_port, master_password, the
master_ip check). Our words, their facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ctl.config.reader import ConfigError
from gitlab_ctl.engine.resources import File
from gitlab_ctl.services import redis
from tests.unit.gitlab_ctl.test_config_templates import make_context

CONF = Path("/var/opt/gitlab/redis/redis.conf")
REPLICA = {"bind": "1.2.3.4", "port": 6370, "master_ip": "10.0.0.0", "master_port": 6371,
           "master_password": "password", "master": False}


def conf(**settings) -> str:
    context = make_context({"redis": settings})
    return next(r.content for r in redis.configure(context) if getattr(r, "path", None) == CONF)


def down_file(**settings) -> bool:
    context = make_context({"redis": settings})
    return any(isinstance(r, File) and r.path.name == "down" for r in redis.supervise(context))


def test_by_default_there_is_no_replicaof():
    assert "replicaof" not in conf()
    assert not down_file()


def test_a_replica_follows_its_master():  # 'with a replica configured': 'includes replicaof'
    text = conf(**REPLICA)
    assert "\nreplicaof 10.0.0.0 6371\n" in text
    assert '\nmasterauth "password"\n' in text


def test_in_ha_mode_replicaof_is_omitted_and_the_service_starts_down():
    text = conf(**REPLICA, ha=True)  # 'in HA mode with Sentinels': 'omits replicaof'
    assert "replicaof" not in text
    assert down_file(**REPLICA, ha=True)  # 'started down runit service'


def test_a_replica_without_master_password_uses_its_own_password():
    text = conf(**{**REPLICA, "master_password": None}, password="own-secret")
    assert '\nmasterauth "own-secret"\n' in text


def test_announce_port_defaults_to_the_port_when_announce_ip_is_set():
    text = conf(port=6380, announce_ip="10.1.1.1")
    assert "\nreplica-announce-ip 10.1.1.1\nreplica-announce-port 6380\n" in text


def test_a_replica_without_master_ip_is_refused_as_omnibus_gitlab_refuses_it():
    with pytest.raises(ConfigError) as error:
        conf(**{**REPLICA, "master_ip": None})
    assert error.value.message == "redis 'master_ip' is not defined"
