"""Ticket rules: numbering, the checked state machine, who sees what, escalation, what a settlement
exception becomes. Pure: no database, no clock of its own (callers pass ``now``)."""
from datetime import timedelta

from plumbing.auth import (ADMIN, BUYER_APP, FINANCE, IT_SUPPORT, LOGISTICS_PARTNER, OWNER, PLATFORM_SUPPORT,
                           STORE_USER, SUPPORT_AGENT, SYSTEM)
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.settlement.contract.enums import (DUPLICATE, MISSING_AGREEMENT, PAYOUT_ACCOUNT_UNCONFIRMED,
                                                PAYOUT_BLOCKED, PAYOUT_FAILED, RECONCILIATION_MISMATCH,
                                                REVERSAL_AFTER_CLOSE, UNKNOWN_ACCOUNT)
from services.support.contract.enums import ESCALATION_CHAIN, IGM_CATEGORIES, IMAGES_REQUIRED

# Every ticket must be acknowledged within two hours (the default policy) or it is flagged overdue.
ACKNOWLEDGE_WITHIN = timedelta(hours=2)
FIRST_NUMBER = 101
EXCERPT = 280

# who works tickets at the merchant; platform support and IT support only once escalated to them
DESK = (OWNER, SUPPORT_AGENT, FINANCE, ADMIN, STORE_USER)
ESCALATION_TEAMS = (PLATFORM_SUPPORT, IT_SUPPORT)
STAFF = DESK + ESCALATION_TEAMS
ASSIGNERS = (OWNER, SUPPORT_AGENT, ADMIN)
RESOLVERS = (OWNER, SUPPORT_AGENT, FINANCE, ADMIN) + ESCALATION_TEAMS
RAISERS = DESK + (BUYER_APP, LOGISTICS_PARTNER)
AGENT_ROLES = ("support_agent", "owner")

# action -> the states it may start from, and the state it leads to (None: unchanged)
TRANSITIONS = {
    "acknowledge": (("open",), "processing"),
    "resolve": (("open", "processing"), "resolved"),
    "close": (("open", "processing", "resolved"), "closed"),
    "reopen": (("resolved", "closed"), "open"),
    "assign": (("open", "processing"), None),
    "escalate": (("open", "processing"), None),
    "cascade": (("open", "processing"), None),
    "partner_update": (("open", "processing"), None),
    "merge": (("open", "processing"), "closed"),
    "message": (("open", "processing", "resolved"), None),
    "rate": (("resolved", "closed"), None),
}


def reference(number):
    return "SUP-%d" % number


def ack_due(created_at):
    return created_at + ACKNOWLEDGE_WITHIN


def check_transition(ticket, action):
    """The state ``action`` leads to; a 409 naming the current state when it may not start there."""
    allowed, target = TRANSITIONS[action]
    if ticket["status"] not in allowed:
        raise Conflict("%s is %s: it cannot be %s" % (ticket["reference"], ticket["status"], PAST.get(action, action)),
                       code="illegal_transition", fields={"status": [ticket["status"]]})
    return target or ticket["status"]


PAST = {"acknowledge": "acknowledged", "resolve": "resolved", "close": "closed", "reopen": "reopened",
        "assign": "assigned", "escalate": "escalated", "cascade": "cascaded", "merge": "merged",
        "message": "answered", "rate": "rated", "partner_update": "updated by the partner"}


def is_overdue(ticket, now):
    """Past a deadline the clock watches (the flag itself is set by the clock's timer)."""
    if ticket["status"] not in ("open", "processing") or ticket.get("waiting_on"):
        return False
    return bool(breach(ticket, now))


def breach(ticket, now):
    """Which deadline ``ticket`` has missed at ``now``, and when it was due: (reason, due) or None."""
    if ticket["acknowledged_at"] is None and ticket["ack_due_at"] and now > ticket["ack_due_at"]:
        return "first_response", ticket["ack_due_at"]
    if ticket.get("next_response_due_at") and now > ticket["next_response_due_at"]:
        return "next_response", ticket["next_response_due_at"]
    if ticket.get("resolution_due_at") and ticket.get("resolved_at") is None and now > ticket["resolution_due_at"]:
        return "resolution", ticket["resolution_due_at"]
    return None


