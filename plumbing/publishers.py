"""The two ways we publish to RabbitMQ, each with its own settings.

nameko's ``Publisher`` writes ``confirm_publish`` into a transport-options
dict that is a *class* attribute, shared by every instance, and kombu's pooled
connections keep a reference to that dict. Mixing confirmed and unconfirmed
instances of one class could therefore hand an event an unconfirmed channel.
Each class here owns its dict and only ever writes one value into it.

Every event is stamped with ``user_id`` = the connection's own user. RabbitMQ
refuses a ``user_id`` that is not the publishing connection's user, so a
consumer can trust it to name the publisher (``plumbing.events``).
"""
from nameko.amqp.publish import Publisher
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, NON_PERSISTENT, PERSISTENT

from plumbing.broker import user_of


class EventPublisher(Publisher):
    """Events (and retries and replays of them): persistent, confirmed, and signed by the broker user."""
    use_confirms = True
    delivery_mode = PERSISTENT
    transport_options = DEFAULT_TRANSPORT_OPTIONS.copy()

    def __init__(self, amqp_uri, **kwargs):
        self.user_id = user_of(amqp_uri)
        kwargs.setdefault("user_id", self.user_id)
        super().__init__(amqp_uri, **kwargs)


class MessagePublisher(Publisher):
    """RPC requests and replies: neither persisted nor confirmed (a lost one times out)."""
    use_confirms = False
    delivery_mode = NON_PERSISTENT
    transport_options = DEFAULT_TRANSPORT_OPTIONS.copy()
