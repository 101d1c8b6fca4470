"""The routing table: which event notifies whom over which channel. Adding a route is one line.

``ROUTES`` rows are ``(event type, recipient rule, channels, kind)``:

* the event type is ``<service>.<event>`` (its publisher's contract);
* the rule names a function of ``RULES``: who, among the merchant's people (found with the gateway's
  ``directory``) or its customers (campaign's ``get_customer_contact``), the event concerns;
* channels: ``inbox`` (the in-app inbox, live over SSE), ``email`` (to the recipient's address),
  ``email_if_offline`` (a customer who has no buyer app open: ``presence``);
* the kind is what a recipient's preferences switch on or off per channel.

Every event type routed here (and every one in ``WEBHOOK_ONLY``) also goes to the merchant's webhook
endpoints subscribed to it. The service gets one handler per event type from this table
(``notify_<service>_<event>``), each a row of ``plumbing/topology.py``.
"""
from collections import namedtuple

from services.notification.domain import optional
from plumbing.auth import FINANCE, IT_SUPPORT, OWNER, PLATFORM_FINANCE, STORE_USER, SUPPORT_AGENT

Route = namedtuple("Route", "event_type rule channels kind")
Recipient = namedtuple("Recipient", "kind id email name")  # kind: user | customer | email (a mailed-in requester)

INBOX, EMAIL, EMAIL_IF_OFFLINE, WEBHOOK = "inbox", "email", "email_if_offline", "webhook"

ROUTES = tuple(Route(*row) for row in (
    # event type                             recipients          channels                  kind
    ("support.ticket_created",               "store_support",    (INBOX,),                 "ticket_created"),
    ("support.ticket_created",               "finance_if_money", (INBOX,),                 "ticket_created"),
    ("support.ticket_acknowledged",          "requester",        (INBOX, EMAIL_IF_OFFLINE), "ticket_acknowledged"),
    ("support.ticket_acknowledged",          "owners",           (INBOX,),                 "ticket_acknowledged"),
    ("support.ticket_resolved",              "requester",        (INBOX, EMAIL_IF_OFFLINE), "ticket_resolved"),
    ("support.ticket_resolved",              "owners",           (INBOX,),                 "ticket_resolved"),
    # (their inbox hears of it from the critical ticket support opens for it, which names the ticket)
    ("settlement.exception_raised",          "finance",          (EMAIL,),                 "settlement_exception"),
    ("settlement.exception_resolved",        "finance",          (INBOX,),                 "settlement_exception"),
    ("settlement.batch_closed",              "finance",          (INBOX,),                 "batch_closed"),
    ("settlement.batch_released",            "finance",          (INBOX,),                 "batch_released"),
    ("settlement.payout_account_set",        "owners",           (INBOX,),                 "payout_account_set"),
    ("settlement.payout_account_confirmed",  "owners",           (INBOX,),                 "payout_account_confirmed"),
    ("settlement.payout_account_rejected",   "owners",           (INBOX,),                 "payout_account_rejected"),
    ("campaign.budget_exhausted",            "owners",           (INBOX, EMAIL),           "budget_exhausted"),
    ("campaign.points_adjusted",             "customer",         (INBOX, EMAIL_IF_OFFLINE), "points"),
    ("campaign.funding_agreement_created",   "owners",           (INBOX,),                 "funding"),
    ("campaign.funding_agreement_changed",   "owners",           (INBOX,),                 "funding"),
    ("campaign.issuance_approval_requested", "platform_finance", (INBOX,),                 "issuance_approval"),
    ("campaign.issuance_approval_decided",   "owners",           (INBOX,),                 "issuance_approval"),
    ("redemption.redemption_lockout",        "owners",           (INBOX, EMAIL),           "redemption_lockout"),
    ("redemption.redemption_lockout",        "store_users",      (INBOX,),                 "redemption_lockout"),
    ("redemption.redemption_reversed",       "owners",           (INBOX,),                 "redemption_reversed"),
    ("redemption.voucher_cancelled",         "owners",           (INBOX,),                 "voucher_ended"),
    ("redemption.voucher_expired",           "owners",           (INBOX,),                 "voucher_ended"),
    # support's lifecycle (issue 8): each is one line here and one row in plumbing/topology.py
    ("support.ticket_assigned",      "assignee",            (INBOX, EMAIL),            "ticket_assigned"),
    ("support.message_posted",       "requester_on_main",   (INBOX, EMAIL_IF_OFFLINE), "ticket_message"),
    ("support.message_posted",       "assignee",            (INBOX,),                  "ticket_message"),
    ("support.message_posted",       "team_on_internal",    (INBOX,),                  "ticket_message"),
    ("support.ticket_overdue",       "assignee",            (INBOX, EMAIL),            "ticket_overdue"),
    ("support.ticket_overdue",       "owners",              (INBOX,),                  "ticket_overdue"),
    ("support.ticket_escalated",     "escalation_team",     (INBOX,),                  "ticket_escalated"),
    ("support.ticket_cascaded",      "partner",             (INBOX,),                  "ticket_cascaded"),
    ("support.ticket_closed",        "assignee",            (INBOX,),                  "ticket_closed"),
    ("support.ticket_reopened",      "assignee",            (INBOX,),                  "ticket_reopened"),
    ("support.ticket_reopened",      "owners",              (INBOX,),                  "ticket_reopened"),
    ("support.conversation_message", "conversation_customer", (INBOX, EMAIL_IF_OFFLINE), "chat_message"),
))

