"""Revocation: a token of an ended session is refused by the gateway at once and by every
service process within moments (the service itself, called over RPC, not only the gateway);
refresh-token reuse, disabling a user and changing their role or password end every session;
a process started later still knows; a revocation forged by another broker user is ignored."""
import shutil
import uuid
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

import jwt
import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ServiceRpcProxy

from plumbing import config as cfg
from plumbing.auth import Caller
from plumbing.entrypoints import rpc
from plumbing.errors import Unauthenticated
from plumbing.events import event_exchange
from plumbing.publishers import EventPublisher
from plumbing.revocation import SessionRevoked, revocation
from tests.integration.conftest import PASSWORD, ok, wait_for


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def sign_in(system, username, password=PASSWORD):
    return ok(system.post("/api/v1/auth/token", json={"username": username, "password": password}))


def username_of(system, token):
    return ok(system.get("/api/v1/me", token))["username"]


_admin = {}


@pytest.fixture(autouse=True)
def _remember_admin_uri(amqp_uri):
    _admin["uri"] = amqp_uri


def admin_amqp(make_config):
    """This run's vhost as the broker admin: standalone clients and probe services declare queues
    of their own, which no component's broker user may."""
    return _admin["uri"]


@contextmanager
def service(make_config, name="redemption"):
    """``call(token)``: the service itself, over RPC with that token, as the gateway calls it;
    answers "ok" or the code it refused the token with."""
    context = {}  # nameko reads it at each call
    # a standalone client declares a reply queue of its own: as the broker admin
    with ServiceRpcProxy(name, make_config(name, AMQP_URI=admin_amqp(make_config)), context_data=context,
                         timeout=10) as proxy:
        def call(token):
            context["auth_token"] = token
            try:
                proxy.list_redemptions({})
                return "ok"
            except Unauthenticated as refused:
                return refused.code
        yield call


def refused_by_service(call, token):
    return wait_for(lambda: call(token) == "token_revoked") and True


def gateway_refuses(system, token):
    return error_of(system.get("/api/v1/me", token), 401)["code"] == "token_revoked" and \
        error_of(system.get("/api/v1/redemptions", token), 401)["code"] == "token_revoked"


# -- sign out --------------------------------------------------------------------------------
def test_after_logout_the_access_token_is_refused_by_the_gateway_and_by_the_service(system, onboard, make_config):
    shop = onboard()
    username = username_of(system, shop["tokens"]["finance"])
    session, other = sign_in(system, username), sign_in(system, username)
    with service(make_config) as call:
        assert call(session["access_token"]) == "ok"
        assert system.post("/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]}).status_code == 204
        assert gateway_refuses(system, session["access_token"])  # at once: the gateway owns sessions
        assert refused_by_service(call, session["access_token"])  # the service itself, within moments
        # only that session ended: the user's other sign-in goes on
        assert call(other["access_token"]) == "ok"
        assert ok(system.get("/api/v1/me", other["access_token"]))["username"] == username
    ended = system.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert error_of(ended, 401)["code"] == "session_ended"


def test_refresh_keeps_the_session_and_reuse_ends_every_session(system, onboard, make_config):
    shop = onboard()
    username = username_of(system, shop["tokens"]["support_agent"])
    first, second = sign_in(system, username), sign_in(system, username)
    renewed = ok(system.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}))
    with service(make_config) as call:
        for token in (first["access_token"], renewed["access_token"], second["access_token"]):
            assert call(token) == "ok"
        reused = system.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert error_of(reused, 401)["code"] == "refresh_token_reused"
        for token in (first["access_token"], renewed["access_token"], second["access_token"]):
            assert gateway_refuses(system, token)
            assert refused_by_service(call, token)
    assert error_of(system.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}), 401)
    # signing in again with the password starts a new, working session
    assert ok(system.get("/api/v1/me", sign_in(system, username)["access_token"]))["username"] == username


# -- changes to the user end their sessions ------------------------------------------------------
def test_disabling_a_user_ends_their_sessions_until_enabled(system, onboard, make_config):
    shop = onboard()
    till = shop["tokens"]["store_user"]
    me = ok(system.get("/api/v1/me", till))
    with service(make_config) as call:
        assert call(till) == "ok"
        disabled = ok(system.request("PATCH", "/api/v1/users/" + me["id"], shop["tokens"]["owner"],
                                     json={"active": False}))
        assert disabled["active"] is False
        assert gateway_refuses(system, till)
        assert refused_by_service(call, till)
    refused = system.post("/api/v1/auth/token", json={"username": me["username"], "password": PASSWORD})
    assert error_of(refused, 401)["code"] == "invalid_credentials"
    ok(system.request("PATCH", "/api/v1/users/" + me["id"], shop["tokens"]["owner"], json={"active": True}))
    assert ok(system.get("/api/v1/me", system.login(me["username"])))["active"] is True


