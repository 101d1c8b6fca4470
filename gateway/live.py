"""The gateway's side of the live inbox: new notifications reach open SSE streams within moments.

The notification service publishes each new inbox message, after its commit, on its events exchange
with the routing key ``inbox_live`` (not persistent: nothing is lost if no gateway listens, since a
stream that reconnects asks for what it missed with ``Last-Event-ID``). Every gateway process binds a
queue of its own (``broadcast.gateway.<uuid>``, exclusive, auto-deleted) to that key and hands each
message to the streams open for its recipient (``user:<id>`` or ``customer:<id>``) in this process.
Chosen over polling: a stream costs nothing while nothing happens, and a message reaches it in one
broker hop (milliseconds), however many streams are open.

A stream is an eventlet green thread parked on its own queue, no worker of the service: 500 open
streams hold 500 sockets and green threads, and no nameko worker slot, so the API keeps serving.
Every 30 s the process tells notification which customers have a stream open (they are online, so
they are not emailed what the app shows them).
"""
import logging
import uuid
from collections import defaultdict

import eventlet
from eventlet.queue import LightQueue
from kombu import Queue, binding
from nameko.extensions import DependencyProvider

from plumbing.events import BroadcastFeed, event_exchange, expected_publisher, publisher_of

log = logging.getLogger(__name__)

LIVE_ROUTING_KEY = "inbox_live"
STREAM_QUEUE_SIZE = 100


class LiveHub(BroadcastFeed):
    feed_name = "live notification feed"

    def __init__(self):
        super().__init__()
        self._streams = defaultdict(set)  # key -> {LightQueue}
        self._tokens = {}  # queue -> the token its stream was opened with

    def setup(self):
        config = self.container.config
        self.expected_user = expected_publisher("notification", config)
        self.queue = Queue("broadcast.%s.live.%s" % (self.container.service_name, uuid.uuid4().hex), durable=False,
                           exclusive=True, auto_delete=True,
                           bindings=[binding(event_exchange("notification", config), routing_key=LIVE_ROUTING_KEY)])
        self.connect(config)

    def stop(self):
        for queues in list(self._streams.values()):
            for queue in list(queues):
                queue.put(None)  # each stream ends its answer
        super().stop()

    kill = stop

    def on_connection_error(self, exc, interval):
        log.warning("live feed: broker unreachable (%s); retrying in %ss", exc, interval)

    def on_message(self, body, message):
        if self.expected_user is not None and publisher_of(message) != self.expected_user:
            log.warning("ignored a live notification not published by the notification service")
            return
        if not isinstance(body, dict):
            return
        for queue in list(self._streams.get(body.get("key"), ())):
            try:
                queue.put_nowait(body.get("message"))
            except eventlet.queue.Full:
                pass  # a client that does not read: it catches up when it reconnects

    # -- streams ----------------------------------------------------------------------------------
    def subscribe(self, key, token=None):
        queue = LightQueue(STREAM_QUEUE_SIZE)
        self._streams[key].add(queue)
        self._tokens[queue] = token
        return queue

    def unsubscribe(self, key, queue):
        self._tokens.pop(queue, None)
        queues = self._streams.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                self._streams.pop(key, None)

    def open_streams(self):
        return sum(len(queues) for queues in self._streams.values())

    def customers(self):
        """{buyer app token: [customer ids with a stream open here]}: who is online, told by each app."""
        found = defaultdict(set)
        for key, queues in list(self._streams.items()):
            if key.startswith("customer:"):
                for queue in list(queues):
                    if self._tokens.get(queue):
                        found[self._tokens[queue]].add(key.partition(":")[2])
        return {token: sorted(ids) for token, ids in found.items()}


class LiveStreams(DependencyProvider):
    """``self.live_hub`` in the gateway's routes: this process's hub (a shared extension, started once)."""

    hub = LiveHub()

    def get_dependency(self, worker_ctx):
        return self.hub
