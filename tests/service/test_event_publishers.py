"""Events only from their owner: settlement books and resolves only what redemption and support
published themselves.

Every event carries ``user_id``, which RabbitMQ checks against the publishing connection. Here
forgeries are published on the right exchanges by a user that is not the owner's (the run's admin,
as someone holding the old shared credentials would), and legitimate events are dispatched as the
owners' own broker users; settlement must park the forgeries with the reason and never apply them.
"""
import pytest
from nameko.amqp.publish import Publisher
from nameko.constants import PERSISTENT

from plumbing.broker import user_of
from plumbing.metrics import MetricsRegistry
from services.settlement.service import SettlementService
from services.support.contract.events import TicketResolved
from tests.events import as_wire, example, wire
from tests.service.conftest import call, handling, new_id, started, wait_until
from tests.service.test_settlement_service import LAST_MONTH, redemption, reversal_of


@pytest.fixture(scope="module")
def settlement(make_config, broker_users):
    if not broker_users:
        pytest.skip("no broker user per component could be created on this broker")
    with started(SettlementService, make_config("settlement", EVENT_RETRY_DELAYS=[0.2, 0.4])) as c:
        yield c


@pytest.fixture
def rpc(settlement, as_user):
    def invoke(method, role, merchant_id, *args):
        return call(settlement, method, as_user(role, merchant_id=merchant_id), *args)
    return invoke


@pytest.fixture
def parked(query):
    """``parked(event_id, count=1)``: the settlement's parked rows for that event, once there are ``count``."""
    def wait(event_id, count=1):
        return wait_until(lambda: (lambda rows: rows if len(rows) >= count else None)(query(
            "SELECT id, handler, error, attempts, headers, replayed_at FROM settlement.parked_events "
            "WHERE event_id = %s ORDER BY id", (event_id,))))
    return wait


def entries(rpc, merchant_id):
    return rpc("list_entries", "finance", merchant_id, {})["items"]


def refused_count(settlement, handler):
    registry = settlement.shared_extensions[MetricsRegistry]
    return registry.registry.get_sample_value(
        "vowrewards_events_handled_total",
        {"service": "settlement", "handler": handler, "outcome": "refused"}) or 0


def test_a_voucher_redeemed_published_by_another_user_is_parked_not_booked(
        settlement, rpc, publish_as, amqp_uri, parked, query):
    merchant = new_id()
    before = refused_count(settlement, "record_redemption")
    event_id = publish_as(amqp_uri, "redemption", "voucher_redeemed", as_wire(redemption(merchant, 100)))

    [row] = parked(event_id)
    assert row["handler"] == "record_redemption"
    assert row["error"] == "forged_publisher: user_id %s is not redemption's" % user_of(amqp_uri)
    assert entries(rpc, merchant) == []
    assert query("SELECT 1 FROM settlement.handled_events WHERE event_id = %s", (event_id,)) == []
    assert refused_count(settlement, "record_redemption") == before + 1


def test_a_voucher_redeemed_its_contract_refuses_is_parked_at_once_not_booked(
        settlement, rpc, dispatch, publish_as, broker_users, parked):
    merchant = new_id()
    wire = as_wire(redemption(merchant, 100))
    del wire["amount"]  # from redemption itself, but without the amount: nothing to book
    event_id = publish_as(broker_users["redemption"]["uri"], "redemption", "voucher_redeemed", wire)
    [row] = parked(event_id)
    assert row["handler"] == "record_redemption" and row["attempts"] == 0
    assert row["error"].startswith("invalid_event: redemption.voucher_redeemed: ") and "amount" in row["error"]
    assert entries(rpc, merchant) == []


def test_an_event_without_a_user_id_is_parked(settlement, rpc, amqp_uri, parked):
    merchant = new_id()
    event_id = new_id()
    Publisher(amqp_uri, use_confirms=True, delivery_mode=PERSISTENT, serializer="json").publish(
        as_wire(redemption(merchant, 100)), exchange="redemption.events", routing_key="voucher_redeemed",
        message_id=event_id, headers={"nameko.event_id": event_id})
    [row] = parked(event_id)
    assert row["error"] == "forged_publisher: user_id (none) is not redemption's"
    assert entries(rpc, merchant) == []


