"""Reaching people, with every service running (one system for the module: API clients at the end): the routing table against every event kind it routes
(published as its publisher does, twice with the same id: each person is told once), inboxes that are
each person's own, preferences, the live SSE stream with Last-Event-ID, email through a real SMTP server
in the merchant's name, and signed webhooks to a real local HTTP receiver that fails on purpose."""
import json
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import parseaddr

import eventlet
import pytest
import requests
from eventlet import wsgi

from plumbing.contracts import event_of
from services.campaign.contract.events import (BudgetExhausted, CampaignCreated, FundingAgreementChanged,
                                               FundingAgreementCreated, IssuanceApprovalDecided,
                                               IssuanceApprovalRequested, PointsAdjusted)
from services.notification import channels, routing, webhooks
from services.redemption.contract.events import (RedemptionLockout, RedemptionReversed, VoucherCancelled,
                                                 VoucherExpired, VoucherRedeemed)
from services.settlement.contract.events import (BatchClosed, BatchReleased, ExceptionRaised, ExceptionResolved,
                                                 PayoutAccountConfirmed, PayoutAccountRejected, PayoutAccountSet)
from services.support.contract.events import (ConversationMessage, MessagePosted, TicketAcknowledged, TicketAssigned,
                                              TicketCascaded, TicketClosed, TicketCreated, TicketEscalated,
                                              TicketOverdue, TicketReopened, TicketResolved)
from tests.conftest import WEBHOOK_TEST_KEY
from tests.events import example
from tests.integration.conftest import ok, wait_for
from tests.mailbox import Mailbox, free_port, text_of

REPLY_SECRET = "test-reply-secret-0123456789"
DOMAIN = "support.vowrewards.test"


@pytest.fixture(scope="module")
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def system_config(mailbox):
    return {"notification": {
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": mailbox.port, "SMTP_FROM": "VowRewards <notify@vowrewards.test>",
        "WEBHOOKS_ALLOW_HTTP_LOOPBACK": "1", "WEBHOOK_RETRY_BASE": 0.05, "WEBHOOK_MAX_ATTEMPTS": 3,
        "WEBHOOK_DISABLE_AFTER": 5, "EMAIL_RETRY_BASE": 0.1, "NOTIFICATION_REPLY_SECRET": REPLY_SECRET,
        "OUTBOX_SWEEP_MIN_AGE": 0.3, "OUTBOX_SWEEP_INTERVAL": 0.3, "INBOUND_MAIL_DOMAIN": DOMAIN}}


@pytest.fixture(scope="module")
def publish(dispatch):
    """``publish(payload, event_id=None)``: as the publisher's outbox relay does, as its broker user."""
    return dispatch


def me(system, token):
    return ok(system.get("/api/v1/me", token))


def buyer_app(system, owner):
    client = ok(system.post("/api/v1/api-clients", owner, json={"kind": "buyer_app", "name": "App"}), 201)
    return ok(system.post("/api/v1/auth/token", json={"grant_type": "client_credentials", "client_id":
                                                      client["client_id"], "client_secret": client["client_secret"]}))[
        "access_token"]


def who(actor_role="owner"):
    return {"user_id": str(uuid.uuid4()), "username": "someone", "role": actor_role}


