"""Typed events: what a publisher builds is checked at once, and a consumer gets an object."""
import json
import uuid
from datetime import datetime, timezone

import pytest
from marshmallow import fields

from plumbing.contracts import Event, InvalidEvent, event_of
from plumbing.fields import AwareDateTime, Id, Money


class Sample(Event):
    event_source, event_type = "redemption", "sample_happened"
    sample_id = Id(required=True)
    amount = Money(required=True)
    note = fields.String(load_default=None, allow_none=True)
    at = AwareDateTime(required=True)


def build(**overrides):
    values = dict(sample_id=uuid.uuid4(), amount=1050, at=datetime(2026, 5, 4, 3, 2, 1, tzinfo=timezone.utc))
    values.update(overrides)
    return Sample.of(**values)


def test_a_payload_survives_the_wire_as_an_equal_object():
    payload = build(note="till 3")
    wire = json.loads(json.dumps(Sample.to_wire(payload)))
    assert wire["at"] == "2026-05-04T03:02:01+00:00"
    assert Sample.from_wire(wire) == payload
    assert Sample.from_wire(wire).amount == 1050


def test_the_publisher_hears_of_a_bad_payload_before_anything_is_sent():
    with pytest.raises(InvalidEvent) as refused:
        Sample.of(sample_id="not-an-id", amount=10.5)
    assert "sample_id" in str(refused.value) and "amount" in str(refused.value) and "at" in str(refused.value)
    with pytest.raises(InvalidEvent):
        build(unexpected="field")  # a typo in the publisher is not silently dropped


def test_a_consumer_ignores_fields_it_does_not_know_yet():
    wire = dict(Sample.to_wire(build()), added_later=True)
    assert not hasattr(Sample.from_wire(wire), "added_later")


def test_a_consumer_refuses_a_payload_its_contract_refuses():
    wire = Sample.to_wire(build())
    del wire["amount"]
    with pytest.raises(InvalidEvent):
        Sample.from_wire(wire)
    with pytest.raises(InvalidEvent):
        Sample.from_wire(["not", "an", "object"])


def test_payloads_are_immutable_and_know_their_event():
    payload = build()
    with pytest.raises(Exception):
        payload.amount = 1
    assert event_of(payload) is Sample
    assert Sample.key() == "redemption.sample_happened"
    with pytest.raises(InvalidEvent):
        event_of({"amount": 1})
    with pytest.raises(InvalidEvent):
        Sample.to_wire({"amount": 1})


def test_a_service_emits_only_its_own_events_and_only_typed_payloads():
    from types import SimpleNamespace

    from plumbing.outbox import EventWriter
    from services.redemption.contract.events import VoucherRedeemed
    from tests.events import example

    writer = EventWriter(SimpleNamespace(service="settlement", database=None), worker_ctx=None)
    with pytest.raises(InvalidEvent, match="settlement may not publish redemption.voucher_redeemed"):
        writer.emit(example(VoucherRedeemed))  # refused before anything is written
    with pytest.raises(InvalidEvent):
        writer.emit({"redemption_id": "not built by its contract"})


def test_a_redemption_without_campaign_or_points_is_routed_apart():
    from plumbing.events import binding_key
    from services.redemption.contract.events import VoucherRedeemed
    from services.support.contract.events import TicketCreated

    plain = {"campaign_id": None, "points_reservation_id": None}
    assert VoucherRedeemed.routing_key(plain) == "voucher_redeemed.plain"
    assert VoucherRedeemed.routing_key(dict(plain, campaign_id=str(uuid.uuid4()))) == "voucher_redeemed"
    assert VoucherRedeemed.routing_key(dict(plain, points_reservation_id=str(uuid.uuid4()))) == "voucher_redeemed"
    assert TicketCreated.routing_key({}) == "ticket_created"  # no qualifier: the bare type
    assert binding_key("voucher_redeemed") == "voucher_redeemed.#"
    assert binding_key("voucher_redeemed", narrow=True) == "voucher_redeemed"


def test_a_narrow_handler_skips_what_an_older_publisher_sent_under_the_bare_type():
    """It acknowledges the plain one without starting a worker, and hands on the one it wants."""
    from types import SimpleNamespace

    from plumbing.events import ReliableEventHandler
    from services.redemption.contract.events import VoucherRedeemed
    from tests.events import example

    handler = ReliableEventHandler(VoucherRedeemed, narrow=True)
    handler.checks_publisher = False
    handler.container = SimpleNamespace(service_name="campaign")
    handler.method_name = "spend_budget_and_points"
    acked, started, counted = [], [], []
    handler.registry = SimpleNamespace(events_handled=SimpleNamespace(
        labels=lambda *labels: SimpleNamespace(inc=lambda: counted.append(labels))))
    handler.ack = acked.append
    handler.start_worker = lambda event, message: started.append(message)
    handler.batch = False
    plain, wanted = (SimpleNamespace(properties={}, headers={}) for _ in range(2))
    wire = VoucherRedeemed.to_wire(example(VoucherRedeemed, campaign_id=None, points_reservation_id=None))
    handler.handle_message(wire, plain)
    assert acked == [plain] and started == []
    assert counted == [("campaign", "spend_budget_and_points", "skipped")]
    handler.handle_message(dict(wire, campaign_id=str(uuid.uuid4())), wanted)
    assert acked == [plain] and started == [wanted]
