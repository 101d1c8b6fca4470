"""What `make run` and `make test` say when a server is missing and cannot be installed."""
import pytest

from devtools import servers


@pytest.fixture
def nothing_installed(monkeypatch):
    monkeypatch.setattr(servers, "postgres_reachable", lambda url: False)
    monkeypatch.setattr(servers, "amqp_reachable", lambda uri: False)
    monkeypatch.setattr(servers, "find_pg_bindir", lambda: None)
    monkeypatch.setattr(servers, "find_rabbitmq_server", lambda: None)
    monkeypatch.setattr(servers, "can_install_packages", lambda: False)


def test_missing_postgres_is_one_clear_line(nothing_installed):
    with pytest.raises(servers.SetupError) as raised:
        servers.ensure_postgres("postgresql://postgres@127.0.0.1:5999/vowrewards")
    message = str(raised.value)
    assert message.count("\n") == 0 and "apt-get install postgresql" in message and "DATABASE_URL" in message


def test_missing_rabbitmq_is_one_clear_line(nothing_installed):
    with pytest.raises(servers.SetupError) as raised:
        servers.ensure_rabbitmq("amqp://guest:guest@127.0.0.1:5999/")
    message = str(raised.value)
    assert message.count("\n") == 0 and "apt-get install rabbitmq-server" in message and "AMQP_URI" in message


def test_a_remote_server_is_never_started_locally(nothing_installed):
    with pytest.raises(servers.SetupError) as raised:
        servers.ensure_postgres("postgresql://app@db.example.internal:5432/vowrewards")
    assert "not local" in str(raised.value)


def test_a_missing_server_is_installed_when_we_can(nothing_installed, monkeypatch):
    installed = []
    monkeypatch.setattr(servers, "can_install_packages", lambda: True)
    monkeypatch.setattr(servers, "install_packages", lambda *names: installed.extend(names))
    with pytest.raises(servers.SetupError):  # still absent after the (pretend) install
        servers.ensure_rabbitmq("amqp://guest:guest@127.0.0.1:5999/")
    assert installed == ["rabbitmq-server"]