# events nobody is told of in person, which webhooks may still subscribe to (high-volume facts)
WEBHOOK_ONLY = ("redemption.voucher_issued", "redemption.voucher_batch_issued", "redemption.voucher_redeemed",
                "settlement.entry_recorded", "campaign.campaign_created")
# never leave the platform: they carry a one-time code
NEVER_WEBHOOKED = ("settlement.payout_verification_requested",)


def routed_event_types():
    seen = []
    for event_type in [route.event_type for route in ROUTES] + list(WEBHOOK_ONLY):
        if event_type not in seen:
            seen.append(event_type)
    return seen


def webhook_event_types():
    return [t for t in routed_event_types() if t not in NEVER_WEBHOOKED]


def routes_for(event_type):
    return [route for route in ROUTES if route.event_type == event_type]


def handler_name(event_type):
    return "notify_" + event_type.replace(".", "_")


# -- recipient rules: (people, event) -> [Recipient] ---------------------------------------------
# ``people.users(merchant_id, roles, store_id=None, user_ids=None)`` and
# ``people.customer(merchant_id, customer_id)`` (None when unknown) answer them.
def _users(people, merchant_id, roles, store_id=None, user_ids=None):
    return [Recipient("user", row["user_id"], row.get("email"), row.get("display_name") or row.get("username"))
            for row in people.users(merchant_id, roles, store_id=store_id, user_ids=user_ids)]


def _field(event, name):
    """A field only some events of a route carry (support's new ones, say): None where it is not declared."""
    return optional(event, name)


def store_support(people, event):
    """Everyone with the support panel: the merchant's agents and owners, and the store's users."""
    found = _users(people, event.merchant_id, [SUPPORT_AGENT, OWNER])
    if _field(event, "store_id"):
        found += _users(people, event.merchant_id, [STORE_USER], store_id=event.store_id)
    return found


def finance_if_money(people, event):
    """A settlement or critical ticket: finance must know too."""
    if event.category == "settlement" or event.priority == "critical":
        return _users(people, event.merchant_id, [FINANCE])
    return []


def finance(people, event):
    return _users(people, event.merchant_id, [FINANCE])


def owners(people, event):
    return _users(people, event.merchant_id, [OWNER])


def store_users(people, event):
    store_id = _field(event, "store_id")
    return _users(people, event.merchant_id, [STORE_USER], store_id=store_id) if store_id else []