def events_for(m, customer_id, agent_id):
    """One event of every routed kind for merchant ``m``, with whom its inbox message must reach."""
    merchant_id, store_id = m["merchant"]["id"], m["store_id"]
    ticket = dict(ticket_id=str(uuid.uuid4()), reference="SUP-%d" % (uuid.uuid4().int % 10000),
                  merchant_id=merchant_id)
    return [
        (example(TicketCreated, merchant_id=merchant_id, store_id=store_id, priority="critical",
                 category="settlement"), {"owner", "support_agent", "store_user", "finance"}),
        (example(TicketAcknowledged, **ticket), {"owner"}),
        (example(TicketResolved, **ticket), {"owner"}),
        (example(ExceptionRaised, merchant_id=merchant_id, store_id=store_id), set()),  # finance: by email
        (example(ExceptionResolved, merchant_id=merchant_id), {"finance"}),
        (example(BatchClosed, merchant_id=merchant_id), {"finance"}),
        (example(BatchReleased, merchant_id=merchant_id), {"finance"}),
        (example(PayoutAccountSet, merchant_id=merchant_id, contact_email=None), {"owner"}),
        (example(PayoutAccountConfirmed, merchant_id=merchant_id), {"owner"}),
        (example(PayoutAccountRejected, merchant_id=merchant_id), {"owner"}),
        (example(BudgetExhausted, merchant_id=merchant_id), {"owner"}),
        (example(PointsAdjusted, merchant_id=merchant_id, customer_id=customer_id), {"customer"}),
        (example(FundingAgreementCreated, merchant_id=merchant_id), {"owner"}),
        (example(FundingAgreementChanged, merchant_id=merchant_id), {"owner"}),
        (example(IssuanceApprovalRequested, merchant_id=merchant_id), {"platform_finance"}),
        (example(IssuanceApprovalDecided, merchant_id=merchant_id), {"owner"}),
        (example(RedemptionLockout, merchant_id=merchant_id, store_id=store_id), {"owner", "store_user"}),
        (example(RedemptionReversed, merchant_id=merchant_id, store_id=store_id), {"owner"}),
        (example(VoucherCancelled, merchant_id=merchant_id), {"owner"}),
        (example(VoucherExpired, merchant_id=merchant_id), {"owner"}),
        (example(VoucherRedeemed, merchant_id=merchant_id, store_id=store_id), set()),  # webhooks only
        # support's lifecycle: the assignee, the team on an Internal message, the partner it was cascaded to
        (example(TicketAssigned, merchant_id=merchant_id, assignee_id=agent_id), {"support_agent"}),
        (example(MessagePosted, merchant_id=merchant_id, thread="internal"), {"support_agent"}),
        (example(TicketOverdue, merchant_id=merchant_id, assignee_id=agent_id), {"support_agent", "owner"}),
        (example(TicketEscalated, merchant_id=merchant_id, level="owner"), {"owner"}),
        (example(TicketCascaded, merchant_id=merchant_id), {"stranger"}),  # the partner client's own inbox
        (example(TicketClosed, merchant_id=merchant_id, assignee_id=agent_id), {"support_agent"}),
        (example(TicketReopened, merchant_id=merchant_id, assignee_id=agent_id), {"support_agent", "owner"}),
        (example(ConversationMessage, merchant_id=merchant_id, customer_id=customer_id), {"customer"}),
    ]


def test_the_routing_table_reaches_whom_it_says_once_per_event(system, onboard, publish, db_query,
                                                               platform_login):
    m = onboard()
    owner = m["tokens"]["owner"]
    finance_id = me(system, m["tokens"]["finance"])["id"]
    ok(system.request("PATCH", "/api/v1/users/" + finance_id, owner, json={"email": "finance@shop.example"}))
    platform_finance = platform_login("platform_finance")
    customer = ok(system.post("/api/v1/customers", owner, json={"name": "Thandi", "email": "t@example.com"}), 201)
    cases = events_for(m, customer["id"], me(system, m["tokens"]["support_agent"])["id"])
    assert {event_of(p).key() for p, _ in cases} >= {r.event_type for r in routing.ROUTES}  # every routed kind
    roles = {row[0]: row[1] for row in db_query("SELECT id::text, role FROM gateway.users WHERE merchant_id = %s "
                                               "OR role = 'platform_finance'", (m["merchant"]["id"],))}
    expected = {}
    for payload, audience in cases:
        event_id = publish(payload)
        publish(payload, event_id)  # redelivered: nobody is told twice
        expected[event_id] = audience

    def told():
        rows = db_query("SELECT event_id, user_id, customer_id FROM notification.inbox_messages "
                        "WHERE event_id = ANY(%s)", (list(expected),))
        found = {event_id: [] for event_id in expected}
        for event_id, user_id, customer_id in rows:
            found[event_id].append("customer" if customer_id else roles.get(user_id, "stranger"))
        return found

    def settled():
        found = told()
        return all(sorted(set(found[e])) == sorted(expected[e]) for e in expected) and found

    try:
        found = wait_for(settled, timeout=30)
    except AssertionError:
        found = told()
        wrong = {event_of(p).key(): (sorted(set(found[e])), sorted(a)) for (p, a), e in zip(cases, expected)
                 if sorted(set(found[e])) != sorted(a)}
        raise AssertionError("told / expected: %r" % wrong)
    # each person once: as many messages as people (the merchant has one user of each role)
    for event_id, audience in expected.items():
        if audience != {"platform_finance"}:
            assert len(found[event_id]) == len(audience), (event_id, found[event_id])
    # the exception went to finance by email, and nothing to anyone twice
    exception_id = next(e for (p, _), e in zip(cases, expected) if event_of(p) is ExceptionRaised)
    emails = wait_for(lambda: db_query("SELECT address, status FROM notification.deliveries WHERE event_id = %s "
                                       "AND channel = 'email' AND status = 'delivered'", (exception_id,)))
    assert emails == [("finance@shop.example", "delivered")]
    duplicates = db_query("SELECT event_id, recipient_id, channel, count(*) FROM notification.deliveries "
                          "WHERE event_id = ANY(%s) GROUP BY 1, 2, 3 HAVING count(*) > 1", (list(expected),))
    assert duplicates == []
    # the customer reads it in the buyer app; platform finance in its own inbox
    app = buyer_app(system, owner)
    theirs = ok(system.get("/api/v1/notifications", app, headers={"X-Customer-Id": customer["id"]}))["items"]
    assert sorted(n["kind"] for n in theirs) == ["chat_message", "points"]  # the staff's chat reply too
    [points] = [n for n in theirs if n["kind"] == "points"]
    assert points["title"] == "Your points changed"
    assert [n for n in ok(system.get("/api/v1/notifications", platform_finance))["items"]
            if n["kind"] == "issuance_approval"]
    # a buyer app without a customer reads nothing
    assert system.get("/api/v1/notifications", app).json()["error"]["code"] == "customer_required"


