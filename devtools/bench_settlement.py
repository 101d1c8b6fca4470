"""``make bench ARGS="settlement [--entries 1000000] [--events 5000]"``: the settlement ledger's
sustained insert rate from ``voucher_redeemed`` events, and the time to close a batch over
``--entries`` entries. Runs in a database and RabbitMQ vhost of its own, dropped at the end.

1. Events: ``--events`` events (a third merchant-funded, a third platform-funded under a 2.5 %
   agreement, a third partner-funded; ten merchants, five stores each) are published as redemption's
   outbox relay publishes them, then a real settlement container starts and consumes them; the rate
   is events booked (hash chained, balanced, one transaction each) per second, container start to
   last entry (so it includes the container's start, a fraction of a second).
2. Close: ``--entries`` entries of one merchant (20 stores, three counterparties, reversals among them)
   are written by SQL (seeding, not measured; postings are not seeded: closing does not read them),
   then ``batches.close_period`` takes them all: one statement netting them into lines, the
   reconciliation totals of the period, the transitions. Redemption's side of the reconciliation is
   answered from the same rows here (its real query runs over its own table, in its own process).
"""
import warnings

warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 - before anything opens a socket

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from plumbing import config as cfg  # noqa: E402


def say(text):
    print("bench settlement: %s" % text, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m devtools.bench settlement", description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the batch closed (%(default)s)")
    parser.add_argument("--events", type=int, default=3000, help="voucher_redeemed events booked (%(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    return parser.parse_args(argv)


def component_url(admin_url):
    return cfg.with_user(admin_url, cfg.service_role("settlement")) if cfg.role_per_service() else admin_url


class Scratch:
    """A database with settlement's schema and a vhost with the topology, both removed at the end."""

    def __enter__(self):
        from devtools.servers import create_vhost
        from plumbing.migrations import bootstrap, ensure_database, upgrade
        from plumbing.topology import declare_topology
        self.suffix = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
        self.admin = cfg.admin_database_url()
        self.name = "vowbench_settlement_" + self.suffix
        self.url = cfg.with_database(self.admin, self.name)
        ensure_database(self.url)
        os.environ["DB_ROLE_PER_SERVICE"] = "1" if bootstrap(self.url) else "0"
        upgrade("settlement", component_url(self.url))
        self.base_amqp = cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)
        self.vhost = "vowbench-settlement-" + self.suffix
        create_vhost(self.base_amqp, self.vhost)
        self.amqp = cfg.with_vhost(self.base_amqp, self.vhost)
        declare_topology(self.amqp)
        return self

    def __exit__(self, *exc):
        from devtools.servers import delete_vhost
        from plumbing.migrations import drop_database
        delete_vhost(self.base_amqp, self.vhost)
        drop_database(self.admin, self.name)


def sql(url, statement, params=()):
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


