"""What `make run` does about broker users: one per component with a password kept under
.local/keys, or, where none can be created, one clear line and one shared user."""
import stat

import pytest

from devtools import run, servers
from plumbing import config as cfg
from plumbing import topology

ADMIN = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def local_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "LOCAL_DIR", tmp_path)
    monkeypatch.setattr(topology, "declare_topology", lambda uri: [])  # no broker here
    return tmp_path


def test_each_component_gets_a_user_and_a_private_password_file(local_dir, monkeypatch):
    created = {}
    monkeypatch.setattr(servers, "provision_broker_users", lambda uri, users: created.update(users))
    env = {"AMQP_URI": ADMIN}
    run.bootstrap_broker(env)

    assert {user for user, _ in created.values()} == {"vow_" + c for c in cfg.ALL_COMPONENTS}
    user, password = created["settlement"]
    path = cfg.broker_password_file(user)
    assert path.read_text() == password and len(password) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cfg.service_amqp_uri("settlement", env) == "amqp://vow_settlement:%s@127.0.0.1:5672/" % password
    run.bootstrap_broker(env)  # a second make run keeps the passwords
    assert created["settlement"] == (user, password)
    assert env.get("BROKER_USER_PER_SERVICE", "1") == "1"


def test_without_a_way_to_create_users_one_line_and_one_shared_user(local_dir, monkeypatch, capsys):
    def refuse(uri, users):
        raise servers.SetupError("could not create the broker users (needs rabbitmqctl ...)")
    monkeypatch.setattr(servers, "provision_broker_users", refuse)
    env = {"AMQP_URI": ADMIN}
    run.bootstrap_broker(env)

    said = capsys.readouterr().out.strip().splitlines()
    assert len(said) == 1 and "BROKER_USER_PER_SERVICE=0" in said[0] and "NOT checked" in said[0]
    assert env["BROKER_USER_PER_SERVICE"] == "0"
    assert cfg.service_amqp_uri("redemption", env) == ADMIN and cfg.broker_users(env) == {}
