"""The two ways we publish to RabbitMQ, each with its own settings.

``EventPublisher``: events (and retries and replays of them), persistent, confirmed, and stamped
with ``user_id`` = the connection's own user, which RabbitMQ checks, so a consumer can trust it
to name the publisher (``plumbing.events``). ``MessagePublisher``: RPC requests and replies,
neither persisted nor confirmed (a lost one times out). Both are nameko's ``Publisher`` with a
transport-options dict of their own (why, in ``plumbing.framework``, where they are defined).
"""
from plumbing.framework import EventPublisher, MessagePublisher  # noqa: F401