# -- 1. the insert rate from events ------------------------------------------------------------------
def events_rate(scratch, count):
    from nameko.containers import ServiceContainer

    from plumbing.auth import generate_keypair
    from plumbing.events import event_exchange
    from plumbing.publishers import EventPublisher
    from services.redemption.contract.events import VoucherRedeemed
    from services.settlement.service import SettlementService
    config = cfg.service_config("settlement", AMQP_URI=scratch.amqp, BROKER_USERS={})
    config.update({"DATABASE_URL": component_url(scratch.url), "DB_SCHEMA": "settlement", "HEALTH_PORT": None,
                   "JWT_PUBLIC_KEY": generate_keypair()[1], "DB_POOL_SIZE": 10})
    merchants = [str(uuid.uuid4()) for _ in range(10)]
    stores = {m: [str(uuid.uuid4()) for _ in range(5)] for m in merchants}
    agreements = {}
    for merchant in merchants:
        for kind in ("platform", "partner"):
            agreements[merchant, kind] = str(uuid.uuid4())
            sql(scratch.url, "INSERT INTO settlement.funding_terms (agreement_id, merchant_id, funder_kind, funder_name, "
                "currency, commission_bp) VALUES (%s, %s, %s, %s, 'ZAR', 250)",
                (agreements[merchant, kind], merchant, kind, "Acme" if kind == "partner" else None))
    now = datetime.now(timezone.utc)
    payloads = []
    for n in range(count):
        merchant = merchants[n % len(merchants)]
        funding = ("merchant", "platform", "partner")[n % 3]
        payloads.append(VoucherRedeemed.to_wire(VoucherRedeemed.of(
            redemption_id=str(uuid.uuid4()), reference="RD-BENCH%06d" % n, voucher_id=str(uuid.uuid4()),
            merchant_id=merchant, store_id=stores[merchant][n % 5], amount=500 + n % 1000, currency="ZAR",
            points=0, points_value=0, customer_id=None, campaign_id=None, points_reservation_id=None,
            funding=funding, funding_agreement_id=agreements.get((merchant, funding)), channel="pos", method="code",
            processed_by={"user_id": "bench", "username": "bench", "role": "store_user"}, redeemed_at=now)))
    # published first, into the handler's queue (declared with the topology), so what is timed is
    # the consumer's sustained rate, not the publisher's
    publisher = EventPublisher(scratch.amqp, serializer="json")
    began = time.perf_counter()
    for payload in payloads:
        event_id = str(uuid.uuid4())
        publisher.publish(payload, exchange=event_exchange("redemption", {}, declare=False),
                          routing_key=VoucherRedeemed.routing_key(payload), message_id=event_id,
                          headers={"nameko.event_id": event_id, "nameko.event_source": "redemption"})
    published = time.perf_counter() - began
    container = ServiceContainer(SettlementService, config)
    started = time.perf_counter()
    container.start()
    try:
        booked, deadline = 0, time.monotonic() + max(120, count / 10)
        while booked < count and time.monotonic() < deadline:
            eventlet.sleep(0.25)
            booked = sql(scratch.url, "SELECT count(*) FROM settlement.journal_entries")[0][0]
        seconds = time.perf_counter() - started
    finally:
        container.stop()
    broken = [m for m in merchants if sql(scratch.url, "SELECT 1 FROM settlement.ledger_heads WHERE merchant_id = %s "
                                          "AND seq = (SELECT count(*) FROM settlement.journal_entries "
                                          "WHERE merchant_id = %s)", (m, m)) == []]
    return {"events": count, "booked": booked, "publish_seconds": round(published, 3),
            "seconds": round(seconds, 3), "entries_per_second": round(booked / seconds, 1),
            "chains_with_gaps": len(broken)}


# -- 2. closing a batch over many entries --------------------------------------------------------------
def seed(scratch, merchant, entries, occurred):
    stores = [str(uuid.uuid4()) for _ in range(20)]
    agreement = str(uuid.uuid4())
    # triggers off for the seeding session only (superuser): rows as booking would have written them
    sql(scratch.url, """
        SET session_replication_role = replica;
        INSERT INTO settlement.journal_entries (id, merchant_id, store_id, kind, source_id, source_reference, amount,
            currency, funding, counterparty, agreement_id, funded, fee, payable, occurred_at, description, seq,
            prev_hash, hash)
        SELECT gen_random_uuid(), %(merchant)s, (%(stores)s::uuid[])[1 + n %% 20],
            CASE WHEN n %% 50 = 0 THEN 'reversal' ELSE 'redemption' END, gen_random_uuid(), 'RD-' || n,
            CASE WHEN n %% 50 = 0 THEN -500 ELSE 500 END, 'ZAR', c.kind, c.kind,
            CASE WHEN c.kind = 'merchant' THEN NULL ELSE %(agreement)s::uuid END,
            CASE WHEN c.kind = 'merchant' THEN 0 ELSE 1 END * CASE WHEN n %% 50 = 0 THEN -500 ELSE 500 END,
            CASE WHEN c.kind = 'merchant' THEN 0 ELSE 1 END * CASE WHEN n %% 50 = 0 THEN -13 ELSE 13 END,
            CASE WHEN c.kind = 'merchant' THEN 0 ELSE 1 END * CASE WHEN n %% 50 = 0 THEN -487 ELSE 487 END,
            %(occurred)s + (n %% 86400) * interval '1 second', 'Redemption RD-' || n, n, md5(n::text), md5((n + 1)::text)
        FROM generate_series(1, %(entries)s) AS n,
            LATERAL (SELECT (ARRAY['merchant', 'platform', 'partner'])[1 + n %% 3] AS kind) c;
        INSERT INTO settlement.ledger_heads (merchant_id, seq, hash, currencies) VALUES (%(merchant)s, %(entries)s, 'bench', '{ZAR}');
    """,
        {"merchant": merchant, "stores": stores, "agreement": agreement, "occurred": occurred, "entries": entries})
    sql(scratch.url, "VACUUM ANALYZE settlement.journal_entries")