def test_a_claimed_publisher_header_is_not_believed_from_another_user(
        settlement, rpc, publish_as, amqp_uri, broker_users, parked):
    merchant = new_id()
    event_id = publish_as(amqp_uri, "redemption", "voucher_redeemed", as_wire(redemption(merchant, 100)),
                          headers={"x-vow-publisher": broker_users["redemption"]["user"]})
    [row] = parked(event_id)
    assert row["error"].startswith("forged_publisher: user_id %s " % user_of(amqp_uri))
    assert entries(rpc, merchant) == []


def test_a_forged_ticket_resolved_does_not_resolve_the_exception(
        settlement, rpc, dispatch, publish_as, amqp_uri, parked):
    merchant = new_id()
    redeemed = redemption(merchant, 1800)
    for _ in range(2):  # the same redemption twice: a duplicate exception
        event_id = new_id()
        with handling(settlement, "record_redemption", event_id):
            dispatch(redeemed, event_id=event_id)
    [exception] = rpc("list_exceptions", "finance", merchant)["items"]
    assert exception["status"] == "open"

    forged = publish_as(amqp_uri, "support", "ticket_resolved", wire(
        TicketResolved, reference="SUP-1", merchant_id=merchant, action="no_action", resolution="forged",
        refs={"exception_id": exception["id"]}))
    [row] = parked(forged)
    assert row["error"] == "forged_publisher: user_id %s is not support's" % user_of(amqp_uri)
    assert [e["status"] for e in rpc("list_exceptions", "finance", merchant)["items"]] == ["open"]

    # the same resolution from support itself does resolve it
    event_id = new_id()
    with handling(settlement, "resolve_exception_from_ticket", event_id):
        dispatch(example(TicketResolved, reference="SUP-1", merchant_id=merchant, action="no_action",
                         resolution="done", refs={"exception_id": exception["id"]}), event_id=event_id)
    assert [e["status"] for e in rpc("list_exceptions", "finance", merchant)["items"]] == ["resolved"]


def test_an_event_from_its_owner_is_booked(settlement, rpc, dispatch):
    merchant = new_id()
    event_id = new_id()
    with handling(settlement, "record_redemption", event_id, succeeded=True):
        dispatch(redemption(merchant, 2500), event_id=event_id)
    assert [e["amount"] for e in entries(rpc, merchant)] == [2500]


def test_a_retried_event_keeps_its_publisher_and_applies(settlement, rpc, dispatch, query):
    """settlement re-publishes a failed event to its retry queue itself: the retry still counts as redemption's."""
    merchant = new_id()
    redeemed = redemption(merchant, 4000)
    reversal_id = new_id()
    with handling(settlement, "record_reversal", reversal_id, succeeded=False):
        dispatch(reversal_of(redeemed), event_id=reversal_id)
    with handling(settlement, "record_reversal", reversal_id, succeeded=True, timeout=20):
        event_id = new_id()
        dispatch(redeemed, event_id=event_id)
    assert sorted(e["amount"] for e in entries(rpc, merchant)) == [-4000, 4000]
    assert query("SELECT 1 FROM settlement.parked_events WHERE event_id = %s", (reversal_id,)) == []


def test_a_replayed_forgery_is_parked_again(settlement, rpc, publish_as, amqp_uri, as_user, parked):
    merchant = new_id()
    event_id = publish_as(amqp_uri, "redemption", "voucher_redeemed", as_wire(redemption(merchant, 100)))
    [first] = parked(event_id)

    call(settlement, "replay_parked_event", as_user("admin"), first["id"])
    first_again, second = parked(event_id, count=2)
    assert first_again["replayed_at"] is not None
    assert second["error"] == first["error"]  # still the admin's, not settlement's own replay
    assert entries(rpc, merchant) == []


def test_a_replayed_legitimate_event_applies(settlement, rpc, dispatch, broker_users, as_user, parked):
    """A reversal that failed every retry is parked with redemption as its publisher; replayed once
    its redemption is booked, it applies."""
    merchant = new_id()
    redeemed = redemption(merchant, 700, at=LAST_MONTH)
    reversal_id = new_id()
    dispatch(reversal_of(redeemed), event_id=reversal_id)
    [row] = parked(reversal_id)
    assert row["error"].startswith("LookupError") and row["attempts"] == 3
    assert row["headers"]["x-vow-publisher"] == broker_users["redemption"]["user"]

    event_id = new_id()
    with handling(settlement, "record_redemption", event_id):
        dispatch(redeemed, event_id=event_id)
    with handling(settlement, "record_reversal", reversal_id, succeeded=True):
        call(settlement, "replay_parked_event", as_user("admin"), row["id"])
    assert sorted(e["amount"] for e in entries(rpc, merchant)) == [-700, 700]