def test_a_new_role_or_store_ends_the_sessions_that_carry_the_old_one(system, onboard, make_config):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    agent = shop["tokens"]["support_agent"]
    me = ok(system.get("/api/v1/me", agent))
    with service(make_config) as call:
        assert call(agent) == "ok"
        changed = ok(system.request("PATCH", "/api/v1/users/" + me["id"], owner, json={"role": "finance"}))
        assert changed["role"] == "finance"
        assert gateway_refuses(system, agent)
        assert refused_by_service(call, agent)
        as_finance = system.login(me["username"])
        assert ok(system.get("/api/v1/me", as_finance))["role"] == "finance"
        # a store user moved to another store: a token naming the old store is no good either
        till = shop["tokens"]["store_user"]
        till_id = ok(system.get("/api/v1/me", till))["id"]
        moved = ok(system.request("PATCH", "/api/v1/users/" + till_id, owner,
                                  json={"store_id": shop["stores"]["Canal Walk Kiosk"]}))
        assert moved["store_id"] == shop["stores"]["Canal Walk Kiosk"]
        assert gateway_refuses(system, till)
        assert refused_by_service(call, till)
    # a change that does not touch what a token carries ends nothing
    ok(system.request("PATCH", "/api/v1/users/" + me["id"], owner, json={"display_name": "Lindiwe"}))
    assert ok(system.get("/api/v1/me", as_finance))["display_name"] == "Lindiwe"


def test_a_new_password_ends_every_session(system, onboard, make_config):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    finance = shop["tokens"]["finance"]
    me = ok(system.get("/api/v1/me", finance))
    new_password = "a brand new passphrase " + uuid.uuid4().hex[:6]
    with service(make_config) as call:
        # the owner sets it (the user forgot theirs)
        assert system.put("/api/v1/users/%s/password" % me["id"], owner,
                          json={"new_password": new_password}).status_code == 204
        assert gateway_refuses(system, finance)
        assert refused_by_service(call, finance)
        assert error_of(system.post("/api/v1/auth/token", json={"username": me["username"], "password": PASSWORD}),
                        401)["code"] == "invalid_credentials"
        # the user changes their own, with the current one
        mine = system.login(me["username"], new_password)
        wrong = system.post("/api/v1/me/password", mine, json={"current_password": "not it at all",
                                                               "new_password": PASSWORD})
        assert error_of(wrong, 422)["fields"] == {"current_password": ["Wrong password."]}
        assert ok(system.get("/api/v1/me", mine))  # a wrong guess ends nothing
        assert system.post("/api/v1/me/password", mine, json={"current_password": new_password,
                                                              "new_password": PASSWORD}).status_code == 204
        assert gateway_refuses(system, mine)
        assert refused_by_service(call, mine)
    assert ok(system.get("/api/v1/me", system.login(me["username"], PASSWORD)))["id"] == me["id"]
    # owners and admins set other users' passwords; their own needs the current one
    own = system.put("/api/v1/users/%s/password" % ok(system.get("/api/v1/me", owner))["id"], owner,
                     json={"new_password": new_password})
    assert error_of(own, 403)["code"] == "own_password"


# -- a process that starts later ------------------------------------------------------------------
class RevocationProbe:
    """The smallest service that judges tokens as every service does (``plumbing.auth.Caller``)."""
    name = "revocation_probe"
    caller = Caller()

    @rpc
    def whoami(self):
        return self.caller.identity.user_id


@contextmanager
def probe(make_config, **config):
    """A probe process of its own name, started now; ``call(token)`` answers the user id or the refusal."""
    name = "revocation_probe_" + uuid.uuid4().hex[:8]
    cls = type("Probe", (RevocationProbe,), {"name": name})
    # a service of its own name declares its own RPC queue: as the broker admin
    container = ServiceContainer(cls, make_config("redemption", **dict(config, AMQP_URI=admin_amqp(make_config))))
    container.start()
    try:
        context = {}
        with ServiceRpcProxy(name, make_config("redemption", AMQP_URI=admin_amqp(make_config)),
                             context_data=context, timeout=20) as proxy:
            def call(token):
                context["auth_token"] = token
                try:
                    return proxy.whoami()
                except Unauthenticated as refused:
                    return refused.code
            yield call
    finally:
        container.stop()


