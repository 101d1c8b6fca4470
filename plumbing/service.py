"""What every VowRewards service has: its database, outbox, caller, metrics and logs.

A service class inherits ``ServiceBase`` and adds its own entrypoints. The
operator's view of parked events lives here too, so every service answers it
the same way.
"""
import logging

from plumbing.auth import ADMIN, Caller
from plumbing.db import Database
from plumbing.entrypoints import rpc
from plumbing.errors import NotFound
from plumbing.idempotency import Idempotency
from plumbing.logs import LogContext
from plumbing.metrics import Metrics
from plumbing.outbox import Outbox
from plumbing.validation import load

log = logging.getLogger(__name__)

PARKED_COLUMNS = ("id, event_id, handler, queue, source, event_type, payload, error, attempts, "
                  "parked_at, replayed_at")


def dump_parked(row):
    return {
        "id": row["id"], "event_id": str(row["event_id"]) if row["event_id"] else None,
        "handler": row["handler"], "source": row["source"], "event_type": row["event_type"],
        "payload": row["payload"], "error": row["error"], "attempts": row["attempts"],
        "parked_at": row["parked_at"].isoformat(),
        "replayed_at": row["replayed_at"].isoformat() if row["replayed_at"] else None,
    }


class ServiceBase:
    db = Database()
    events = Outbox()
    caller = Caller()
    metrics = Metrics()
    log_context = LogContext()
    idempotency = Idempotency()

    def scoped(self, identity, schema, filters):
        """A list's filters, loaded, and the merchant they apply to (admins name one)."""
        filters = load(schema, filters or {})
        return identity.merchant_scope(filters.pop("merchant_id")), filters

    @rpc
    def list_parked_events(self, include_replayed=False):
        """Messages a handler gave up on, for an operator to inspect and replay."""
        self.caller.require(ADMIN)
        rows = self.db.all(
            "SELECT " + PARKED_COLUMNS + " FROM parked_events "
            "WHERE %s OR replayed_at IS NULL ORDER BY id DESC LIMIT 500", (bool(include_replayed),))
        return {"items": [dump_parked(row) for row in rows], "next": None}

    @rpc
    def replay_parked_event(self, parked_id):
        identity = self.caller.require(ADMIN)
        row = self.events.replay_parked(parked_id)
        if row is None:
            raise NotFound("No parked event %s" % parked_id, code="parked_event_not_found")
        log.info("parked event %s replayed by %s", parked_id, identity.username)
        return dump_parked(row)
