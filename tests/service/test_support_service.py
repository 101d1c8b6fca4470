"""The support service in a real container, on this run's PostgreSQL and RabbitMQ."""
from datetime import datetime, timedelta

import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from plumbing.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from services.support.contract.enums import RESOLUTION_ACTIONS
from services.settlement.contract.events import ExceptionRaised
from services.support.service import SupportService
from tests.events import example
from tests.service.conftest import call, handling, new_id, started


@pytest.fixture(scope="module")
def support(make_config):
    with started(SupportService, make_config("support")) as container:
        yield container


@pytest.fixture
def merchant(as_user):
    """A new merchant with two stores and a user of each role (context data for ``call``)."""
    merchant_id, store_a, store_b = new_id(), new_id(), new_id()
    users = {role: as_user(role, merchant_id=merchant_id) for role in ("owner", "support_agent", "finance")}
    users["store_user"] = as_user("store_user", merchant_id=merchant_id, store_id=store_a)
    users["store_user_b"] = as_user("store_user", merchant_id=merchant_id, store_id=store_b)
    return {"id": merchant_id, "store_a": store_a, "store_b": store_b, **users}


def ticket(**overrides):
    data = {"subject": "Wallet setup", "description": "The owner needs to confirm the address.",
            "category": "wallet", "priority": "normal"}
    data.update(overrides)
    return data


def create(support, user, **overrides):
    return call(support, "create_ticket", user, ticket(**overrides))


def listed(support, user, **filters):
    return [t["reference"] for t in call(support, "list_tickets", user, filters)["items"]]


