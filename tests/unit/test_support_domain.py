"""Ticket rules without a database: numbers, the two-hour acknowledgement, settlement tickets."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.settlement.contract.events import ExceptionRaised
from services.support import domain
from plumbing.errors import Conflict, ValidationFailed
from services.support.contract.enums import CATEGORIES, PRIORITIES, STATUSES
from services.support.contract.schemas import TicketRefsSchema
from tests.events import example

CREATED = datetime(2026, 5, 17, 9, 0, tzinfo=timezone.utc)
MERCHANT = str(uuid.uuid4())
STORE = str(uuid.uuid4())


def ticket(status="open", acknowledged_at=None, created_at=CREATED, **more):
    return dict({"reference": "SUP-104", "status": status, "acknowledged_at": acknowledged_at,
                 "created_at": created_at, "ack_due_at": domain.ack_due(created_at), "waiting_on": None,
                 "next_response_due_at": None, "resolution_due_at": None, "resolved_at": None,
                 "escalation_level": None}, **more)


def test_references_read_sup_and_the_number():
    assert domain.reference(domain.FIRST_NUMBER) == "SUP-101"
    assert domain.reference(104) == "SUP-104"
    assert domain.reference(1000) == "SUP-1000"


def test_a_ticket_must_be_acknowledged_within_two_hours():
    assert domain.ack_due(CREATED) == datetime(2026, 5, 17, 11, 0, tzinfo=timezone.utc)
    assert domain.ACKNOWLEDGE_WITHIN == timedelta(hours=2)


def test_an_open_ticket_is_overdue_only_after_its_deadline():
    due = domain.ack_due(CREATED)
    assert not domain.is_overdue(ticket(), CREATED)
    assert not domain.is_overdue(ticket(), due)  # at the deadline it is still in time
    assert domain.is_overdue(ticket(), due + timedelta(seconds=1))
    assert domain.breach(ticket(), due + timedelta(minutes=1)) == ("first_response", due)


def test_next_response_and_resolution_deadlines_are_breaches_too():
    now = CREATED + timedelta(hours=5)
    answered = ticket("processing", acknowledged_at=CREATED + timedelta(minutes=5))
    assert domain.breach(answered, now) is None
    late_reply = dict(answered, next_response_due_at=now - timedelta(minutes=1))
    assert domain.breach(late_reply, now)[0] == "next_response"
    late_fix = dict(answered, resolution_due_at=now - timedelta(minutes=1))
    assert domain.breach(late_fix, now)[0] == "resolution"
    assert not domain.is_overdue(dict(late_fix, waiting_on="partner"), now)  # the clock is paused


@pytest.mark.parametrize("status,acknowledged", [
    ("open", True), ("processing", True), ("resolved", True), ("resolved", False), ("closed", False)])
def test_acknowledged_resolved_or_closed_tickets_are_never_overdue(status, acknowledged):
    late = CREATED + timedelta(days=3)
    row = ticket(status, acknowledged_at=CREATED + timedelta(hours=1) if acknowledged else None)
    assert not domain.is_overdue(row, late)


# -- the state machine ----------------------------------------------------------------------------
LEGAL = {
    ("open", "acknowledge"): "processing", ("open", "resolve"): "resolved", ("processing", "resolve"): "resolved",
    ("resolved", "close"): "closed", ("open", "close"): "closed", ("processing", "close"): "closed",
    ("resolved", "reopen"): "open", ("closed", "reopen"): "open", ("open", "merge"): "closed",
    ("processing", "merge"): "closed",
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", sorted(domain.TRANSITIONS))
def test_every_transition_is_checked_and_an_illegal_one_names_the_current_state(status, action):
    allowed, target = domain.TRANSITIONS[action]
    if status in allowed:
        assert domain.check_transition(ticket(status), action) == (target or status)
        if target:
            assert LEGAL[(status, action)] == target
    else:
        with pytest.raises(Conflict) as refused:
            domain.check_transition(ticket(status), action)
        assert refused.value.status == 409 and refused.value.code == "illegal_transition"
        assert refused.value.fields == {"status": [status]} and status in refused.value.message


def test_a_closed_ticket_can_only_be_reopened_or_rated():
    assert sorted(a for a, (allowed, _) in domain.TRANSITIONS.items() if "closed" in allowed) == ["rate", "reopen"]


def test_escalation_climbs_the_chain_one_step_at_a_time():
    levels, row = [], ticket()
    for _ in range(3):
        row = dict(row, escalation_level=domain.next_level(row))
        levels.append(row["escalation_level"])
    assert levels == ["owner", "platform_support", "it_support"]
    with pytest.raises(Conflict):
        domain.next_level(row)


def test_igm_buyer_issues_name_the_order_and_bring_pictures_when_the_code_needs_them():
    with pytest.raises(ValidationFailed) as refused:
        domain.check_buyer_issue({"category": "item", "sub_category": "ITM02"}, 0)
    assert set(refused.value.fields) == {"order_id", "attachment_ids"}
    domain.check_buyer_issue({"category": "item", "sub_category": "ITM02", "order_id": "O-1"}, 1)
    domain.check_buyer_issue({"category": "item", "sub_category": "ITM01", "order_id": "O-1"}, 0)
    domain.check_buyer_issue({"category": "wallet"}, 0)  # the merchant's own categories need no order


def settlement_exception(kind, **overrides):
    return example(ExceptionRaised, **dict(dict(
        kind=kind, merchant_id=MERCHANT, store_id=STORE, batch_reference="SET-2026-05-004", amount=2500,
        currency="ZAR", message="Something to look into"), **overrides))


@pytest.mark.parametrize("kind", sorted(domain.EXCEPTION_TITLES))
def test_every_settlement_exception_becomes_a_critical_settlement_ticket(kind):
    event = settlement_exception(kind)
    fields = domain.ticket_from_settlement_exception(event)
    assert fields["priority"] == "critical"
    assert fields["category"] == "settlement"
    assert fields["source"] == "settlement"
    assert fields["store_id"] == STORE
    assert fields["subject"] == "%s (SET-2026-05-004)" % domain.EXCEPTION_TITLES[kind]
    assert fields["description"] == "Something to look into"
    assert fields["refs"] == {
        "exception_id": event.exception_id, "exception_kind": kind,
        "batch_reference": "SET-2026-05-004", "batch_id": event.batch_id,
        "merchant_id": MERCHANT, "store_id": STORE, "amount": 2500, "currency": "ZAR"}
    assert fields["category"] in CATEGORIES and fields["priority"] in PRIORITIES


def test_an_exception_without_a_batch_or_store_leaves_those_references_out():
    event = settlement_exception("duplicate", batch_id=None, batch_reference=None, store_id=None)
    fields = domain.ticket_from_settlement_exception(event)
    assert fields["subject"] == "Duplicate settlement record"
    assert fields["store_id"] is None
    assert set(fields["refs"]) == {"exception_id", "exception_kind", "merchant_id", "amount", "currency"}
    assert None not in fields["refs"].values()


def test_an_amount_of_zero_is_still_carried():
    fields = domain.ticket_from_settlement_exception(settlement_exception("payout_failed", amount=0))
    assert fields["refs"]["amount"] == 0


def test_a_kind_support_does_not_know_yet_still_opens_a_ticket():
    fields = domain.ticket_from_settlement_exception(settlement_exception("something_new"))
    assert fields["subject"] == "Settlement exception (SET-2026-05-004)"
    assert fields["priority"] == "critical"


def test_people_cannot_forge_the_references_of_a_settlement_ticket():
    # exception_id in refs resolves a settlement exception when the ticket is resolved;
    # only the settlement service's own event may put it there
    errors = TicketRefsSchema().validate({"exception_id": str(uuid.uuid4())})
    assert "exception_id" in errors


def test_every_settlement_exception_kind_has_a_title_of_its_own():
    from services.settlement.contract.enums import EXCEPTION_KINDS
    assert set(EXCEPTION_KINDS) <= set(domain.EXCEPTION_TITLES)


def test_the_attachment_backend_is_chosen_by_config_and_a_wrong_one_is_named(monkeypatch):
    import ssl

    import botocore.httpsession

    from services.support import attachments
    # botocore holds the SSLContext urllib3 had before tests/conftest.py patched ssl (see test_support_desk's s3)
    monkeypatch.setattr(botocore.httpsession, "SSLContext", ssl.SSLContext)
    settings = {"SUPPORT_ATTACHMENTS_DIR": "/srv/attachments"}
    store = attachments.store_from(settings.get)
    assert isinstance(store, attachments.FileStore) and store.directory == "/srv/attachments"
    with pytest.raises(ValueError, match="SUPPORT_ATTACHMENTS_BACKEND"):
        attachments.store_from({"SUPPORT_ATTACHMENTS_BACKEND": "ftp"}.get)
    with pytest.raises(ValueError, match="SUPPORT_ATTACHMENTS_S3_BUCKET"):
        attachments.store_from({"SUPPORT_ATTACHMENTS_BACKEND": "s3"}.get)
    s3 = attachments.store_from({"SUPPORT_ATTACHMENTS_BACKEND": "S3", "SUPPORT_ATTACHMENTS_S3_BUCKET": "files",
                                 "SUPPORT_ATTACHMENTS_S3_REGION": "af-south-1",
                                 "SUPPORT_ATTACHMENTS_S3_PREFIX": "support/"}.get)
    assert isinstance(s3, attachments.S3Store) and s3.name("abc") == "support/abc"
    with pytest.raises(ValueError):
        s3.name("../etc/passwd")  # a key is an id, never a path
