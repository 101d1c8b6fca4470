"""The notification service's RPC schemas: what callers send and what they get back."""
from marshmallow import Schema, fields, validate

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


CHANNELS = ("inbox", "email")


class PreferenceSchema(Schema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=60),
                         metadata={"description": "A kind of notification (GET lists them)"})
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    enabled = fields.Boolean(required=True)


class PreferencesSchema(Schema):
    items = fields.List(fields.Nested(PreferenceSchema), required=True, validate=validate.Length(max=200))


class PreferencesAnswerSchema(Schema):
    kinds = fields.List(fields.String())
    channels = fields.List(fields.String())
    items = fields.List(fields.Nested(PreferenceSchema), metadata={
        "description": "What you switched; everything else is on (emails to customers also need their consent)"})


class EndpointCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=8, max=2000),
                        metadata={"description": "https only; never a loopback, link-local or private address"})
    events = fields.List(fields.String(validate=validate.Length(min=3, max=100)), required=True,
                         validate=validate.Length(min=1, max=100),
                         metadata={"description": "Event types as <service>.<event>: support.ticket_created, ..."})


class EndpointUpdateSchema(Schema):
    active = fields.Boolean(required=True, metadata={"description": "true enables a disabled endpoint again"})


class EndpointSchema(Schema):
    id = Id()
    url = fields.String()
    events = fields.List(fields.String())
    status = fields.String(metadata={"description": "active, or disabled (after failing, or by its owner)"})
    consecutive_failures = fields.Integer()
    disabled_reason = fields.String(allow_none=True)
    created_by = fields.Dict()
    created_at = AwareDateTime()


class EndpointSecretSchema(EndpointSchema):
    secret = fields.String(metadata={"description": "Shown once: sign-checks VowRewards-Signature"})
    previous_secret_valid_until = fields.String(allow_none=True)


class DeliveryFilterSchema(Page):
    merchant_id = Id(load_default=None)
    channel = fields.String(load_default=None, validate=validate.OneOf(("inbox", "email", "webhook")))
    status = fields.String(load_default=None, validate=validate.OneOf(
        ("pending", "sending", "delivered", "failed", "unknown")))
    event_type = fields.String(load_default=None, validate=validate.Length(max=100))
    endpoint_id = Id(load_default=None)


class DeliverySchema(Schema):
    id = Id()
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String()
    recipient_kind = fields.String()
    recipient_id = fields.String()
    address = fields.String(allow_none=True)
    kind = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    delivered_at = AwareDateTime(allow_none=True)


class MailSettingsSchema(Schema):
    merchant_id = Id(dump_only=True)
    display_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
                                 metadata={"description": "The name emails come from"})
    reply_to = fields.Email(load_default=None, allow_none=True)
    support_local = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Regexp(r"^[a-z0-9][a-z0-9.-]{1,29}$"),
                                  metadata={"description": "The part before @ of the support address"})
    support_address = fields.String(dump_only=True, metadata={
        "description": "Mail to it becomes a ticket; replies to a ticket's mail become messages on it"})


class StreamOpenSchema(Schema):
    key = fields.String()
    missed = fields.List(fields.Nested(InboxMessageSchema))
    unread_count = fields.Integer()
