"""Typed events: one marshmallow schema per event type, in its publisher's contract.

    class VoucherRedeemed(Event):
        event_source, event_type = "redemption", "voucher_redeemed"
        redemption_id = Id()
        amount = Money()
        campaign_id = Id(allow_none=True)

Every field of an event is required: its publisher states it, as null where the
field allows that. A field with a ``load_default`` is the exception: one added
after consumers were deployed that read it, so an older publisher's events still
load (and consumers ignore fields they do not know, so a publisher may add a
field before its consumers are upgraded). For the same reason a field of the
publisher's vocabulary (a kind, a status) is a plain string (``vocabulary``): a
publisher may add a value before its consumers know it, and they must cope.

The publisher builds a payload with ``VoucherRedeemed.of(redemption_id=..., ...)``:
it is checked there, so a missing or ill-typed field fails in the publisher's
own transaction and never reaches a consumer. ``self.events.emit(payload)``
writes its JSON form (``to_wire``) to the outbox; a handler declared with
``@event_handler(VoucherRedeemed)`` receives the loaded payload (``from_wire``),
an immutable object (``event.redemption_id``).

An event is published with its type as the routing key (``voucher_redeemed``), or, where the
contract says some payloads are of no interest to a narrow subscriber, with a word after it
(``qualifier``: ``voucher_redeemed.plain``). Every subscriber binds ``<type>.#`` and hears
both; one declared ``narrow`` binds the bare type alone, so the broker never copies it the rest.
"""
import dataclasses
import typing

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing

from plumbing.fields import Id
from plumbing.validation import flatten_messages


class InvalidEvent(ValueError):
    """A payload its own contract refuses: a publisher bug, or a forged or corrupt message."""


class Actor(Schema):
    """Who did something, as audit records name them (``Identity.actor()``)."""

    class Meta:
        unknown = EXCLUDE

    user_id = fields.String(required=True)
    username = fields.String(required=True, allow_none=True)
    role = fields.String(required=True)
    acting_for_merchant = Id(metadata={"description": "The merchant a platform user acted for"})


def vocabulary(values, **kwargs):
    """A field holding one of a publisher's words (``values``, documented, not enforced: see above)."""
    return fields.String(metadata={"description": "One of: %s (more may come)" % ", ".join(values)}, **kwargs)


_CLASSES = {}  # (event_source, event_type) -> the event class, as each contract is imported


def event_class(source, event_type):
    """The class of ``source``'s ``event_type`` if its contract was imported here, else None."""
    return _CLASSES.get((source, event_type))


def routing_key_for(source, event_type, wire):
    """What ``source`` publishes ``wire`` (an ``event_type`` payload) under: its contract's routing
    key, or the bare type where that contract is not imported here."""
    contract = event_class(source, event_type)
    return contract.routing_key(wire) if contract else event_type


class Event(Schema):
    """Base of every event schema; subclasses set ``event_source`` and ``event_type``."""

    event_source: typing.ClassVar[str] = None
    event_type: typing.ClassVar[str] = None

    class Meta:
        unknown = EXCLUDE

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.event_source and cls.event_type:
            _CLASSES[(cls.event_source, cls.event_type)] = cls

    # -- routing ---------------------------------------------------------------------
    @classmethod
    def qualifier(cls, wire):
        """The word after the type in the routing key of a payload (its wire form) that narrow
        subscribers do not want; None (the bare type) for one they do. Pure: the publisher and a
        narrow subscriber (for what an older publisher sent under the bare type) both ask it."""
        return None

    @classmethod
    def routing_key(cls, wire):
        word = cls.qualifier(wire)
        return cls.event_type if word is None else "%s.%s" % (cls.event_type, word)

    # -- the payload type --------------------------------------------------------------
    @classmethod
    def payload_type(cls):
        """The frozen dataclass a loaded payload of this event is (made once per event)."""
        if "_payload_type" not in cls.__dict__:
            fields_ = [(name, typing.Any, dataclasses.field(default=None)) for name in cls._declared_fields]
            cls._payload_type = dataclasses.make_dataclass(
                cls.__name__ + "Payload", fields_, frozen=True, namespace={"event": cls})
        return cls._payload_type

    @classmethod
    def _schema(cls):
        if "_instance" not in cls.__dict__:
            instance = cls()
            for field in instance.fields.values():
                if field.load_default is missing:
                    field.required = True  # see the module's docstring
            cls._instance = instance
        return cls._instance

    @classmethod
    def key(cls):
        """``"redemption.voucher_redeemed"``: how topology, logs and webhooks name it."""
        return "%s.%s" % (cls.event_source, cls.event_type)

    @classmethod
    def field_names(cls):
        return tuple(cls._declared_fields)

    # -- building, sending, receiving ------------------------------------------------
    @classmethod
    def of(cls, **values):
        """A checked payload from Python values (datetimes, ids, ints...)."""
        try:
            data = cls._schema().load(values, unknown=RAISE)
        except ValidationError as err:
            raise InvalidEvent("%s: %s" % (cls.key(), flatten_messages(err.messages)))
        return cls.payload_type()(**data)

    @classmethod
    def to_wire(cls, payload):
        """The JSON-ready dict that travels."""
        if not isinstance(payload, cls.payload_type()):
            raise InvalidEvent("%s expects its own payload, not %r" % (cls.key(), type(payload).__name__))
        return cls._schema().dump({name: getattr(payload, name) for name in cls._declared_fields})

    @classmethod
    def from_wire(cls, data):
        """The payload a consumer receives; ``InvalidEvent`` when the contract refuses it."""
        if not isinstance(data, dict):
            raise InvalidEvent("%s: the body is not a JSON object" % cls.key())
        try:
            return cls.payload_type()(**cls._schema().load(data))
        except ValidationError as err:
            raise InvalidEvent("%s: %s" % (cls.key(), flatten_messages(err.messages)))


def event_of(payload):
    """The event class a payload was built by."""
    event = getattr(type(payload), "event", None)
    if not (isinstance(event, type) and issubclass(event, Event)):
        raise InvalidEvent("not an event payload: %r" % type(payload).__name__)
    return event


def events_in(module):
    """Every event class a contract module declares."""
    return [value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Event) and value.event_type
            and value.__module__ == module.__name__]
