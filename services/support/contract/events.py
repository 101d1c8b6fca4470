"""The support service's events: what it tells the others happened, one schema each.

Settlement links and resolves its exceptions from ``ticket_created`` and ``ticket_resolved``
(``refs.exception_id``); notification routes the rest to people (``plumbing/topology.py``).
Every ticket event carries the ticket's facts a router needs (``TicketFacts``) and who acted.
"""
from marshmallow import Schema, fields

from plumbing.contracts import Actor, Event, vocabulary
from plumbing.fields import AwareDateTime, Id
from services.support.contract.enums import (AUTHOR_KINDS, CATEGORIES, ESCALATION_CHAIN, LSP_STATUSES,
                                             PRIORITIES, REQUESTER_KINDS, RESOLUTION_ACTIONS, STATUSES, THREADS)

SOURCE = "support"


class Requester(Schema):
    kind = vocabulary(REQUESTER_KINDS, required=True)
    id = fields.String(required=True, allow_none=True)


class TicketFacts(Event):
    """What every ticket event says of its ticket (no ``event_type``: not an event on its own)."""
    ticket_id = Id()
    reference = fields.String(metadata={"description": "SUP-104"})
    merchant_id = Id()
    store_id = Id(allow_none=True)
    priority = vocabulary(PRIORITIES)
    category = vocabulary(CATEGORIES)
    status = vocabulary(STATUSES)
    assignee_id = Id(allow_none=True)
    requester = fields.Nested(Requester)
    actor = fields.Nested(Actor)


class TicketCreated(TicketFacts):
    event_source, event_type = SOURCE, "ticket_created"
    subject = fields.String()
    source = fields.String(metadata={"description": "Who raised it: a role, or the service that opened it"})
    refs = fields.Dict(keys=fields.String(), metadata={
        "description": "What it is about: batch, store, exception (exception_id, amount...)"})
    created_at = AwareDateTime()
    ack_due_at = AwareDateTime()


class TicketAssigned(TicketFacts):
    event_source, event_type = SOURCE, "ticket_assigned"
    previous_assignee_id = Id(allow_none=True)


class TicketAcknowledged(TicketFacts):
    event_source, event_type = SOURCE, "ticket_acknowledged"
    eta = AwareDateTime(allow_none=True)


class MessagePosted(TicketFacts):
    event_source, event_type = SOURCE, "message_posted"
    thread = vocabulary(THREADS)
    message_id = Id()
    author = fields.Nested(Actor)
    body = fields.String(metadata={"description": "An excerpt (at most 280 characters)"})


class TicketEscalated(TicketFacts):
    event_source, event_type = SOURCE, "ticket_escalated"
    level = vocabulary(ESCALATION_CHAIN)  # the role the ticket went to
    reason = fields.String()


class TicketCascaded(TicketFacts):
    event_source, event_type = SOURCE, "ticket_cascaded"
    partner_client_id = Id()
    lsp_status = vocabulary(LSP_STATUSES)


class TicketOverdue(TicketFacts):
    event_source, event_type = SOURCE, "ticket_overdue"
    reason = fields.String(metadata={"description": "first_response, next_response or resolution"})
    due_at = AwareDateTime()


class TicketResolved(TicketFacts):
    event_source, event_type = SOURCE, "ticket_resolved"
    action = vocabulary(RESOLUTION_ACTIONS)
    resolution = fields.String()
    refs = fields.Dict(keys=fields.String())
    resolved_by = fields.Nested(Actor)


class TicketClosed(TicketFacts):
    event_source, event_type = SOURCE, "ticket_closed"
    rating = fields.Integer(allow_none=True)


class TicketReopened(TicketFacts):
    event_source, event_type = SOURCE, "ticket_reopened"
    reason = fields.String()


class ConversationMessage(Event):
    event_source, event_type = SOURCE, "conversation_message"
    conversation_id = Id()
    merchant_id = Id()
    customer_id = Id()
    message_id = Id()
    author_kind = vocabulary(AUTHOR_KINDS)
    body = fields.String(metadata={"description": "An excerpt (at most 280 characters)"})
    customer_online = fields.Boolean(metadata={"description": "Whether the customer was seen in the app lately"})