def app_error(error_type, fn, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        fn(*args, **kwargs)
    return raised.value


def settlement_exception(merchant_id, **overrides):
    return example(ExceptionRaised, **dict(dict(
        kind="payout_account_unconfirmed", merchant_id=merchant_id, store_id=None,
        batch_reference="SET-2026-05-004", amount=2500, currency="ZAR",
        message="The payout wallet address is not confirmed yet"), **overrides))


def sweep(support):
    """Run the SLA clock's timer once, now."""
    with entrypoint_hook(support, "flag_overdue_tickets") as hook:
        hook()


def deliver_exception(support, dispatch, event, event_id=None):
    event_id = event_id or new_id()
    with handling(support, "open_ticket_for_settlement_exception", event_id) as result:
        dispatch(event, event_id=event_id)
    result.get()


# -- tickets from settlement ------------------------------------------------------------------

def test_a_settlement_exception_opens_exactly_one_critical_ticket(support, dispatch, merchant, emitted):
    event = settlement_exception(merchant["id"], store_id=merchant["store_a"])
    event_id = new_id()
    deliver_exception(support, dispatch, event, event_id)
    deliver_exception(support, dispatch, event, event_id)  # redelivered
    deliver_exception(support, dispatch, event)  # another event for the same exception

    [opened] = call(support, "list_tickets", merchant["support_agent"])["items"]
    assert opened["reference"] == "SUP-101"
    assert (opened["priority"], opened["category"], opened["source"]) == ("critical", "settlement", "settlement")
    assert opened["status"] == "open" and opened["store_id"] == merchant["store_a"]
    assert opened["subject"] == "Payout wallet address not confirmed (SET-2026-05-004)"
    assert opened["refs"] == {
        "exception_id": event.exception_id, "exception_kind": "payout_account_unconfirmed",
        "batch_reference": "SET-2026-05-004", "batch_id": event.batch_id, "merchant_id": merchant["id"],
        "store_id": merchant["store_a"], "amount": 2500, "currency": "ZAR"}
    assert opened["raised_by"]["role"] == "system"

    [created] = emitted("support", "ticket_created", merchant_id=merchant["id"])
    assert (created["reference"], created["priority"], created["category"]) == ("SUP-101", "critical", "settlement")
    assert created["refs"] == opened["refs"]

    shown = call(support, "get_ticket", merchant["finance"], "SUP-101")
    assert [m["body"] for m in shown["messages"]] == [event.message]
    assert [(a["action"], a["actor"]["username"]) for a in shown["audit"]] == [("created", "settlement")]


def test_every_ticket_must_be_acknowledged_within_two_hours(support, merchant):
    opened = create(support, merchant["owner"])
    created = datetime.fromisoformat(opened["created_at"])
    assert datetime.fromisoformat(opened["ack_due_at"]) - created == timedelta(hours=2)


# -- numbers ------------------------------------------------------------------------------------

def test_numbers_are_per_merchant_and_start_at_sup_101(support, merchant, as_user):
    assert [create(support, merchant["owner"])["reference"] for _ in range(3)] == ["SUP-101", "SUP-102", "SUP-103"]
    other = new_id()
    assert create(support, as_user("owner", merchant_id=other))["reference"] == "SUP-101"
    assert create(support, merchant["store_user"])["reference"] == "SUP-104"


def test_tickets_created_at_the_same_moment_never_share_a_number(support, merchant, make_config, amqp_uri):
    # real RPC, one proxy per green thread: entrypoint_hook's waiter cannot tell concurrent
    # workers of one method apart; a standalone client, so as the broker admin
    def create_over_rpc(n):
        with ServiceRpcProxy("support", make_config("support", AMQP_URI=amqp_uri),
                             context_data=merchant["owner"], timeout=20) as proxy:
            return proxy.create_ticket(ticket(subject="Concurrent %d" % n))

    count = 8
    pile = eventlet.GreenPile(count)
    for n in range(count):
        pile.spawn(create_over_rpc, n)
    references = sorted(t["reference"] for t in pile)
    assert references == sorted("SUP-%d" % n for n in range(101, 101 + count))
    assert sorted(listed(support, merchant["owner"])) == references


# -- who sees what --------------------------------------------------------------------------------

def test_store_users_see_only_their_stores_tickets_and_never_the_internal_thread(support, merchant, query):
    for_a = create(support, merchant["owner"], store_id=merchant["store_a"])
    for_b = create(support, merchant["owner"], store_id=merchant["store_b"])
    create(support, merchant["owner"])  # no store: the merchant's own business
    # a store user's ticket is always their store's, whatever they name
    theirs = create(support, merchant["store_user"], store_id=merchant["store_b"])
    assert theirs["store_id"] == merchant["store_a"] and theirs["source"] == "store_user"

    mine = [for_a["reference"], theirs["reference"]]
    assert sorted(listed(support, merchant["store_user"])) == sorted(mine)
    assert sorted(listed(support, merchant["store_user"], store_id=merchant["store_b"])) == sorted(mine)
    assert listed(support, merchant["store_user_b"]) == [for_b["reference"]]
    assert len(listed(support, merchant["support_agent"])) == 4
    error = app_error(NotFound, call, support, "get_ticket", merchant["store_user"], for_b["reference"])
    assert error.code == "ticket_not_found"

    ticket_id = for_a["id"]
    query("INSERT INTO support.ticket_messages (id, ticket_id, thread, author, body) VALUES "
          "(%s, %s, 'internal', '{\"role\": \"support_agent\"}', 'Finance thinks the owner typo''d it')",
          (new_id(), ticket_id))
    as_store = call(support, "get_ticket", merchant["store_user"], for_a["reference"])
    assert [m["thread"] for m in as_store["messages"]] == ["main"]
    assert "audit" not in as_store
    as_agent = call(support, "get_ticket", merchant["support_agent"], for_a["reference"])
    assert sorted(m["thread"] for m in as_agent["messages"]) == ["internal", "main"]
    assert [a["action"] for a in as_agent["audit"]] == ["created"]


def test_store_users_may_not_acknowledge_or_resolve(support, merchant):
    opened = create(support, merchant["store_user"])
    for method, data in (("acknowledge_ticket", {"remarks": "seen"}),
                         ("resolve_ticket", {"action": "no_action", "resolution": "fine"})):
        error = app_error(Forbidden, call, support, method, merchant["store_user"], opened["reference"], data)
        assert error.code == "role_not_allowed"


def test_one_merchant_never_sees_another(support, merchant, as_user):
    opened = create(support, merchant["owner"])
    stranger = as_user("support_agent", merchant_id=new_id())
    assert listed(support, stranger) == []
    assert app_error(NotFound, call, support, "get_ticket", stranger, opened["reference"]).code == "ticket_not_found"
    assert app_error(Forbidden, call, support, "list_tickets", stranger,
                     {"merchant_id": merchant["id"]}).code == "merchant_forbidden"
    assert app_error(NotFound, call, support, "resolve_ticket", stranger, opened["reference"],
                     {"action": "no_action", "resolution": "not mine"}).code == "ticket_not_found"

    admin = as_user("admin")
    assert app_error(Forbidden, call, support, "list_tickets", admin, {}).code == "merchant_required"
    assert listed(support, admin, merchant_id=merchant["id"]) == [opened["reference"]]
    shown = call(support, "get_ticket", admin, opened["reference"], merchant["id"])
    assert shown["id"] == opened["id"]
    error = app_error(ValidationFailed, call, support, "get_ticket", admin, opened["reference"], "not-a-uuid")
    assert "merchant_id" in error.fields


# -- the queue ----------------------------------------------------------------------------------------

def test_the_queue_filters_by_priority_status_category_and_store(support, merchant, query):
    owner, agent = merchant["owner"], merchant["support_agent"]
    critical = create(support, owner, priority="critical", category="settlement", store_id=merchant["store_a"])
    wallet = create(support, owner, store_id=merchant["store_b"])
    training = create(support, owner, category="training", priority="low")
    acknowledged = create(support, owner, category="training")
    call(support, "acknowledge_ticket", agent, acknowledged["reference"], {"remarks": "On it"})
    resolved = create(support, owner, category="campaign")
    call(support, "resolve_ticket", agent, resolved["reference"], {"action": "no_action", "resolution": "Done"})
    late = create(support, owner, category="redemption")
    query("UPDATE support.tickets SET created_at = now() - interval '3 hours', "
          "ack_due_at = now() - interval '1 hour' WHERE id = %s", (late["id"],))
    sweep(support)  # the clock's timer flags it

    def refs(**filters):
        return sorted(listed(support, agent, **filters))

    assert refs(priority="critical") == [critical["reference"]]
    assert refs(priority="low") == [training["reference"]]
    assert refs(category="training") == sorted([training["reference"], acknowledged["reference"]])
    assert refs(store_id=merchant["store_b"]) == [wallet["reference"]]
    assert refs(status="processing") == [acknowledged["reference"]]
    assert refs(status="resolved") == [resolved["reference"]]
    assert refs(status="overdue") == [late["reference"]]
    assert refs(status="overdue", category="settlement") == []
    is_open = refs(status="open")
    assert {critical["reference"], wallet["reference"], training["reference"]} <= set(is_open)
    assert not {acknowledged["reference"], resolved["reference"]} & set(is_open)

    shown = {t["reference"]: t for t in call(support, "list_tickets", agent)["items"]}
    # overdue is a flag: the ticket is still where it is (open)
    assert (shown[late["reference"]]["status"], shown[late["reference"]]["overdue"]) == ("open", True)
    assert shown[late["reference"]]["overdue_reason"] == "first_response"
    statuses = {ref: t["status"] for ref, t in shown.items()}
    assert statuses[critical["reference"]] == "open"
    # acknowledging an overdue ticket takes it off the overdue list
    call(support, "acknowledge_ticket", agent, late["reference"], {"remarks": "Sorry for the wait"})
    assert refs(status="overdue") == []

    for bad in ({"priority": "urgent"}, {"status": "lost"}, {"category": "nope"}, {"store_id": "x"},
                {"limit": 0}, {"limit": 201}):
        error = app_error(ValidationFailed, call, support, "list_tickets", agent, bad)
        assert set(error.fields) == set(bad)


def test_the_queue_pages_through_every_ticket_exactly_once(support, merchant):
    made = [create(support, merchant["owner"], subject="Ticket %d" % n)["reference"] for n in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = call(support, "list_tickets", merchant["support_agent"], {"limit": 3, "cursor": cursor})
        pages += 1
        seen.extend(t["reference"] for t in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))  # newest first, each once
    error = app_error(BadRequest, call, support, "list_tickets", merchant["support_agent"], {"cursor": "nonsense"})
    assert error.code == "invalid_cursor"


# -- working a ticket ----------------------------------------------------------------------------------

def test_a_ticket_is_acknowledged_once(support, merchant, emitted):
    opened = create(support, merchant["store_user"])
    shown = call(support, "acknowledge_ticket", merchant["support_agent"], opened["reference"],
                 {"remarks": "We are looking into it"})
    assert shown["status"] == "processing" and shown["acknowledged_at"]
    assert [(m["thread"], m["body"]) for m in shown["messages"]] == [
        ("main", opened["description"]), ("main", "We are looking into it")]
    error = app_error(Conflict, call, support, "acknowledge_ticket", merchant["owner"], opened["reference"],
                      {"remarks": "Me too"})
    assert (error.status, error.code) == (409, "illegal_transition")
    assert error.fields == {"status": ["processing"]} and "processing" in error.message
    assert [e["reference"] for e in emitted("support", "ticket_acknowledged", merchant_id=merchant["id"])] == \
        [opened["reference"]]
    # the store user sees the acknowledgement: it is on the main thread
    as_store = call(support, "get_ticket", merchant["store_user"], opened["reference"])
    assert as_store["messages"][-1]["body"] == "We are looking into it"
    error = app_error(ValidationFailed, call, support, "acknowledge_ticket", merchant["owner"],
                      opened["reference"], {})
    assert "remarks" in error.fields


@pytest.mark.parametrize("action", RESOLUTION_ACTIONS)
def test_a_ticket_is_resolved_with_each_action(support, merchant, emitted, action):
    opened = create(support, merchant["owner"], refs={"batch_reference": "SET-2026-05-004"})
    data = {"action": action, "resolution": "Handled: " + action, "remarks": "Called the owner"}
    if action == "refund":
        data.update(refund_amount=2500, currency="ZAR")
    shown = call(support, "resolve_ticket", merchant["support_agent"], opened["reference"], data)
    assert shown["status"] == "resolved" and shown["resolved_at"]
    assert shown["acknowledged_at"]  # resolving answers the ticket too: never overdue afterwards
    assert {k: shown["resolution"][k] for k in data} == data
    assert shown["resolution"]["resolved_by"]["role"] == "support_agent"
    [resolved] = emitted("support", "ticket_resolved", merchant_id=merchant["id"])
    assert (resolved["reference"], resolved["action"], resolved["refs"]) == \
        (opened["reference"], action, {"batch_reference": "SET-2026-05-004"})
    error = app_error(Conflict, call, support, "resolve_ticket", merchant["owner"], opened["reference"], data)
    assert (error.status, error.code, error.fields) == (409, "illegal_transition", {"status": ["resolved"]})


def test_resolving_a_settlement_ticket_carries_its_exception_back(support, dispatch, merchant, emitted):
    event = settlement_exception(merchant["id"])
    deliver_exception(support, dispatch, event)
    call(support, "resolve_ticket", merchant["finance"], "SUP-101",
         {"action": "no_action", "resolution": "Owner confirmed the wallet by phone"})
    [resolved] = emitted("support", "ticket_resolved", merchant_id=merchant["id"])
    assert resolved["refs"]["exception_id"] == event.exception_id
    assert resolved["refs"]["batch_reference"] == "SET-2026-05-004"
    assert resolved["resolved_by"]["role"] == "finance"


def test_a_bad_resolution_names_its_fields_and_changes_nothing(support, merchant):
    opened = create(support, merchant["owner"])
    error = app_error(ValidationFailed, call, support, "resolve_ticket", merchant["support_agent"],
                      opened["reference"], {"action": "shrug", "resolution": ""})
    assert set(error.fields) == {"action", "resolution"}
    assert call(support, "get_ticket", merchant["owner"], opened["reference"])["status"] == "open"
    error = app_error(NotFound, call, support, "resolve_ticket", merchant["support_agent"], "SUP-999",
                      {"action": "refund", "resolution": "Refunded", "refund_amount": 100, "currency": "ZAR"})
    assert error.code == "ticket_not_found"


def test_the_audit_trail_says_who_did_what(support, merchant, as_user):
    merchant_id = merchant["id"]
    owner = as_user("owner", merchant_id=merchant_id, username="olivia")
    agent = as_user("support_agent", merchant_id=merchant_id, username="sam")
    finance = as_user("finance", merchant_id=merchant_id, username="fiona")
    opened = create(support, owner)
    call(support, "acknowledge_ticket", agent, opened["reference"], {"remarks": "Looking"})
    call(support, "resolve_ticket", finance, opened["reference"],
         {"action": "refund", "resolution": "Refunded", "remarks": "Paid back in full", "refund_amount": 1500,
          "currency": "ZAR"})
    trail = call(support, "get_ticket", agent, opened["reference"])["audit"]
    assert [(a["action"], a["actor"]["username"], a["actor"]["role"]) for a in trail] == [
        ("created", "olivia", "owner"), ("acknowledged", "sam", "support_agent"),
        ("resolved", "fiona", "finance")]
    assert trail[0]["details"] == {"priority": "normal", "category": "wallet", "source": "owner", "duplicate_of": None}
    assert trail[2]["details"] == {"action": "refund", "remarks": "Paid back in full", "refund_amount": 1500,
                                   "currency": "ZAR"}


def test_a_bad_ticket_is_refused_field_by_field_and_nothing_is_left_behind(support, merchant):
    error = app_error(ValidationFailed, call, support, "create_ticket", merchant["owner"], {
        "subject": "Hi", "description": "", "category": "gossip", "priority": "whenever",
        "refs": {"exception_id": new_id()}})
    assert set(error.fields) == {"subject", "description", "category", "priority", "refs.exception_id"}
    assert listed(support, merchant["owner"]) == []
    assert create(support, merchant["owner"])["reference"] == "SUP-101"  # no number was used up
