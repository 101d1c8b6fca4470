"""The notification service on payout address events (the owners' inbox and emails) and on customers'
notifications (their inbox; email only with consent and while offline), through a real SMTP server
(aiosmtpd on a free port), on this run's PostgreSQL and RabbitMQ."""
import pytest

from plumbing.errors import NotFound
from services.campaign.contract.events import PointsAdjusted
from services.notification.service import NotificationService
from services.settlement.contract.events import PayoutAccountConfirmed, PayoutAccountSet, PayoutVerificationRequested
from tests.events import example
from tests.mailbox import Mailbox, free_port, text_of
from tests.service.conftest import call, handling, new_id, started, wait_until
from tests.service.directory import FakeCampaign, fake_campaign, fake_gateway, people  # noqa: F401 (fixtures)

SENDER = "VowRewards <payouts@vowrewards.test>"


@pytest.fixture(scope="module")
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def notification(make_config, mailbox, fake_gateway, fake_campaign):
    config = make_config("notification", SMTP_HOST="127.0.0.1", SMTP_PORT=mailbox.port, SMTP_FROM=SENDER,
                         EVENT_RETRY_DELAYS=[0.5, 1.0, 2.0, 4.0], EMAIL_RETRY_BASE=0.1)
    with started(NotificationService, config) as container:
        yield container


@pytest.fixture
def deliver(notification, dispatch):
    """``deliver(payload, handler, event_id=None)``: dispatch and wait until handled."""
    def send(payload, handler, event_id=None):
        event_id = event_id or new_id()
        with handling(notification, handler, event_id) as result:
            dispatch(payload, event_id=event_id)
        result.get()
        return event_id
    return send


def address_set(merchant_id, contact_email=None, previous="wallet…1111"):
    return example(PayoutAccountSet, merchant_id=merchant_id, status="unconfirmed", wallet_address="wallet…2222",
                   previous_address=previous, set_by={"user_id": new_id(), "username": "owner-ann", "role": "owner"},
                   set_at="2026-05-10T09:00:00+00:00", cooling_off_until="2026-05-13T09:00:00+00:00",
                   contact_email=contact_email, merchant_name="The Shop")


def code_requested(merchant_id, contact_email):
    return example(PayoutVerificationRequested, verification_id=new_id(), merchant_id=merchant_id,
                   merchant_name="The Shop", contact_email=contact_email, code="4821 0937",
                   expires_at="2026-05-10T09:30:00+00:00", wallet_address="wallet-0123456789abcdef")


def inbox(notification, user):
    return call(notification, "list_inbox", {"auth_token": user["auth_token"]}, {})["items"]


def unique_email():
    return "owner-%s@shop.example" % new_id()[:8]


def test_the_owners_hear_when_the_address_is_set_and_confirmed(notification, deliver, people):
    merchant = new_id()
    users = {role: people.add(role, merchant) for role in ("owner", "finance", "support_agent")}
    users["store_user"] = people.add("store_user", merchant, store_id=new_id())
    deliver(address_set(merchant), "notify_settlement_payout_account_set")
    deliver(example(PayoutAccountConfirmed,
                    merchant_id=merchant, wallet_address="wallet…2222", method="call_note",
                    confirmed_by={"user_id": new_id(), "username": "pf-1", "role": "platform_finance"},
                    confirmed_at="2026-05-11T10:00:00+00:00", payable_from="2026-05-13T09:00:00+00:00"),
            "notify_settlement_payout_account_confirmed")

    confirmed, changed = inbox(notification, users["owner"])
    assert (changed["kind"], changed["title"]) == ("payout_account_set", "Payout wallet address changed")
    assert changed["body"] == (
        "owner-ann (owner) changed the payout wallet address from wallet…1111 to wallet…2222 on 2026-05-10 "
        "09:00 UTC. Payouts to it wait until VowRewards has verified it with you and until 2026-05-13 09:00 UTC "
        "(cooling-off). If this was not you, contact VowRewards at once.")
    assert (confirmed["kind"], confirmed["title"]) == ("payout_account_confirmed", "Payout wallet address confirmed")
    assert "by phone" in confirmed["body"] and "2026-05-13 09:00 UTC" in confirmed["body"]
    for role in ("finance", "store_user", "support_agent"):
        assert inbox(notification, users[role]) == []


def test_the_registered_contact_is_emailed_about_a_change(deliver, mailbox, query):
    merchant, contact = new_id(), unique_email()
    event_id = deliver(address_set(merchant, contact), "email_payout_account_change")
    [message] = mailbox.to(contact)
    assert message["Subject"] == "VowRewards: the payout wallet address of The Shop was changed"
    assert message["From"] == SENDER and message["To"] == contact
    body = text_of(message)
    assert "changed from wallet…1111 to wallet…2222\nby owner-ann (owner)" in body
    assert "not before 2026-05-13 09:00 UTC" in body
    [row] = query("SELECT kind, status, attempts, recipient FROM notification.email_deliveries WHERE event_id = %s",
                  (event_id,))
    assert dict(row) == {"kind": "payout_account_set", "status": "sent", "attempts": 1, "recipient": contact}


def test_no_contact_email_means_no_email(deliver, mailbox, query):
    event_id = deliver(address_set(new_id(), None), "email_payout_account_change")
    assert query("SELECT 1 FROM notification.email_deliveries WHERE event_id = %s", (event_id,)) == []


