"""A realistic payload of every event, built through its publisher's contract (``Event.of``).

``example(VoucherRedeemed, merchant_id=m, amount=2500)`` is what a publisher would emit, with
what a test cares about overridden; ``wire(...)`` is its JSON form, as it travels. The contract
test (tests/unit/test_event_contracts.py) checks every event type has one here.
"""
import json
import uuid
from datetime import datetime, timedelta, timezone

from plumbing.contracts import event_of
from plumbing.revocation import SessionRevoked
from services.notification.contract.events import EmailReceived
from services.campaign.contract.events import (BudgetExhausted, CampaignChanged, CampaignCreated,
                                               FundingAgreementChanged, FundingAgreementCreated,
                                               IssuanceApprovalDecided, IssuanceApprovalRequested, PointsAdjusted,
                                               PointsEarned, PurchaseRecorded)
from services.redemption.contract.events import (RedemptionLockout, RedemptionReversed, VoucherBatchIssued,
                                                 VoucherCancelled, VoucherExpired, VoucherIssued, VoucherRedeemed)
from services.settlement.contract.events import (BatchClosed, BatchReleased, EntryRecorded, ExceptionRaised,
                                                 ExceptionResolved, PayoutAccountConfirmed, PayoutAccountRejected,
                                                 PayoutAccountSet, PayoutVerificationRequested)
from services.support.contract.events import (ConversationMessage, MessagePosted, TicketAcknowledged, TicketAssigned,
                                              TicketCascaded, TicketClosed, TicketCreated, TicketEscalated,
                                              TicketOverdue, TicketReopened, TicketResolved)

AT = datetime(2026, 5, 17, 9, 30, tzinfo=timezone.utc)


def new_id():
    return str(uuid.uuid4())


def actor(role="owner", username=None):
    return {"user_id": new_id(), "username": username or "%s-7QX" % role.replace("_", "-"), "role": role}


def ticket_facts(**values):
    """What every support ticket event says of its ticket, with ``values`` added or overridden."""
    return dict(dict(ticket_id=new_id(), reference="SUP-104", merchant_id=new_id(), store_id=new_id(),
                     priority="normal", category="item", status="open", assignee_id=None,
                     requester={"kind": "customer", "id": new_id()}, actor=actor("support_agent")), **values)


def unused_voucher(**values):
    return dict(dict(voucher_id=new_id(), merchant_id=new_id(), campaign_id=new_id(), batch_id=None,
                     funding_agreement_id=new_id(), unused_balance=None, unused_value=5000), **values)


