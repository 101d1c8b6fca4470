"""Who subscribes to what: the event topology, as data, and the bootstrap that declares it.

``SUBSCRIPTIONS`` has one row per event handler: the publisher, the event type, the subscribing
service and its handler method (``@event_handler`` in that service), all plain strings, so reading
the table imports no service. The bootstrap (``declare_topology``: ``make run``, ``make migrate``,
the Kubernetes topology Job, the test fixtures) declares from it, with the broker admin's
credentials and before any process starts, every events exchange and every row's queue (bound to
the publisher's exchange) with the subscriber's retry queues: an event published before its
subscriber's queue exists would be dropped. Each process then declares (again, harmlessly, as its
own broker user) only its own handlers' queues.

A unit test (tests/unit/test_topology.py) fails when this table and the services' handlers
disagree, either way. The gateway's ``session_revoked`` is no row: every process hears it on a
broadcast queue of its own (``plumbing.revocation``).
"""
import logging
from collections import namedtuple

from kombu import Connection, Exchange

from plumbing import config as cfg
from plumbing.broker import TOPOLOGY_MARKER
from plumbing.events import event_exchange, handler_queue, handler_queue_name, retry_delays_ms, retry_queue
from plumbing.framework import rpc_exchange

log = logging.getLogger(__name__)

# on_demand: the queue is bound to its publisher only while its service wants the events
# (plumbing.events.OnDemandSubscriptions); the bootstrap declares it with its redeliver binding only.
# narrow: bound to the bare event type alone, not "<type>.#" (plumbing.contracts: qualifier)
Subscription = namedtuple("Subscription", "source event_type subscriber handler on_demand narrow",
                          defaults=(False, False))
ON_DEMAND, NARROW = True, (False, True)

SUBSCRIPTIONS = tuple(Subscription(*row) for row in (
    # source       event type                        subscriber      handler
    ("redemption", "voucher_redeemed", "settlement", "record_redemption"),
    ("redemption", "voucher_redeemed", "campaign", "spend_budget_and_points", *NARROW),
    ("redemption", "redemption_reversed", "settlement", "record_reversal"),
    ("redemption", "redemption_reversed", "campaign", "refund_reversed_redemption"),
    ("redemption", "voucher_cancelled", "campaign", "release_cancelled_voucher"),
    ("redemption", "voucher_expired", "campaign", "release_expired_voucher"),
    ("settlement", "exception_raised", "support", "open_ticket_for_settlement_exception"),
    ("settlement", "payout_account_set", "notification", "email_payout_account_change"),
    ("settlement", "payout_verification_requested", "notification", "email_payout_verification_code"),
    ("support", "ticket_created", "settlement", "link_exception_ticket"),
    ("support", "ticket_resolved", "settlement", "resolve_exception_from_ticket"),
    ("notification", "email_received", "support", "take_in_email"),
    # notification: one handler per routed event type (services/notification/routing.py); those
    # only webhooks carry are heard only while some endpoint subscribes to them
    ("support", "ticket_created", "notification", "notify_support_ticket_created"),
    ("support", "ticket_acknowledged", "notification", "notify_support_ticket_acknowledged"),
    ("support", "ticket_resolved", "notification", "notify_support_ticket_resolved"),
    ("support", "ticket_assigned", "notification", "notify_support_ticket_assigned"),
    ("support", "message_posted", "notification", "notify_support_message_posted"),
    ("support", "ticket_overdue", "notification", "notify_support_ticket_overdue"),
    ("support", "ticket_escalated", "notification", "notify_support_ticket_escalated"),
    ("support", "ticket_cascaded", "notification", "notify_support_ticket_cascaded"),
    ("support", "ticket_closed", "notification", "notify_support_ticket_closed"),
    ("support", "ticket_reopened", "notification", "notify_support_ticket_reopened"),
    ("support", "conversation_message", "notification", "notify_support_conversation_message"),
    ("settlement", "exception_raised", "notification", "notify_settlement_exception_raised"),
    ("settlement", "exception_resolved", "notification", "notify_settlement_exception_resolved"),
    ("settlement", "batch_closed", "notification", "notify_settlement_batch_closed"),
    ("settlement", "batch_released", "notification", "notify_settlement_batch_released"),
    ("settlement", "payout_account_set", "notification", "notify_settlement_payout_account_set"),
    ("settlement", "payout_account_confirmed", "notification", "notify_settlement_payout_account_confirmed"),
    ("settlement", "payout_account_rejected", "notification", "notify_settlement_payout_account_rejected"),
    ("campaign", "budget_exhausted", "notification", "notify_campaign_budget_exhausted"),
    ("campaign", "points_adjusted", "notification", "notify_campaign_points_adjusted"),
    ("campaign", "funding_agreement_created", "notification", "notify_campaign_funding_agreement_created"),
    ("campaign", "funding_agreement_changed", "notification", "notify_campaign_funding_agreement_changed"),
    ("campaign", "issuance_approval_requested", "notification", "notify_campaign_issuance_approval_requested"),
    ("campaign", "issuance_approval_decided", "notification", "notify_campaign_issuance_approval_decided"),
    ("redemption", "redemption_lockout", "notification", "notify_redemption_redemption_lockout"),
    ("redemption", "redemption_reversed", "notification", "notify_redemption_redemption_reversed"),
    ("redemption", "voucher_cancelled", "notification", "notify_redemption_voucher_cancelled"),
    ("redemption", "voucher_expired", "notification", "notify_redemption_voucher_expired"),
    ("redemption", "voucher_issued", "notification", "notify_redemption_voucher_issued", ON_DEMAND),
    ("redemption", "voucher_batch_issued", "notification", "notify_redemption_voucher_batch_issued", ON_DEMAND),
    ("redemption", "voucher_redeemed", "notification", "notify_redemption_voucher_redeemed", ON_DEMAND),
    ("settlement", "entry_recorded", "notification", "notify_settlement_entry_recorded", ON_DEMAND),
    ("campaign", "campaign_created", "notification", "notify_campaign_campaign_created", ON_DEMAND),
    ("campaign", "campaign_changed", "redemption", "copy_campaign_rules"),
))