class Outbox:
    def __init__(self):
        self.emitted = []

    def emit(self, payload):
        self.emitted.append(payload)


def close_time(scratch, entries):
    from plumbing.auth import Identity
    from plumbing.db import ConnectionPool, Transaction
    from services.settlement import batches, storage
    merchant = str(uuid.uuid4())
    last_month = (datetime.now(timezone.utc).replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0,
                                                                                       second=0, microsecond=0)
    started = time.perf_counter()
    seed(scratch, merchant, entries, last_month)
    say("seeded %d entries in %.1fs" % (entries, time.perf_counter() - started))
    pool = ConnectionPool(component_url(scratch.url), size=4, schema="settlement", statement_timeout_ms=600000)
    tx = Transaction(pool)
    timings = {}

    class Redemption:  # redemption's side, answered from the same rows (see the docstring)
        @staticmethod
        def reconciliation_totals(query):
            began = time.perf_counter()
            rows = pool.run(lambda t: storage.ledger_totals(t, query["merchant_id"], query["since"], query["until"]))
            timings["redemption_side_seconds"] = round(time.perf_counter() - began, 3)
            return {"items": [dict(r, store_id=str(r["store_id"]), currency=r["currency"].strip()) for r in rows]}

    svc = SimpleNamespace(db=tx, events=Outbox(), redemption=Redemption(), config={},
                          metrics=SimpleNamespace(count=lambda *a, **k: None))
    try:
        began = time.perf_counter()
        batch = batches.close_period(svc, merchant, last_month.strftime("%Y-%m"), "ZAR", Identity.system("bench"))
        tx.commit()
        seconds = time.perf_counter() - began
    finally:
        tx.release()
        pool.close()
    return dict({"entries": entries, "seconds": round(seconds, 3), "batch_entries": batch["entry_count"],
                 "lines": len(batch["lines"]), "payout_amount": batch["payout_amount"],
                 "reconciled": batch["reconciliation"]["matched"], "goal_seconds": 10}, **timings)


def main(argv=None):
    import sys
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = {}
    with Scratch() as scratch:
        say("booking %d events..." % args.events)
        results["ledger_from_events"] = events_rate(scratch, args.events)
        say("%(booked)d events booked in %(seconds).1fs: %(entries_per_second).0f entries/s" %
            results["ledger_from_events"])
        say("closing a batch over %d entries..." % args.entries)
        results["close_batch"] = close_time(scratch, args.entries)
        say("closed %(batch_entries)d entries into %(lines)d lines in %(seconds).2fs (goal < 10s)" %
            results["close_batch"])
    print(json.dumps(results, indent=2), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    ok = results["close_batch"]["batch_entries"] == args.entries and \
        results["ledger_from_events"]["booked"] == args.events
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