EXAMPLES = {
    # redemption
    VoucherIssued: lambda: dict(
        voucher_id=new_id(), merchant_id=new_id(), kind="discount_fixed", currency="ZAR", value=5000,
        campaign_id=new_id(), customer_id=None, funding="platform", funding_agreement_id=new_id(),
        approval_id=None, issued_at=AT),
    VoucherBatchIssued: lambda: dict(
        batch_id=new_id(), merchant_id=new_id(), count=2000, campaign_id=None, funding="merchant",
        funding_agreement_id=None),
    VoucherRedeemed: lambda: dict(
        redemption_id=new_id(), reference="RD-7QXM2K9BHT", voucher_id=new_id(), merchant_id=new_id(),
        store_id=new_id(), amount=2500, currency="ZAR", points=0, points_value=0, points_reservation_id=None,
        campaign_id=None, funding="merchant", funding_agreement_id=None, customer_id=None, channel="pos",
        method="code", processed_by=actor("store_user"), redeemed_at=AT),
    RedemptionReversed: lambda: dict(
        redemption_id=new_id(), reference="RD-7QXM2K9BHT", voucher_id=new_id(), merchant_id=new_id(),
        store_id=new_id(), amount=2500, currency="ZAR", points=0, points_value=0, customer_id=None,
        campaign_id=None, reason="customer changed their mind", reversed_by=actor("owner"),
        reversed_at=AT + timedelta(hours=1)),
    RedemptionLockout: lambda: dict(
        scope="store", scope_id=new_id(), merchant_id=new_id(), store_id=new_id(), user=actor("store_user"),
        failures=40, locked_until=AT + timedelta(minutes=15)),
    VoucherCancelled: lambda: unused_voucher(reason="printed with the wrong value"),
    VoucherExpired: lambda: unused_voucher(),
    # settlement
    EntryRecorded: lambda: dict(
        entry_id=new_id(), kind="redemption", merchant_id=new_id(), redemption_id=new_id(), amount=2500,
        currency="ZAR"),
    BatchClosed: lambda: dict(
        batch_id=new_id(), reference="SET-2026-05-004", merchant_id=new_id(), period="2026-05", total=250000,
        currency="ZAR", entry_count=100, status="exception"),
    BatchReleased: lambda: dict(
        batch_id=new_id(), reference="SET-2026-05-004", merchant_id=new_id(), period="2026-05", total=250000,
        currency="ZAR", status="payout_pending", released_by=actor("platform_finance")),
    ExceptionRaised: lambda: dict(
        exception_id=new_id(), kind="payout_account_unconfirmed", merchant_id=new_id(), store_id=None,
        batch_id=new_id(), batch_reference="SET-2026-05-004", amount=250000, currency="ZAR",
        message="The payout wallet address vow-de…4KHB is not confirmed yet: batch SET-2026-05-004 cannot "
                "be paid out"),
    ExceptionResolved: lambda: dict(
        exception_id=new_id(), kind="payout_account_unconfirmed", merchant_id=new_id(),
        batch_reference="SET-2026-05-004", ticket_reference="SUP-104"),
    PayoutAccountSet: lambda: dict(
        merchant_id=new_id(), status="unconfirmed", wallet_address="vow-de…4KHB", previous_address="old-wa…9XYZ",
        set_by=actor("owner", "demo-owner"), set_at=AT, cooling_off_until=AT + timedelta(hours=72),
        contact_email="owner@demo.vowrewards.example", merchant_name="VowRewards Demo Merchant"),
    PayoutVerificationRequested: lambda: dict(
        verification_id=new_id(), merchant_id=new_id(), merchant_name="VowRewards Demo Merchant",
        contact_email="owner@demo.vowrewards.example", code="1234 5678", expires_at=AT + timedelta(minutes=30),
        wallet_address="vow-demo-wallet-7Q2M9X4KHB"),
    PayoutAccountRejected: lambda: dict(
        merchant_id=new_id(), wallet_address="vow-de…4KHB", reason="The owner did not recognise it when called",
        rejected_by=actor("platform_finance"), rejected_at=AT),
    PayoutAccountConfirmed: lambda: dict(
        merchant_id=new_id(), wallet_address="vow-de…4KHB", method="email_code",
        confirmed_by=actor("platform_finance"), confirmed_at=AT, payable_from=AT + timedelta(hours=72)),
    # support
    TicketCreated: lambda: ticket_facts(
        priority="critical", category="settlement", requester={"kind": "system", "id": "settlement"},
        actor=actor("system", "settlement"), subject="Payout wallet address not confirmed (SET-2026-05-004)",
        source="settlement",
        refs={"exception_id": new_id(), "exception_kind": "payout_account_unconfirmed",
              "batch_reference": "SET-2026-05-004", "amount": 250000, "currency": "ZAR"},
        created_at=AT, ack_due_at=AT + timedelta(hours=2)),
    TicketAssigned: lambda: ticket_facts(assignee_id=new_id(), previous_assignee_id=None),
    TicketAcknowledged: lambda: ticket_facts(status="processing", eta=AT + timedelta(days=1)),
    MessagePosted: lambda: ticket_facts(thread="main", message_id=new_id(), author=actor("support_agent"),
                                        body="We have asked the store to check the order."),
    TicketEscalated: lambda: ticket_facts(level="owner", reason="The customer asks for the manager"),
    TicketCascaded: lambda: ticket_facts(partner_client_id=new_id(), lsp_status="pending"),
    TicketOverdue: lambda: ticket_facts(reason="first_response", due_at=AT + timedelta(hours=2),
                                        actor=actor("system", "support")),
    TicketResolved: lambda: ticket_facts(
        status="resolved", action="no_action", resolution="Wallet confirmed by phone", refs={"exception_id": new_id()},
        resolved_by=actor("support_agent")),
    TicketClosed: lambda: ticket_facts(status="closed", rating=5),
    TicketReopened: lambda: ticket_facts(status="open", reason="The replacement never arrived"),
    ConversationMessage: lambda: dict(
        conversation_id=new_id(), merchant_id=new_id(), customer_id=new_id(), message_id=new_id(),
        author_kind="staff", body="Your voucher is valid until Friday.", customer_online=False),
    # campaign
    CampaignCreated: lambda: dict(
        campaign_id=new_id(), merchant_id=new_id(), name="Platform week", funding="platform",
        funding_agreement_id=new_id(), budget=None, currency="ZAR"),
    BudgetExhausted: lambda: dict(campaign_id=new_id(), merchant_id=new_id(), budget=100000, spent=100500),
    CampaignChanged: lambda: dict(
        campaign_id=new_id(), merchant_id=new_id(), version=3, action="pause", status="paused",
        pause_reason="stock ran out", valid_from=AT, valid_until=AT + timedelta(days=30),
        time_zone="Africa/Johannesburg", weekdays=[0, 1, 2, 3, 4], hours_from="08:00", hours_until="17:00",
        store_ids=None, reason="stock ran out", actor=actor("owner")),
    PointsEarned: lambda: dict(
        customer_id=new_id(), merchant_id=new_id(), purchase_id=new_id(), store_id=new_id(), points=120,
        campaign_ids=[new_id()]),
    PurchaseRecorded: lambda: dict(
        purchase_id=new_id(), merchant_id=new_id(), store_id=new_id(), customer_id=new_id(), amount=12000,
        currency="ZAR", receipt_id="R-000123", redemption_reference=None),
    PointsAdjusted: lambda: dict(
        customer_id=new_id(), merchant_id=new_id(), points=-250, reference="till-3-refund",
        reason="Returned goods", actor=actor("owner")),
    FundingAgreementCreated: lambda: dict(
        agreement_id=new_id(), merchant_id=new_id(), funder_kind="partner", funder_name="Acme Bank",
        currency="ZAR", budget=1000000, max_voucher_value=10000, created_by=actor("platform_finance")),
    FundingAgreementChanged: lambda: dict(
        agreement_id=new_id(), merchant_id=new_id(), action="suspend", status="suspended",
        reason="Partner paused the programme", changed_by=actor("admin")),
    IssuanceApprovalRequested: lambda: dict(
        approval_id=new_id(), merchant_id=new_id(), currency="ZAR", value=750000, count=10,
        reason="Corporate gift cards", requested_by=actor("owner")),
    IssuanceApprovalDecided: lambda: dict(
        approval_id=new_id(), merchant_id=new_id(), status="approved", note="Checked with the merchant",
        decided_by=actor("platform_finance")),
    # notification
    EmailReceived: lambda: dict(
        mail_id=new_id(), merchant_id=new_id(), to_address="support+main-street@mail.vowrewards.test",
        from_address="thandi@example.com", from_name="Thandi M", subject="Voucher not accepted",
        body="The till said my voucher had expired.", message_id="<a1@example.com>",
        ticket_reference=None, conversation_id=None, received_at=AT),
    # gateway
    SessionRevoked: lambda: dict(user_id=new_id(), session_ids=[new_id()], not_before=None,
                                 until=int(AT.timestamp()) + 906, reason="logout"),
}


def example(event_class, **overrides):
    """A payload of ``event_class`` as its publisher would build it, with ``overrides``."""
    return event_class.of(**dict(EXAMPLES[event_class](), **overrides))


def wire(event_class, **overrides):
    """``example(...)`` as it travels: JSON."""
    return as_wire(example(event_class, **overrides))


def as_wire(payload):
    """A payload as it travels: JSON."""
    return json.loads(json.dumps(event_of(payload).to_wire(payload)))
