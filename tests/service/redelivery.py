"""Delivering a set of events in any order, some of them twice, through a service's real handlers
(the broker, the retry queues, the dedupe table), for the redelivery properties of
``test_settlement_redelivery.py`` and ``test_campaign_redelivery.py``.

A schedule is drawn from the events of a few redemptions, some of them reversed: every event once,
plus up to three redeliveries of any of them (same event id: what the broker does after a lost
ack), in any order (so a reversal may come before its redemption).
"""
from collections import Counter
from contextlib import contextmanager
from unittest import mock

from hypothesis import strategies as st

from plumbing.events import Batch

from tests.service.conftest import new_id, wait_until


@st.composite
def schedules(draw, most=3):
    """``(shape, order)``: ``shape`` is a tuple of booleans, one per redemption (reversed or not);
    ``order`` lists ``("redeemed" | "reversed", index)`` deliveries, duplicates included."""
    shape = tuple(draw(st.lists(st.booleans(), min_size=1, max_size=most)))
    events = in_order(shape)
    again = draw(st.lists(st.sampled_from(events), max_size=3))
    return shape, draw(st.permutations(events + again))


def in_order(shape):
    """Each event once, in the order they happened: the redemptions, then the reversals."""
    return [("redeemed", i) for i in range(len(shape))] + [("reversed", i) for i, rev in enumerate(shape) if rev]


@contextmanager
def observed(container):
    """Every event a finished worker of ``container`` handled, as ``(event_id, ok)``, in order (its
    transaction is committed by then: ``FinishBeforeResult``). A batched handler's worker handles
    several (events left in its queue by an earlier module's publishers, say), and its context
    names none of them: they are read from its batch."""
    seen = []
    finish = container._worker_result

    def record(worker_ctx, result, exc_info):
        payload = worker_ctx.args[0] if worker_ctx.args else None
        ids = ([event_id for event_id, _ in payload] if isinstance(payload, Batch)
               else [worker_ctx.data.get("event_id")])
        seen.extend((event_id, exc_info is None) for event_id in ids)
        return finish(worker_ctx, result, exc_info)
    with mock.patch.object(container, "_worker_result", record):
        yield seen


def deliver(container, dispatch, order, payloads, timeout=15.0):
    """Publish ``order`` (keys of ``payloads``: ``key -> (event_id, payload)``) one at a time, each
    after the previous one's first attempt finished (so the order is the one given), then wait
    until every delivery has ended well: a failed attempt (a reversal before its redemption) is
    retried by the handler's retry queue."""
    delivered = Counter()
    with observed(container) as seen:
        for key in order:
            event_id, payload = payloads[key]
            before = len([1 for eid, _ in seen if eid == event_id])
            dispatch(payload, event_id=event_id)
            delivered[event_id] += 1
            wait_until(lambda: len([1 for eid, _ in seen if eid == event_id]) > before, timeout=timeout)

        def all_done():
            done = Counter(eid for eid, ok in seen if ok)
            return all(done[eid] >= count for eid, count in delivered.items())
        wait_until(all_done, timeout=timeout)


def event_ids(shape):
    return {key: new_id() for key in in_order(shape)}
