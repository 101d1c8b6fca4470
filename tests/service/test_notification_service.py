"""The notification service in a real container, on this run's PostgreSQL and RabbitMQ."""
import pytest

from plumbing.errors import NotFound, Unauthenticated, ValidationFailed
from services.notification.service import NotificationService
from services.support.contract.events import TicketCreated
from tests.events import example
from tests.service.conftest import call, handling, new_id, started
from tests.service.directory import fake_gateway, people  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def notification(make_config, fake_gateway):
    with started(NotificationService, make_config("notification")) as container:
        yield container


@pytest.fixture
def merchant(people):
    merchant_id = new_id()
    users = {role: people.add(role, merchant_id) for role in ("owner", "support_agent", "finance")}
    users["store_user"] = people.add("store_user", merchant_id, store_id=new_id())
    users["finance_2"] = people.add("finance", merchant_id)
    return dict(users, id=merchant_id)


def ticket_created(merchant_id, reference, priority="critical", category="settlement", refs=None):
    return example(TicketCreated, reference=reference, merchant_id=merchant_id,
                   subject="Payout wallet address not confirmed", category=category, priority=priority,
                   source="settlement", store_id=None,
                   refs=refs if refs is not None else {"batch_reference": "SET-2026-05-004",
                                                       "amount": 2500, "currency": "ZAR"})


@pytest.fixture
def deliver(notification, dispatch):
    """``deliver(event, event_id=None)``: dispatch a ``ticket_created`` and wait until it is handled."""
    def send(event, event_id=None):
        event_id = event_id or new_id()
        with handling(notification, "notify_support_ticket_created", event_id) as result:
            dispatch(event, event_id=event_id)
        result.get()
    return send


@pytest.fixture
def announce(deliver):
    """``announce(merchant_id, priority=..., category=..., refs=...)``: a new ticket; its reference."""
    numbers = iter(range(101, 10000))

    def send(merchant_id, **kwargs):
        reference = "SUP-%d" % next(numbers)
        deliver(ticket_created(merchant_id, reference, **kwargs))
        return reference
    return send


def inbox(notification, user, **filters):
    return call(notification, "list_inbox", {"auth_token": user["auth_token"]}, filters)


def app_error(error_type, fn, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        fn(*args, **kwargs)
    return raised.value


def test_a_critical_ticket_reaches_the_support_panel_and_finance_once(notification, deliver, merchant,
                                                                      query, as_user):
    reference = "SUP-101"
    event, event_id = ticket_created(merchant["id"], reference), new_id()
    deliver(event, event_id)
    deliver(event, event_id)  # redelivered: nothing more

    # one message per person of the support panel, and finance (every finance user)
    rows = query("SELECT user_id FROM notification.inbox_messages WHERE merchant_id = %s", (merchant["id"],))
    assert sorted(row["user_id"] for row in rows) == sorted(
        merchant[role]["user_id"] for role in ("owner", "support_agent", "finance", "finance_2"))
    deliveries = query("SELECT channel, count(*) AS n FROM notification.deliveries WHERE event_id = %s "
                       "GROUP BY channel", (event_id,))
    assert [(row["channel"], row["n"]) for row in deliveries] == [("inbox", 4)]

    for role in ("owner", "support_agent", "finance", "finance_2"):
        seen = inbox(notification, merchant[role])
        assert seen["unread_count"] == 1 and seen["next"] is None
        [message] = seen["items"]
        assert message["kind"] == "ticket_created" and message["read"] is False
        assert message["title"] == "Critical ticket " + reference
        assert message["body"] == "%s Payout wallet address not confirmed (critical priority), " \
                                  "amount ZAR 25.00" % reference
        assert message["refs"]["ticket_reference"] == reference
        assert message["refs"]["batch_reference"] == "SET-2026-05-004"

    # the store user of another store, another merchant's finance user, an admin: none of theirs
    nobody = [merchant["store_user"], as_user("finance", merchant_id=new_id()), as_user("admin")]
    for user in nobody:
        assert inbox(notification, user) == {"items": [], "next": None, "unread_count": 0}


def test_an_everyday_ticket_is_not_for_finance(notification, announce, merchant):
    reference = announce(merchant["id"], priority="normal", category="wallet", refs={})
    for role in ("owner", "support_agent"):
        [message] = inbox(notification, merchant[role])["items"]
        assert message["title"] == "New ticket " + reference
    assert inbox(notification, merchant["finance"])["items"] == []
    announce(merchant["id"], priority="normal", category="settlement")
    assert inbox(notification, merchant["finance"])["unread_count"] == 1


def test_unread_counts_and_marking_read(notification, announce, merchant):
    finance = merchant["finance"]
    for _ in range(3):
        announce(merchant["id"])
    items = inbox(notification, finance)["items"]
    assert inbox(notification, finance)["unread_count"] == 3

    assert call(notification, "mark_read", finance, items[1]["id"]) == {"unread_count": 2}
    assert call(notification, "mark_read", finance, items[1]["id"]) == {"unread_count": 2}  # once is enough
    after = inbox(notification, finance)
    assert [m["read"] for m in after["items"]] == [False, True, False]
    assert after["unread_count"] == 2
    assert [m["id"] for m in inbox(notification, finance, unread_only=True)["items"]] == \
        [items[0]["id"], items[2]["id"]]
    # read marks are each user's own
    assert inbox(notification, merchant["finance_2"])["unread_count"] == 3

    assert call(notification, "mark_all_read", finance) == {"unread_count": 0}
    assert inbox(notification, finance)["unread_count"] == 0
    assert all(m["read"] for m in inbox(notification, finance)["items"])
    assert inbox(notification, finance, unread_only=True)["items"] == []
    assert inbox(notification, merchant["owner"])["unread_count"] == 3

    announce(merchant["id"])  # news after "mark all read" is unread
    assert inbox(notification, finance)["unread_count"] == 1


def test_someone_elses_message_cannot_be_marked(notification, announce, merchant, as_user):
    announce(merchant["id"], priority="normal", category="settlement")
    [for_finance] = inbox(notification, merchant["finance"])["items"]
    strangers = [merchant["store_user"], merchant["owner"], as_user("finance", merchant_id=new_id()),
                 as_user("admin")]
    for user in strangers:
        error = app_error(NotFound, call, notification, "mark_read", user, for_finance["id"])
        assert (error.status, error.code) == (404, "message_not_found")
    assert app_error(NotFound, call, notification, "mark_read", merchant["finance"], new_id()).code == \
        "message_not_found"
    error = app_error(ValidationFailed, call, notification, "mark_read", merchant["finance"], "not-a-uuid")
    assert "message_id" in error.fields
    # marking all read touches only what the caller can see
    call(notification, "mark_all_read", merchant["owner"])
    assert inbox(notification, merchant["finance"])["unread_count"] == 1


def test_the_inbox_pages_through_every_message_exactly_once(notification, announce, merchant):
    references = [announce(merchant["id"]) for _ in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        page = inbox(notification, merchant["finance"], limit=2, cursor=cursor)
        pages += 1
        seen.extend(m["refs"]["ticket_reference"] for m in page["items"])
        assert page["unread_count"] == 5
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(references))  # newest first, each once


def test_bad_filters_and_missing_tokens_get_clear_answers(notification, merchant):
    for bad in ({"limit": 0}, {"limit": 500}, {"unread_only": "perhaps"}):
        error = app_error(ValidationFailed, call, notification, "list_inbox", merchant["owner"], bad)
        assert set(error.fields) == set(bad)
    error = app_error(Unauthenticated, call, notification, "list_inbox", {}, {})
    assert error.code == "token_missing"
