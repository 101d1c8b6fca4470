"""The support service's events: what it tells the others happened, one schema each.

Settlement links and resolves its exceptions from ``ticket_created`` and ``ticket_resolved``
(``refs.exception_id``); notification tells the support panel of new tickets
(``plumbing/topology.py``).
"""
from marshmallow import fields

from plumbing.contracts import Actor, Event, vocabulary
from plumbing.fields import AwareDateTime, Id
from services.support.contract.enums import CATEGORIES, PRIORITIES, RESOLUTION_ACTIONS

SOURCE = "support"


class TicketCreated(Event):
    event_source, event_type = SOURCE, "ticket_created"
    ticket_id = Id()
    reference = fields.String(metadata={"description": "SUP-104"})
    merchant_id = Id()
    subject = fields.String()
    category = vocabulary(CATEGORIES)
    priority = vocabulary(PRIORITIES)
    source = fields.String(metadata={"description": "Who raised it: a role, or the service that opened it"})
    store_id = Id(allow_none=True)
    refs = fields.Dict(keys=fields.String(), metadata={
        "description": "What it is about: batch, store, exception (exception_id, amount...)"})
    created_at = AwareDateTime()
    ack_due_at = AwareDateTime()


class TicketAcknowledged(Event):
    event_source, event_type = SOURCE, "ticket_acknowledged"
    ticket_id = Id()
    reference = fields.String()
    merchant_id = Id()


class TicketResolved(Event):
    event_source, event_type = SOURCE, "ticket_resolved"
    ticket_id = Id()
    reference = fields.String()
    merchant_id = Id()
    action = vocabulary(RESOLUTION_ACTIONS)
    resolution = fields.String()
    refs = fields.Dict(keys=fields.String())
    resolved_by = fields.Nested(Actor)