def test_a_verification_code_is_emailed_once_however_often_the_event_comes(deliver, mailbox):
    merchant, contact = new_id(), unique_email()
    event_id = new_id()
    for _ in range(3):
        deliver(code_requested(merchant, contact), "email_payout_verification_code",
                event_id=event_id)
    [message] = mailbox.to(contact)
    assert message["Subject"] == "VowRewards: your payout address verification code"
    body = text_of(message)
    assert "4821 0937" in body and "wallet-0123456789abcdef" in body and "2026-05-10 09:30 UTC" in body
    assert message["Message-ID"].endswith("@vowrewards.test>")


def test_a_failed_send_is_retried_through_the_event_retries(notification, dispatch, mailbox, query, monkeypatch):
    merchant, contact = new_id(), unique_email()
    monkeypatch.setitem(notification.config, "SMTP_PORT", free_port())  # nobody listens there
    event_id = new_id()
    with handling(notification, "email_payout_verification_code", event_id, succeeded=False) as failed:
        dispatch(code_requested(merchant, contact), event_id=event_id)
    with pytest.raises(ConnectionRefusedError):
        failed.get()
    [row] = query("SELECT status, last_error FROM notification.email_deliveries WHERE event_id = %s", (event_id,))
    assert row["status"] == "failed" and "ConnectionRefusedError" in row["last_error"]
    assert mailbox.to(contact) == []

    monkeypatch.setitem(notification.config, "SMTP_PORT", mailbox.port)  # the server is back
    [message] = wait_until(lambda: mailbox.to(contact), timeout=20)
    assert "4821 0937" in text_of(message)
    row = wait_until(lambda: query("SELECT status, attempts FROM notification.email_deliveries "
                                   "WHERE event_id = %s AND status = 'sent'", (event_id,)))[0]
    assert row["attempts"] == 2
    assert query("SELECT 1 FROM notification.parked_events WHERE event_id = %s", (event_id,)) == []


def test_a_try_that_stopped_mid_send_is_not_sent_again(deliver, mailbox, query):
    merchant, contact = new_id(), unique_email()
    event_id = new_id()
    # what a crash between claiming the delivery and recording its outcome leaves behind
    query("INSERT INTO notification.email_deliveries (id, event_id, kind, merchant_id, recipient, subject, status) "
          "VALUES (%s, %s, 'payout_verification_code', %s, %s, 'code', 'sending')",
          (new_id(), event_id, merchant, contact))
    deliver(code_requested(merchant, contact), "email_payout_verification_code",
            event_id=event_id)
    assert mailbox.to(contact) == []
    [row] = query("SELECT status FROM notification.email_deliveries WHERE event_id = %s", (event_id,))
    assert row["status"] == "unknown"


# -- customers: their own inbox, and email only with consent and while offline -----------------------
def customer(merchant_id, consent=True):
    customer_id = new_id()
    FakeCampaign.customers[customer_id] = {"merchant_id": merchant_id, "name": "Thandi",
                                           "email": "c-%s@example.com" % customer_id[:8], "phone": None,
                                           "email_consent": consent}
    return customer_id


def points(notification, dispatch, merchant_id, customer_id):
    event_id = new_id()
    with handling(notification, "notify_campaign_points_adjusted", event_id) as result:
        dispatch(example(PointsAdjusted, merchant_id=merchant_id, customer_id=customer_id, points=250,
                         reason="Birthday bonus"), event_id=event_id)
    result.get()
    return event_id


def app_of(as_user, merchant_id, customer_id):
    return dict(as_user("buyer_app", merchant_id=merchant_id), acting_customer_id=customer_id)


def test_an_offline_customer_with_consent_is_emailed_and_an_online_one_is_not(notification, dispatch, mailbox,
                                                                               query, as_user):
    merchant_id = new_id()
    away, here, unwilling = customer(merchant_id), customer(merchant_id), customer(merchant_id, consent=False)
    call(notification, "list_inbox", app_of(as_user, merchant_id, here), {})  # the app is open: online
    events = {who: points(notification, dispatch, merchant_id, who) for who in (away, here, unwilling)}

    [mail] = wait_until(lambda: mailbox.to(FakeCampaign.customers[away]["email"]))
    assert "250 points: Birthday bonus" in mail.get_body(("plain",)).get_content()
    for who in (here, unwilling):
        rows = query("SELECT channel FROM notification.deliveries WHERE event_id = %s", (events[who],))
        assert [row["channel"] for row in rows] == ["inbox"]  # the inbox only: online, or no consent
    for who in (away, here, unwilling):
        [message] = call(notification, "list_inbox", app_of(as_user, merchant_id, who), {})["items"]
        assert message["kind"] == "points"


def test_a_buyer_app_reads_only_the_customer_it_acts_for(notification, dispatch, as_user):
    merchant_id = new_id()
    first, second = customer(merchant_id), customer(merchant_id)
    points(notification, dispatch, merchant_id, first)
    assert call(notification, "list_inbox", app_of(as_user, merchant_id, second), {})["items"] == []
    [message] = call(notification, "list_inbox", app_of(as_user, merchant_id, first), {})["items"]
    with pytest.raises(NotFound):
        call(notification, "mark_read", app_of(as_user, merchant_id, second), message["id"])
    assert call(notification, "mark_read", app_of(as_user, merchant_id, first), message["id"]) == {"unread_count": 0}