# -- who may see a ticket, and which threads -------------------------------------------------
def visible_to(identity, ticket):
    """Whether ``identity`` may see ``ticket`` at all (merchant scope was checked on the way in)."""
    role = identity.role
    if role == STORE_USER:
        return str(ticket["store_id"]) == identity.store_id
    if role == BUYER_APP:
        return identity.customer_id is not None and str(ticket["customer_id"]) == identity.customer_id
    if role == LOGISTICS_PARTNER:
        return str(ticket["partner_client_id"]) == identity.user_id
    if role == PLATFORM_SUPPORT:
        return ticket["escalation_level"] in ESCALATION_TEAMS
    if role == IT_SUPPORT:
        return ticket["escalation_level"] == IT_SUPPORT
    return role in DESK or role == SYSTEM


def reads_internal(identity):
    """Internal is for the back office and the escalation team: never the requester, a buyer app, a
    partner, or the tills (store users)."""
    return identity.role in RESOLVERS


def threads_for(identity):
    return ("main", "internal") if reads_internal(identity) else ("main",)


def requester_of(identity):
    """How a ticket names whoever raised it."""
    if identity.role == BUYER_APP:
        return {"kind": "customer", "id": identity.customer_id}
    if identity.role == LOGISTICS_PARTNER:
        return {"kind": "partner", "id": identity.user_id}
    if identity.role == SYSTEM:
        return {"kind": "system", "id": identity.username}
    return {"kind": "user", "id": identity.user_id}


def is_requester(identity, ticket):
    requester = ticket["requester"] or {}
    return requester.get("id") is not None and requester == requester_of(identity)


def source_of(identity):
    return {BUYER_APP: "buyer_app", LOGISTICS_PARTNER: "logistics_partner"}.get(identity.role, identity.role)


def check_buyer_issue(data, attachment_count):
    """IGM: a buyer issue about items or delivery names its order; some codes need pictures."""
    errors = {}
    if data["category"] in IGM_CATEGORIES and data["category"] != "agent" and not data.get("order_id"):
        errors["order_id"] = ["A buyer issue names its order."]
    if data.get("sub_category") in IMAGES_REQUIRED and attachment_count == 0:
        errors["attachment_ids"] = ["%s needs at least one image." % data["sub_category"]]
    if data.get("issue_items") and not data.get("currency"):
        errors["currency"] = ["Issue items with an order value name the currency."]
    if errors:
        raise ValidationFailed("Some fields are not valid", fields=errors)


# -- escalation ---------------------------------------------------------------------------------
def next_level(ticket):
    """The role the ticket goes to next: store user -> owner -> platform support -> IT support."""
    current = ticket["escalation_level"] or STORE_USER
    index = ESCALATION_CHAIN.index(current)
    if index + 1 >= len(ESCALATION_CHAIN):
        raise Conflict("%s is already with IT support: nobody is above" % ticket["reference"],
                       code="escalation_exhausted", fields={"escalation_level": [current]})
    return ESCALATION_CHAIN[index + 1]


def may_escalate(identity, ticket):
    current = ticket["escalation_level"] or STORE_USER
    if current in ESCALATION_TEAMS:
        return identity.role == current or identity.role == ADMIN
    return identity.role in DESK


def excerpt(text):
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1] + "…"


def not_found(reference_):
    return NotFound("No ticket %s" % reference_, code="ticket_not_found")


def forbidden(message):
    return Forbidden(message, code="role_not_allowed")


# settlement's exception kinds, as a ticket's subject names them
EXCEPTION_TITLES = {
    PAYOUT_ACCOUNT_UNCONFIRMED: "Payout wallet address not confirmed",
    RECONCILIATION_MISMATCH: "Reconciliation mismatch",
    REVERSAL_AFTER_CLOSE: "Redemption reversed after its batch closed",
    PAYOUT_FAILED: "Payout failed",
    DUPLICATE: "Duplicate settlement record",
    PAYOUT_BLOCKED: "Payout blocked: the wallet address changed or is unconfirmed",
    UNKNOWN_ACCOUNT: "Redemption for an account settlement does not know",
    MISSING_AGREEMENT: "Funded redemptions without a funding agreement held from payout",
}


def ticket_from_settlement_exception(event):
    """A settlement exception (an ``ExceptionRaised``) becomes a Critical ticket carrying its references."""
    title = EXCEPTION_TITLES.get(event.kind, "Settlement exception")
    batch = event.batch_reference
    subject = "%s%s" % (title, " (%s)" % batch if batch else "")
    refs = {"exception_id": event.exception_id, "exception_kind": event.kind,
            "batch_reference": batch, "batch_id": event.batch_id,
            "merchant_id": event.merchant_id, "store_id": event.store_id,
            "amount": event.amount, "currency": event.currency}
    return {
        "subject": subject, "description": event.message, "category": "settlement",
        "priority": "critical", "source": "settlement", "store_id": event.store_id,
        "refs": {key: value for key, value in refs.items() if value is not None},
    }
