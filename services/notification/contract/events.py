"""The notification service's events: what it tells the others happened, one schema each.

``email_received``: a mail arrived at a merchant's support address. The notification service
owns the mailbox (SMTP in), so it decides which merchant the mail is for (by the address it was
sent to) and, when the recipient address carries a reply token it signed itself when it sent a
ticket's or conversation's mail, which ticket or conversation the mail answers. Support turns the
mail into a ticket (source ``email``) or a message on that ticket's Main thread / that
conversation; it trusts ``ticket_reference`` and ``conversation_id`` because only notification
may publish this event (the broker stamps the publisher), never because of the mail's subject.
"""
from marshmallow import fields

from plumbing.contracts import Event
from plumbing.fields import AwareDateTime, Id

SOURCE = "notification"


class EmailReceived(Event):
    event_source, event_type = SOURCE, "email_received"
    mail_id = Id(metadata={"description": "The stored mail's id (one event per received mail)"})
    merchant_id = Id()
    to_address = fields.String(metadata={"description": "The merchant support address it was sent to"})
    from_address = fields.String()
    from_name = fields.String(allow_none=True)
    subject = fields.String()
    body = fields.String(metadata={"description": "The plain-text body, quoted history removed"})
    message_id = fields.String(allow_none=True, metadata={"description": "The mail's Message-ID header"})
    ticket_reference = fields.String(allow_none=True, metadata={
        "description": "SUP-104 when a verified reply token says the mail answers that ticket"})
    conversation_id = Id(allow_none=True, metadata={
        "description": "When a verified reply token says the mail answers that chat conversation"})
    received_at = AwareDateTime()
