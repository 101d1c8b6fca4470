"""The notification channels' pure parts: webhook signatures a receiver can check, the SSRF guard in
production mode, reply tokens that cannot be forged, backoff with jitter, the routing table's shape, and the
support mail server's probes."""
import hashlib
import hmac
import uuid

import pytest

from services.notification import channels, routing, webhooks
from services.notification.service import backoff


def test_a_receiver_verifies_a_signature_in_five_lines():
    body, secret = b'{"id":"e1","type":"support.ticket_created"}', "whsec_test"
    header = webhooks.signature([secret], body, timestamp=1700000000)
    # what the README tells a receiver to do
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"])
    assert webhooks.verify(secret, header, body, now=1700000010)
    assert not webhooks.verify(secret, header, body + b" ", now=1700000010)  # tampered
    assert not webhooks.verify("whsec_other", header, body, now=1700000010)
    assert not webhooks.verify(secret, header, body, now=1700000000 + 3600)  # replayed much later


def test_during_a_rotation_either_secret_verifies():
    body = b"{}"
    header = webhooks.signature(["whsec_new", "whsec_old"], body)
    assert header.count("v1=") == 2
    assert webhooks.verify("whsec_new", header, body) and webhooks.verify("whsec_old", header, body)


@pytest.mark.parametrize("url", [
    "http://example.com/hook", "https://127.0.0.1/x", "https://localhost/x", "https://10.0.0.8/x",
    "https://192.168.1.1/x", "https://172.16.0.1/x", "https://169.254.169.254/latest", "https://[::1]/x",
    "https://[fe80::1]/x", "https://[::ffff:127.0.0.1]/x", "https://0.0.0.0/x", "http://127.0.0.1:8080/x",
    "https://user:secret@example.com/x", "gopher://example.com/", "https:///nohost"])
def test_production_mode_refuses_what_would_reach_inside(url):
    with pytest.raises(webhooks.UnsafeUrl):
        webhooks.resolve(url, allow_http_loopback=False)


def test_the_dev_setting_allows_http_to_loopback_only():
    assert webhooks.resolve("http://127.0.0.1:9000/hook", allow_http_loopback=True)[4] == "127.0.0.1"
    with pytest.raises(webhooks.UnsafeUrl):
        webhooks.resolve("http://10.0.0.1/hook", allow_http_loopback=True)
    assert webhooks.resolve("https://93.184.215.14/hook")[4] == "93.184.215.14"  # a public address


def test_reply_tokens_name_what_they_answer_and_cannot_be_forged():
    secret = "reply-secret"
    token = channels.reply_token(secret, ticket_reference="SUP-104")
    assert channels.read_reply_token(secret, token) == ("ticket", "SUP-104")
    conversation = str(uuid.uuid4())
    assert channels.read_reply_token(secret, channels.reply_token(secret, conversation_id=conversation)) == (
        "conversation", conversation)
    assert channels.read_reply_token("other-secret", token) is None
    what, mac = token.split(".")
    forged = channels.reply_token(secret, ticket_reference="SUP-105").split(".")[0] + "." + mac
    assert channels.read_reply_token(secret, forged) is None
    for junk in ("", "nodot", "a.b", token.upper(), token + "x"):
        assert channels.read_reply_token(secret, junk) is None
    with pytest.raises(RuntimeError):
        channels.reply_token(None, ticket_reference="SUP-1")


def test_a_reply_address_fits_the_64_characters_of_a_local_part():
    local = channels.default_support_local(str(uuid.uuid4()))
    for address in (channels.reply_address("s", local, "support.example", ticket_reference="SUP-123456"),
                    channels.reply_address("s", local, "support.example", conversation_id=str(uuid.uuid4()))):
        assert len(address.partition("@")[0]) <= 64
        assert channels.split_address(address)[0] == local


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling():
    assert backoff(1, 2.0, 3600, rand=lambda: 0.5) == 2.0
    assert backoff(4, 2.0, 3600, rand=lambda: 0.5) == 16.0
    assert backoff(30, 2.0, 3600, rand=lambda: 0.5) == 3600
    assert 1.0 <= backoff(1, 2.0, 3600, rand=lambda: 0.0) < 3.0 and backoff(1, 2.0, 3600, rand=lambda: 0.999) < 3.0


def test_every_route_names_a_rule_a_channel_and_a_kind():
    for route in routing.ROUTES:
        assert route.rule in routing.RULES, route
        assert set(route.channels) <= {routing.INBOX, routing.EMAIL, routing.EMAIL_IF_OFFLINE}, route
        assert route.kind and "." in route.event_type
    assert "settlement.payout_verification_requested" not in routing.webhook_event_types()


def test_a_message_on_main_reaches_the_requester_and_an_internal_one_the_team():
    """The rules support's new events need (issue 8), on events shaped as common.md says."""
    from dataclasses import make_dataclass

    class People:
        def users(self, merchant_id, roles, store_id=None, user_ids=None):
            return [{"user_id": (user_ids or [None])[0] or "team-" + ",".join(roles or []), "email": None}]

        def customer(self, merchant_id, customer_id):
            return {"name": "C", "email": "c@example.com", "email_consent": customer_id != "no-consent"}

    Message = make_dataclass("MessagePosted", ["merchant_id", "thread", "requester", "assignee_id", "level"])

    def ids(rule, **values):
        event = Message(**dict(dict(merchant_id="m", thread="main", requester={"kind": "customer", "id": "c1"},
                                    assignee_id="a1", level=None), **values))
        return [(r.kind, r.id, r.email) for r in routing.RULES[rule](People(), event)]

    assert ids("requester_on_main") == [("customer", "c1", "c@example.com")]
    assert ids("requester_on_main", requester={"kind": "customer", "id": "no-consent"}) == [
        ("customer", "no-consent", None)]  # the inbox, never an email without consent
    assert ids("requester_on_main", thread="internal") == []
    assert ids("team_on_internal", thread="internal", level="it_support") == [("user", "team-it_support", None)]
    assert ids("team_on_internal") == []
    assert ids("assignee") == [("user", "a1", None)]
    assert ids("requester_on_main", requester={"kind": "user", "id": "u9"}) == [("user", "u9", None)]


def test_the_support_mail_servers_readiness_names_what_is_down():
    import requests
    from services.notification.inbound import Health

    class Stopped:
        server = None
    health = Health("127.0.0.1", 0, "postgresql://nobody@127.0.0.1:1/nothing", Stopped())
    try:
        base = "http://127.0.0.1:%d" % health.port
        assert requests.get(base + "/healthz", timeout=5).json()["status"] == "alive"
        ready = requests.get(base + "/readyz", timeout=10)
        checks = ready.json()["checks"]
        assert ready.status_code == 503 and checks["smtp"] == "RuntimeError: the SMTP server is not listening"
        assert checks["database"].startswith("OperationalError")
    finally:
        health.stop()