def test_nobody_reads_or_marks_another_persons_inbox(system, onboard, publish):
    m, other = onboard(), onboard()
    publish(example(BatchClosed, merchant_id=m["merchant"]["id"]))
    finance = m["tokens"]["finance"]
    [message] = wait_for(lambda: ok(system.get("/api/v1/notifications", finance))["items"])
    for stranger in (m["tokens"]["owner"], m["tokens"]["store_user"], other["tokens"]["finance"]):
        assert ok(system.get("/api/v1/notifications", stranger))["items"] == []
        refused = system.post("/api/v1/notifications/%s/read" % message["id"], stranger)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "message_not_found"
    assert ok(system.post("/api/v1/notifications/%s/read" % message["id"], finance)) == {"unread_count": 0}


def test_preferences_switch_a_kind_off_per_channel(system, onboard, publish, db_query):
    m = onboard()
    owner = m["tokens"]["owner"]
    prefs = ok(system.put("/api/v1/notifications/preferences", owner, json={"items": [
        {"kind": "voucher_ended", "channel": "inbox", "enabled": False}]}))
    assert {"kind": "voucher_ended", "channel": "inbox", "enabled": False} in prefs["items"]
    assert "budget_exhausted" in prefs["kinds"]
    bad = system.put("/api/v1/notifications/preferences", owner, json={"items": [
        {"kind": "horoscope", "channel": "inbox", "enabled": False}]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_kind"
    muted = publish(example(VoucherCancelled, merchant_id=m["merchant"]["id"]))
    publish(example(VoucherRedeemed, merchant_id=m["merchant"]["id"], store_id=m["store_id"]))
    heard = publish(example(BudgetExhausted, merchant_id=m["merchant"]["id"]))
    wait_for(lambda: db_query("SELECT 1 FROM notification.inbox_messages WHERE event_id = %s", (heard,)))
    # handled (it left its mark) but not delivered to the owner's inbox
    wait_for(lambda: db_query("SELECT 1 FROM notification.handled_events WHERE event_id::text = %s", (muted,)))
    assert db_query("SELECT 1 FROM notification.inbox_messages WHERE event_id = %s", (muted,)) == []
    assert [n["kind"] for n in ok(system.get("/api/v1/notifications", owner))["items"]] == ["budget_exhausted"]


class Stream:
    """An SSE client reading ``/notifications/stream`` in a green thread."""

    def __init__(self, system, token=None, last_event_id=None, ticket=None):
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = requests.get(system.url("/api/v1/notifications/stream"), headers=headers, stream=True,
                                     timeout=30, params={"ticket": ticket} if ticket else None)
        self.events, self.comments = [], []
        self._thread = eventlet.spawn(self._read)

    def _read(self):
        event = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("id: "):
                    event["id"] = line[4:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif not line and event:
                    self.events.append(event)
                    event = {}
        except Exception:
            pass

    def close(self):
        self._thread.kill()
        self.response.close()


def test_the_stream_brings_a_new_notification_and_catches_up_after_a_reconnect(system, onboard, publish):
    m = onboard()
    finance = m["tokens"]["finance"]
    stream = Stream(system, finance)
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        wait_for(lambda: stream.comments)  # the stream is open (": unread 0")
        publish(example(BatchClosed, merchant_id=m["merchant"]["id"], reference="SET-2026-05-777"))
        [event] = wait_for(lambda: stream.events)
        assert "SET-2026-05-777" in event["data"]["title"] and event["id"] == event["data"]["id"]
    finally:
        stream.close()
    # while away, another one: a reconnect with Last-Event-ID gets it at once
    publish(example(BatchReleased, merchant_id=m["merchant"]["id"], reference="SET-2026-05-778"))
    wait_for(lambda: len(ok(system.get("/api/v1/notifications", finance))["items"]) == 2)
    again = Stream(system, finance, last_event_id=event["id"])
    try:
        [missed] = wait_for(lambda: again.events)
        assert "SET-2026-05-778" in missed["data"]["title"]
    finally:
        again.close()
    assert system.get("/api/v1/notifications/stream").status_code == 401
    # a browser's EventSource cannot send the header: a stream ticket opens it, and is good for nothing else
    ticket = ok(system.post("/api/v1/notifications/stream-tickets", finance), 201)["ticket"]
    assert system.get("/api/v1/notifications", ticket).status_code == 401
    assert system.get("/api/v1/notifications/stream", params={"ticket": ticket + "x"}).status_code == 401
    by_ticket = Stream(system, ticket=ticket, last_event_id=event["id"])
    try:
        [missed] = wait_for(lambda: by_ticket.events)
        assert "SET-2026-05-778" in missed["data"]["title"]
    finally:
        by_ticket.close()


def test_email_in_the_merchants_name_through_a_real_smtp_server(system, onboard, publish, mailbox):
    m = onboard()
    owner = m["tokens"]["owner"]
    owner_id = me(system, owner)["id"]
    ok(system.request("PATCH", "/api/v1/users/" + owner_id, owner, json={"email": "boss@shop.example"}))
    settings = ok(system.put("/api/v1/notifications/mail-settings", owner, json={
        "display_name": "Canal Coffee", "reply_to": "help@canal.example"}))
    assert settings["support_address"].endswith("@" + DOMAIN)
    publish(example(BudgetExhausted, merchant_id=m["merchant"]["id"], budget=100000, spent=100000))
    [message] = wait_for(lambda: mailbox.to("boss@shop.example"))
    assert "Canal Coffee" in message["From"] and message["Reply-To"] == "help@canal.example"
    assert message["Subject"] == "Canal Coffee: Campaign budget exhausted"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "spent 100000 of its budget" in text and "<p>" in html and "Canal Coffee" in html
    # the mail arrives a moment before the dispatcher records it delivered
    log = wait_for(lambda: [d for d in ok(system.get("/api/v1/webhooks/deliveries?channel=email", owner))["items"]
                            if d["status"] != "sending"])
    assert [(d["address"], d["status"], d["attempts"]) for d in log] == [("boss@shop.example", "delivered", 1)]


class Receiver:
    """A real local HTTP receiver that checks each delivery's signature and fails when told to."""

    def __init__(self):
        self.port = free_port()
        self.secret = None
        self.fail_next = 0
        self.always_fail = False
        self.received, self.bad_signatures = [], 0
        sock = eventlet.listen(("127.0.0.1", self.port))
        self._server = eventlet.spawn(wsgi.server, sock, self.app, log_output=False)

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        signature = environ.get("HTTP_VOWREWARDS_SIGNATURE", "")
        if self.secret and not webhooks.verify(self.secret, signature, body):
            self.bad_signatures += 1
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"bad signature"]
        if self.always_fail or self.fail_next > 0:
            self.fail_next -= 1
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down on purpose"]
        self.received.append((environ.get("HTTP_VOWREWARDS_EVENT_ID"), json.loads(body)))
        start_response("204 No Content", [])
        return [b""]

    def stop(self):
        self._server.kill()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.stop()


def stored_secrets(db_query, endpoint_id):
    """What the database holds of an endpoint's secrets, oldest first."""
    return [s for (s,) in db_query("SELECT secret FROM notification.webhook_secrets WHERE endpoint_id = %s "
                                   "ORDER BY created_at", (endpoint_id,))]


def test_signed_webhooks_are_retried_with_backoff_then_delivered(system, onboard, publish, receiver, db_query):
    m = onboard()
    owner = m["tokens"]["owner"]
    endpoint = ok(system.post("/api/v1/webhooks", owner, json={
        "url": receiver.url(), "events": ["settlement.batch_closed", "redemption.voucher_redeemed"]}), 201)
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "active"
    # at rest the secret is encrypted under WEBHOOK_SECRET_KEYS, never the secret itself
    keys = webhooks.SecretKeys(WEBHOOK_TEST_KEY)
    [stored] = stored_secrets(db_query, endpoint["id"])
    assert endpoint["secret"] not in stored and keys.open(stored) == endpoint["secret"]
    receiver.secret, receiver.fail_next = endpoint["secret"], 2
    event_id = publish(example(BatchClosed, merchant_id=m["merchant"]["id"], reference="SET-2026-05-900"))
    [(delivered_id, body)] = wait_for(lambda: receiver.received)
    assert delivered_id == event_id and body["type"] == "settlement.batch_closed"
    assert body["data"]["reference"] == "SET-2026-05-900" and receiver.bad_signatures == 0
    [delivery] = wait_for(lambda: [d for d in ok(system.get(
        "/api/v1/webhooks/deliveries?channel=webhook", owner))["items"] if d["status"] == "delivered"])
    assert delivery["attempts"] == 3 and delivery["event_id"] == event_id

    # a rotated secret: the old one still verifies during the overlap, the new one too
    rotated = ok(system.post("/api/v1/webhooks/%s/secret" % endpoint["id"], owner), 201)
    [_, stored] = stored_secrets(db_query, endpoint["id"])  # the rotated secret is encrypted too
    assert rotated["secret"] not in stored and keys.open(stored) == rotated["secret"]
    receiver.secret = endpoint["secret"]
    replayed = ok(system.post("/api/v1/webhooks/deliveries/%s/replay" % delivery["id"], owner))
    assert replayed["status"] == "pending"
    wait_for(lambda: len(receiver.received) == 2)
    receiver.secret = rotated["secret"]
    publish(example(VoucherRedeemed, merchant_id=m["merchant"]["id"], store_id=m["store_id"]))
    wait_for(lambda: len(receiver.received) == 3)
    assert receiver.bad_signatures == 0
    assert [b["type"] for _, b in receiver.received] == ["settlement.batch_closed"] * 2 + [
        "redemption.voucher_redeemed"]


def test_an_endpoint_that_keeps_failing_is_disabled_and_its_owner_told(system, onboard, publish, receiver):
    m = onboard()
    owner = m["tokens"]["owner"]
    endpoint = ok(system.post("/api/v1/webhooks", owner, json={"url": receiver.url(),
                                                               "events": ["settlement.batch_closed"]}), 201)
    receiver.always_fail = True
    for _ in range(2):  # 3 tries each; disabled at the 5th failure in a row
        publish(example(BatchClosed, merchant_id=m["merchant"]["id"]))
    [told] = wait_for(lambda: [n for n in ok(system.get("/api/v1/notifications", owner))["items"]
                               if n["kind"] == "webhook_disabled"])
    assert receiver.url() in told["body"] and "503" in told["body"]
    [listed] = ok(system.get("/api/v1/webhooks", owner))["items"]
    assert listed["status"] == "disabled" and listed["consecutive_failures"] >= 5
    failed = wait_for(lambda: [d for d in ok(system.get("/api/v1/webhooks/deliveries?channel=webhook&status=failed",
                                                        owner))["items"]])
    assert failed[0]["last_error"].startswith(("RuntimeError: HTTP 503", "RuntimeError: the endpoint is disabled"))
    # the owner fixes it, enables it again and replays what failed
    receiver.always_fail = False
    assert ok(system.request("PATCH", "/api/v1/webhooks/" + endpoint["id"], owner, json={"active": True}))[
        "status"] == "active"
    ok(system.post("/api/v1/webhooks/deliveries/%s/replay" % failed[0]["id"], owner))
    wait_for(lambda: receiver.received)
    # and deletes it
    assert system.request("DELETE", "/api/v1/webhooks/" + endpoint["id"], owner).status_code == 204
    assert ok(system.get("/api/v1/webhooks", owner))["items"] == []


def test_webhook_registrations_that_would_reach_inside_are_refused(system, onboard):
    owner = onboard()["tokens"]["owner"]
    for url in ("http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook",
                "https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "ftp://example.com/x",
                "https://user:pw@example.com/hook", "http://127.0.0.2:80/hook"):
        refused = system.post("/api/v1/webhooks", owner, json={"url": url, "events": ["support.ticket_created"]})
        assert refused.status_code == 422, url
        assert refused.json()["error"]["code"] == "webhook_url_refused" and "url" in refused.json()["error"]["fields"]
    for events in (["support.nonsense"], ["settlement.payout_verification_requested"], []):
        refused = system.post("/api/v1/webhooks", owner, json={"url": "http://127.0.0.1:9/x", "events": events})
        assert refused.status_code == 422 and "events" in refused.json()["error"]["fields"]
    assert system.post("/api/v1/webhooks", onboard()["tokens"]["finance"], json={
        "url": "http://127.0.0.1:9/x", "events": ["support.ticket_created"]}).status_code == 403


class SupportMail:
    """The inbound support mail server, started as ``make run`` starts it (its own process)."""

    def __init__(self, database_url):
        import os
        import subprocess
        import sys
        from tests.conftest import component_database_url
        self.hostname, self.port, self.health_port = "127.0.0.1", free_port(), free_port()
        env = dict(os.environ, NOTIFICATION_DATABASE_URL=component_database_url(database_url, "notification"),
                   INBOUND_MAIL_DOMAIN=DOMAIN, NOTIFICATION_REPLY_SECRET=REPLY_SECRET, HEALTH_PORT="",
                   INBOUND_HEALTH_PORT=str(self.health_port))
        self.process = subprocess.Popen([sys.executable, "-m", "services.notification.inbound", "--port",
                                         str(self.port)], env=env)
        wait_for(self._listening, timeout=20)

    def _listening(self):
        try:
            with smtplib.SMTP(self.hostname, self.port, timeout=2) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def support_mail(database_url):
    server = SupportMail(database_url)
    yield server
    server.stop()


def send_mail(controller, to, subject, body, sender="Thandi <thandi@example.com>"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body)
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as smtp:
        smtp.send_message(message)


def test_mail_to_a_support_address_becomes_an_event_and_a_signed_reply_names_its_ticket(
        system, onboard, support_mail, db_query):
    m = onboard()
    address = ok(system.get("/api/v1/notifications/mail-settings", m["tokens"]["owner"]))["support_address"]
    local, domain = address.split("@")
    assert domain == DOMAIN
    send_mail(support_mail, address, "My voucher did not work", "It said expired.\n\nOn Monday X wrote:\n> old")
    token = channels.reply_token(REPLY_SECRET, ticket_reference="SUP-104")
    send_mail(support_mail, "%s+%s@%s" % (local, token, domain), "Re: anything at all", "Thanks, it works now")
    forged = channels.reply_token("not-our-secret", ticket_reference="SUP-105")
    send_mail(support_mail, "%s+%s@%s" % (local, forged, domain), "Re: SUP-105", "Let me into 105")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_mail(support_mail, "nobody-here@" + DOMAIN, "Hello", "Anyone?")

    def published():
        rows = db_query("SELECT payload FROM notification.outbox WHERE event_type = 'email_received' "
                        "AND payload->>'merchant_id' = %s AND published_at IS NOT NULL", (m["merchant"]["id"],))
        return len(rows) == 3 and sorted((r[0]["subject"] for r in rows))
    wait_for(published, timeout=20)
    events = {row[0]["subject"]: row[0] for row in db_query(
        "SELECT payload FROM notification.outbox WHERE event_type = 'email_received' AND payload->>'merchant_id' = %s",
        (m["merchant"]["id"],))}
    new = events["My voucher did not work"]
    assert new["ticket_reference"] is None and new["body"] == "It said expired."
    assert new["from_address"] == "thandi@example.com" and new["from_name"] == "Thandi"
    assert events["Re: anything at all"]["ticket_reference"] == "SUP-104"
    assert events["Re: SUP-105"]["ticket_reference"] is None  # a forged token names nothing
    # probed like every process (Kubernetes: HEALTH_PORT 9100)
    health = "http://127.0.0.1:%d" % support_mail.health_port
    assert requests.get(health + "/healthz", timeout=5).json()["status"] == "alive"
    ready = requests.get(health + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "smtp": "ok"}
    assert requests.get(health + "/metrics", timeout=5).status_code == 200



def test_mail_in_opens_a_ticket_and_a_reply_to_its_outbound_mail_lands_on_main(
        system, onboard, support_mail, mailbox, db_query):
    """Support mail end to end: the inbound receiver (its own process) -> email_received -> a ticket
    (source email) through the gateway; staff reply on Main -> the customer's mail carries a signed
    Reply-To -> answering that mail puts the answer on the ticket's Main thread."""
    m = onboard()
    owner = m["tokens"]["owner"]
    address = ok(system.get("/api/v1/notifications/mail-settings", owner))["support_address"]
    send_mail(support_mail, address, "Card declined at the till", "It was declined twice today.")

    def email_tickets():
        return [t for t in ok(system.get("/api/v1/support/tickets", owner))["items"] if t["source"] == "email"]
    [mailed] = wait_for(email_tickets, timeout=20)
    assert mailed["subject"] == "Card declined at the till" and mailed["status"] == "open"
    shown = ok(system.get("/api/v1/support/tickets/" + mailed["reference"], owner))
    assert shown["messages"][0]["body"] == "It was declined twice today."
    assert shown["requester"] == {"kind": "email", "id": "thandi@example.com"}
    # a reply on its Main thread is an event notification handles (it used to fail on the address)
    ok(system.post("/api/v1/support/tickets/%s/messages" % mailed["reference"], owner,
                   json={"thread": "main", "body": "Which till?"}))

    def handled():
        return db_query("SELECT 1 FROM support.outbox o JOIN notification.handled_events h ON h.event_id = o.event_id "
                        "WHERE o.event_type = 'message_posted' AND o.payload->>'reference' = %s "
                        "AND o.payload->>'merchant_id' = %s", (mailed["reference"], m["merchant"]["id"]))
    wait_for(handled, timeout=20)
    # ...and the person who wrote in gets the answer by mail, with a Reply-To that answers on the ticket
    [answer_mail] = wait_for(lambda: [x for x in mailbox.to("thandi@example.com") if "Which till?" in text_of(x)],
                             timeout=20)
    _, token = channels.split_address(parseaddr(str(answer_mail["Reply-To"]))[1])
    assert channels.read_reply_token(REPLY_SECRET, token) == ("ticket", mailed["reference"])

    # a buyer's ticket: the staff's answer on Main is mailed to the (offline) customer, signed Reply-To
    customer = ok(system.post("/api/v1/customers", owner, json={"name": "Lerato", "email": "lerato@example.com",
                                                                "email_consent": True}), 201)
    app = buyer_app(system, owner)
    raised = ok(system.post("/api/v1/support/tickets", app, headers={"X-Customer-Id": customer["id"]}, json={
        "subject": "Voucher not accepted", "description": "The till said expired", "category": "agent"}), 201)
    path = "/api/v1/support/tickets/" + raised["reference"]
    ok(system.post(path + "/messages", m["tokens"]["support_agent"],
                   json={"thread": "main", "body": "Which store was it?"}))
    [outbound] = wait_for(lambda: [x for x in mailbox.to("lerato@example.com") if "Which store" in text_of(x)],
                          timeout=20)
    reply_to = parseaddr(str(outbound["Reply-To"]))[1]
    _, token = channels.split_address(reply_to)
    assert token and channels.read_reply_token(REPLY_SECRET, token) == ("ticket", raised["reference"])
    send_mail(support_mail, reply_to, "Re: " + str(outbound["Subject"]),
              "Canal Walk, this morning.\n\nOn Tuesday VowRewards wrote:\n> Which store was it?",
              sender="Lerato <lerato@example.com>")

    def answered():
        main = ok(system.get(path, owner))["messages"]
        return [x for x in main if x["body"] == "Canal Walk, this morning."]
    [answer] = wait_for(answered, timeout=20)
    assert answer["thread"] == "main" and answer["author"]["role"] == "email"
    # the reply was a message, not a new ticket
    assert len(email_tickets()) == 1


# -- API clients ----------------------------------------------------------------------------------
CLIENTS = "/api/v1/api-clients"
TOKEN = "/api/v1/auth/token"


@pytest.fixture(scope="module")
def merchant(onboard):
    return onboard()


def register(system, owner, **body):
    return ok(system.post(CLIENTS, owner, json=body), 201)


def client_token(system, client, secret=None, form=False):
    body = {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": secret or client["client_secret"]}
    return system.post(TOKEN, data=body) if form else system.post(TOKEN, json=body)


def error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def test_a_pos_client_redeems_at_its_own_store_only(system, merchant):
    owner = merchant["tokens"]["owner"]
    pos = register(system, owner, kind="pos", name="Till 3", store_id=merchant["store_id"])
    assert pos["client_secret"] and pos["kind"] == "pos" and pos["store_id"] == merchant["store_id"]
    # the secret is shown once: never in a list or a read
    listed = ok(system.get(CLIENTS, owner))["items"]
    assert [c["client_id"] for c in listed] == [pos["client_id"]]
    assert "client_secret" not in listed[0] and "client_secret" not in ok(system.get(
        CLIENTS + "/" + pos["client_id"], owner))
    answer = ok(client_token(system, pos, form=True))
    assert answer["token_type"] == "Bearer" and answer["expires_in"] > 0 and "refresh_token" not in answer
    token = ok(client_token(system, pos))["access_token"]

    voucher = ok(system.post("/api/v1/vouchers", owner, json={"kind": "discount_fixed", "currency": "ZAR",
                                                              "value": 1500}), 201)
    other_store = merchant["stores"]["Canal Walk Kiosk"]
    refused = system.post("/api/v1/redemptions", token, json={"code": voucher["display_code"], "channel": "pos",
                                                              "store_id": other_store})
    assert error(refused, 403) == "store_forbidden"
    redemption = ok(system.post("/api/v1/redemptions", token, json={"code": voucher["display_code"],
                                                                    "channel": "pos"}), 201)
    assert redemption["store_id"] == merchant["store_id"]
    # a POS is a till, not a back office
    assert system.post("/api/v1/vouchers", token, json={"kind": "discount_fixed", "currency": "ZAR",
                                                         "value": 100}).status_code == 403
    assert system.get(CLIENTS, token).status_code == 403


def test_rotation_keeps_the_old_secret_for_the_grace_period_and_revocation_ends_it_all(system, merchant):
    owner = merchant["tokens"]["owner"]
    client = register(system, owner, kind="logistics_partner", name="Courier Co")
    rotated = ok(system.post(CLIENTS + "/%s/secret" % client["client_id"], owner), 201)
    assert rotated["client_secret"] != client["client_secret"] and rotated["previous_secret_valid_until"]
    ok(client_token(system, client))  # the old secret, within its grace
    token = ok(client_token(system, rotated))["access_token"]
    assert system.get("/api/v1/notifications", token).status_code != 401

    assert system.request("DELETE", CLIENTS + "/" + client["client_id"], owner).status_code == 204
    # refused at once, the token it already holds included
    assert error(system.get("/api/v1/notifications", token), 401) == "token_revoked"
    assert error(client_token(system, rotated), 401) == "invalid_client"
    assert error(client_token(system, client), 401) == "invalid_client"
    assert ok(system.get(CLIENTS + "/" + client["client_id"], owner))["revoked_at"]
    assert error(system.post(CLIENTS + "/%s/secret" % client["client_id"], owner), 404) == "api_client_revoked"


def test_a_buyer_app_acts_only_for_its_merchants_customers(system, merchant, onboard):
    owner = merchant["tokens"]["owner"]
    app = register(system, owner, kind="buyer_app", name="Shop app")
    token = ok(client_token(system, app))["access_token"]
    mine = ok(system.post("/api/v1/customers", owner, json={"name": "Thandi", "email": "t@example.com"}), 201)
    elsewhere = onboard()
    theirs = ok(system.post("/api/v1/customers", elsewhere["tokens"]["owner"], json={"name": "Other"}), 201)

    assert system.get("/api/v1/notifications", token, headers={"X-Customer-Id": mine["id"]}).status_code == 200
    refused = system.get("/api/v1/notifications", token, headers={"X-Customer-Id": theirs["id"]})
    assert error(refused, 403) == "customer_forbidden"
    # only a buyer app names a customer
    staff = system.get("/api/v1/notifications", owner, headers={"X-Customer-Id": mine["id"]})
    assert error(staff, 403) == "customer_not_allowed"
    assert error(system.get("/api/v1/notifications", token, headers={"X-Customer-Id": "1 OR 1=1"}), 422)


def test_bad_registrations_and_token_requests_get_a_clear_4xx(system, merchant, onboard):
    owner = merchant["tokens"]["owner"]
    assert "kind" in system.post(CLIENTS, owner, json={"kind": "robot", "name": "x"}).json()["error"]["fields"]
    assert "store_id" in system.post(CLIENTS, owner, json={"kind": "pos", "name": "Till"}).json()["error"]["fields"]
    assert "store_id" in system.post(CLIENTS, owner, json={"kind": "buyer_app", "name": "App",
                                                           "store_id": merchant["store_id"]}).json()["error"]["fields"]
    other_store = onboard()["store_id"]
    assert error(system.post(CLIENTS, owner, json={"kind": "pos", "name": "Till", "store_id": other_store}),
                 404) == "store_not_found"
    assert system.post(CLIENTS, merchant["tokens"]["store_user"], json={"kind": "buyer_app",
                                                                          "name": "App"}).status_code == 403
    client = register(system, owner, kind="buyer_app", name="App")
    assert error(client_token(system, client, secret="vrs_wrong"), 401) == "invalid_client"
    bad = system.post(TOKEN, json={"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"})
    assert "client_id" in bad.json()["error"]["fields"]
    # another merchant's owner cannot see or revoke it
    stranger = onboard()["tokens"]["owner"]
    assert error(system.request("DELETE", CLIENTS + "/" + client["client_id"], stranger), 404) == "api_client_not_found"


def test_an_event_only_webhooks_carry_reaches_notification_only_while_an_endpoint_subscribes(
        system, onboard, publish, receiver, db_query):
    """The broker copies a webhook-only event to notification only while an active endpoint
    subscribes to its type: one published before the endpoint (or after it is deleted) is never
    handled, and a new endpoint hears the very next one. One queue keeps order, so an event
    bound before the next one would have been handled first."""
    m = onboard()
    owner, merchant_id = m["tokens"]["owner"], m["merchant"]["id"]

    def handled(event_id):
        return db_query("SELECT count(*) FROM notification.handled_events WHERE event_id::text = %s", (event_id,))[0][0]

    def subscribe():
        endpoint = ok(system.post("/api/v1/webhooks", owner, json={
            "url": receiver.url(), "events": ["campaign.campaign_created"]}), 201)
        receiver.secret = endpoint["secret"]
        return endpoint

    unheard = publish(example(CampaignCreated, merchant_id=merchant_id))
    endpoint = subscribe()
    heard = publish(example(CampaignCreated, merchant_id=merchant_id))
    wait_for(lambda: [event_id for event_id, _ in receiver.received if event_id == heard])
    assert handled(heard) == 1 and handled(unheard) == 0

    assert system.request("DELETE", "/api/v1/webhooks/" + endpoint["id"], owner).status_code == 204
    unheard = publish(example(CampaignCreated, merchant_id=merchant_id))
    subscribe()
    heard = publish(example(CampaignCreated, merchant_id=merchant_id))
    wait_for(lambda: [event_id for event_id, _ in receiver.received if event_id == heard])
    assert handled(heard) == 1 and handled(unheard) == 0
