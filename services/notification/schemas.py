"""The notification service's contract."""
from marshmallow import Schema, fields, validate

from plumbing.fields import AwareDateTime, Id


class InboxFilterSchema(Schema):
    unread_only = fields.Boolean(load_default=False)
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class InboxMessageSchema(Schema):
    id = Id()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    refs = fields.Dict()
    audience_role = fields.String(allow_none=True)
    created_at = AwareDateTime()
    read = fields.Boolean()