def test_a_process_started_after_a_revocation_still_refuses_the_token(system, onboard, make_config):
    shop = onboard()
    me = ok(system.get("/api/v1/me", shop["tokens"]["owner"]))
    session = sign_in(system, me["username"])
    assert system.post("/api/v1/auth/logout", json={"refresh_token": session["refresh_token"]}).status_code == 204
    other = sign_in(system, username_of(system, shop["tokens"]["finance"]))
    renewed = ok(system.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}))
    assert error_of(system.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)
    with probe(make_config, REVOCATIONS_CATCH_UP=True) as call:  # it asks the gateway as it starts
        assert call(session["access_token"]) == "token_revoked"  # one session ended
        for token in (other["access_token"], renewed["access_token"]):  # every session of a user ended
            assert call(token) == "token_revoked"
        assert call(shop["tokens"]["owner"]) == me["id"]


# -- forged revocations ------------------------------------------------------------------------
@pytest.fixture
def broker_user(amqp_uri):
    """Another broker user, with every permission on this run's vhost: anyone but the gateway."""
    name, password = "forger-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    vhost = urlsplit(amqp_uri).path.lstrip("/")
    if shutil.which("rabbitmqctl"):
        from devtools.servers import rabbitmqctl
        assert rabbitmqctl("add_user", name, password).returncode == 0
        assert rabbitmqctl("set_permissions", "-p", vhost, name, ".*", ".*", ".*").returncode == 0
        yield name, cfg.with_user(amqp_uri, name, password)
        rabbitmqctl("delete_user", name)
        return
    parts = urlsplit(amqp_uri)  # else the management API, as devtools.servers.create_vhost does
    api = cfg.env("RABBITMQ_API_URL", "http://%s:15672" % (parts.hostname or "127.0.0.1"))
    auth = (parts.username or "guest", parts.password or "guest")
    assert requests.put(api + "/api/users/" + name, json={"password": password, "tags": ""}, auth=auth,
                        timeout=10).status_code in (201, 204)
    requests.put(api + "/api/permissions/%s/%s" % (quote(vhost, safe=""), name),
                 json={"configure": ".*", "write": ".*", "read": ".*"}, auth=auth, timeout=10)
    yield name, cfg.with_user(amqp_uri, name, password)
    requests.delete(api + "/api/users/" + name, auth=auth, timeout=10)


def publish_revocation(amqp_uri, payload):
    """Publish a ``session_revoked`` over a connection of whichever user ``amqp_uri`` names (the
    broker stamps and checks ``user_id``); confirmed, so it is queued before the next."""
    EventPublisher(amqp_uri, serializer="json").publish(
        SessionRevoked.to_wire(payload), exchange=event_exchange("gateway", {}, declare=False),
        routing_key=SessionRevoked.event_type)


def test_a_revocation_from_another_broker_user_is_ignored(system, onboard, make_config, amqp_uri, broker_user):
    shop = onboard()
    victim = sign_in(system, username_of(system, shop["tokens"]["owner"]))
    target = sign_in(system, username_of(system, shop["tokens"]["finance"]))
    forger, forger_uri = broker_user
    claims = {name: jwt.decode(session["access_token"], options={"verify_signature": False})
              for name, session in (("victim", victim), ("target", target))}
    with probe(make_config) as call:  # it trusts the gateway's own broker user only
        assert call(victim["access_token"]) == victim["user"]["id"]
        forged = revocation(victim["user"]["id"], [claims["victim"].get("ses", "-")], 3600, "forged")
        publish_revocation(forger_uri, forged)
        publish_revocation(amqp_uri, forged)  # the broker's admin is not the gateway either
        genuine = revocation(target["user"]["id"], [claims["target"].get("ses", "-")], 3600, "logout")
        publish_revocation(make_config("gateway")["AMQP_URI"], genuine)
        # the genuine one, published last on the same queue, arrives: the earlier ones were seen and ignored
        wait_for(lambda: call(target["access_token"]) == "token_revoked")
        assert call(victim["access_token"]) == victim["user"]["id"]
