"""The two ways we publish to RabbitMQ, each with its own settings.

nameko's ``Publisher`` writes ``confirm_publish`` into a transport-options
dict that is a *class* attribute, shared by every instance, and kombu's pooled
connections keep a reference to that dict. Mixing confirmed and unconfirmed
instances of one class could therefore hand an event an unconfirmed channel.
Each class here owns its dict and only ever writes one value into it.
"""
from nameko.amqp.publish import Publisher
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, NON_PERSISTENT, PERSISTENT


class EventPublisher(Publisher):
    """Events (and retries and replays of them): persistent, and confirmed by the broker."""
    use_confirms = True
    delivery_mode = PERSISTENT
    transport_options = DEFAULT_TRANSPORT_OPTIONS.copy()


class MessagePublisher(Publisher):
    """RPC requests and replies: neither persisted nor confirmed (a lost one times out)."""
    use_confirms = False
    delivery_mode = NON_PERSISTENT
    transport_options = DEFAULT_TRANSPORT_OPTIONS.copy()