# where each publisher's events are declared (its contract), for tests and tools
EVENT_CONTRACTS = dict({name: "services.%s.contract.events" % name
                        for name in ("redemption", "settlement", "support", "campaign", "notification")},
                       gateway="plumbing.revocation")


def queue_name(subscription):
    return handler_queue_name(*subscription[:4])


def subscriptions_of(subscriber):
    return [row for row in SUBSCRIPTIONS if row.subscriber == subscriber]


def subscriber_queues():
    """service -> the names of its handlers' queues."""
    queues = {}
    for row in SUBSCRIPTIONS:
        queues.setdefault(row.subscriber, []).append(queue_name(row))
    return {service: sorted(names) for service, names in queues.items()}


def declarations(config):
    """(exchanges by name, queues) that the table needs, declared as the operator would."""
    exchanges, queues = {}, {}
    for component in cfg.ALL_COMPONENTS:
        exchanges[component + ".events"] = event_exchange(component, config, declare=True)
    for row in SUBSCRIPTIONS:
        queue = handler_queue(row.source, row.event_type, row.subscriber, row.handler, config,
                              declare_exchanges=True, on_demand=row.on_demand, narrow=row.narrow)
        queues[queue.name] = queue
        for retry in (retry_queue(row.subscriber, delay, config) for delay in retry_delays_ms(config)):
            queues[retry.name] = retry
    for queue in queues.values():
        for entity in [b.exchange for b in queue.bindings] + [queue.exchange]:
            if entity is not None and entity.name:
                exchanges[entity.name] = entity
    rpc = rpc_exchange(config, declare=True)
    exchanges[rpc.name] = rpc
    return exchanges, list(queues.values())


def declare_topology(amqp_uri, config=None):
    """Declare every exchange and every subscriber's queue, then the marker each process waits
    for (admin credentials). Returns the names of the subscriber queues declared."""
    delays = cfg.env_list_of_floats("EVENT_RETRY_DELAYS", (1, 10, 60, 600))
    config = dict(config or {"EVENT_RETRY_DELAYS": delays, "AMQP_QUEUE_TYPE": cfg.queue_type()},
                  AMQP_URI=amqp_uri)
    exchanges, queues = declarations(config)
    with Connection(amqp_uri, connect_timeout=10) as connection:
        connection.ensure_connection(max_retries=5)
        channel = connection.channel()
        try:
            for exchange in exchanges.values():
                exchange(channel).declare()
            for queue in queues:
                queue(channel).declare()
            Exchange(TOPOLOGY_MARKER, type="fanout", durable=True)(channel).declare()
        finally:
            channel.close()
    names = [queue.name for queue in queues if queue.name.startswith("evt-")]
    log.info("declared the event topology: %d subscriber queues", len(names))
    return names