def platform_finance(people, event):
    return _users(people, None, [PLATFORM_FINANCE])


def customer(people, event):
    return _customer(people, event.merchant_id, _field(event, "customer_id"))


def _customer(people, merchant_id, customer_id):
    if not customer_id:
        return []
    contact = people.customer(merchant_id, customer_id)
    if contact is None:
        return []
    # no consent, no address: the inbox still has it
    email = contact.get("email") if contact.get("email_consent") else None
    return [Recipient("customer", str(customer_id), email, contact.get("name"))]


def requester(people, event):
    """Who raised the ticket: a user of the merchant, a customer (through the buyer app), a partner."""
    who = _field(event, "requester") or {}
    if who.get("kind") == "customer":
        return _customer(people, event.merchant_id, who.get("id"))
    if who.get("kind") == "user" and who.get("id"):
        return _users(people, event.merchant_id, None, user_ids=[who["id"]])
    if who.get("kind") == "partner" and who.get("id"):
        return [Recipient("user", str(who["id"]), None, None)]  # the partner client's own inbox
    if who.get("kind") == "email" and who.get("id"):
        return [Recipient("email", who["id"], who["id"], None)]  # they wrote in: only mail reaches them
    return []


def requester_on_main(people, event):
    return requester(people, event) if _field(event, "thread") == "main" else []


def assignee(people, event):
    assignee_id = _field(event, "assignee_id")
    return _users(people, event.merchant_id, None, user_ids=[assignee_id]) if assignee_id else []


def escalation_team(people, event):
    """The role the ticket went up to: the merchant's, or the platform's own (IT support)."""
    level = _field(event, "level")
    if not level:
        return []
    if level in (IT_SUPPORT, "platform_support", "admin"):
        return _users(people, None, [level])  # the platform's own people
    store_id = _field(event, "store_id") if level == STORE_USER else None
    return _users(people, event.merchant_id, [level], store_id=store_id)


def team_on_internal(people, event):
    """An Internal-thread message: the escalation team working the ticket (its level, else the agents)."""
    if _field(event, "thread") != "internal":
        return []
    return escalation_team(people, event) if _field(event, "level") else _users(
        people, event.merchant_id, [SUPPORT_AGENT])


def partner(people, event):
    client_id = _field(event, "partner_client_id")
    return [Recipient("user", str(client_id), None, None)] if client_id else []


def conversation_customer(people, event):
    if _field(event, "author_kind") == "customer":
        return []  # the customer wrote it
    return _customer(people, event.merchant_id, _field(event, "customer_id"))


RULES = {rule.__name__: rule for rule in (
    store_support, finance_if_money, finance, owners, store_users, platform_finance, customer, requester,
    requester_on_main, assignee, escalation_team, team_on_internal, partner, conversation_customer)}


def recipients(people, route, event):
    """The distinct recipients of one route for one event."""
    seen, found = set(), []
    for recipient in RULES[route.rule](people, event):
        key = (recipient.kind, str(recipient.id))
        if key not in seen:
            seen.add(key)
            found.append(recipient._replace(id=str(recipient.id)))
    return found


# -- what the table reads of an event (tests/unit/test_event_contracts.py checks it is declared) ----
class _AnyPeople:
    def users(self, merchant_id, roles, store_id=None, user_ids=None):
        return [{"user_id": "u1", "email": "u1@example.com", "username": "u1"}]

    def customer(self, merchant_id, customer_id):
        return {"name": "c", "email": "c@example.com", "email_consent": True}


def fields_read(event_type, payload, render):
    """The fields the routes of ``event_type`` (and ``render``) read strictly from ``payload``."""
    seen = set()

    def read(self, name):
        seen.add(name)
        return getattr(payload, name)

    recording = type("Recording", (), {"__dataclass_fields__": type(payload).__dataclass_fields__,
                                       "__getattr__": read})()
    render(event_type, recording)
    for route in routes_for(event_type):
        RULES[route.rule](_AnyPeople(), recording)
    return seen
