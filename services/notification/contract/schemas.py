"""The notification service's RPC schemas: what callers send and what they get back."""
from marshmallow import Schema, fields

from plumbing.fields import AwareDateTime, Id, Page


class InboxFilterSchema(Page):
    unread_only = fields.Boolean(load_default=False)


class InboxMessageSchema(Schema):
    id = Id()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    refs = fields.Dict()
    audience_role = fields.String(allow_none=True)
    created_at = AwareDateTime()
    read = fields.Boolean()
