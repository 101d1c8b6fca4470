"""``make bench ARGS=analytics``: a campaign's analytics over 1,000,000 purchases, p99 <= 200 ms.

    make bench ARGS="analytics --purchases 1000000 --requests 300 --concurrency 4"

1. The system as ``make bench`` finds or starts it (``devtools.bench``), signed in as demo-owner.
2. Setup (not measured): the owner creates and activates a campaign through the API. Then
   ``--purchases`` purchases at the demo merchant's stores by ``--customers`` customers over the
   last 30 days are written straight into the campaign schema with ``generate_series`` (one API
   call each would take hours), a tenth of the customers become the campaign's redeemers, and the
   pre-aggregated figures are built by the service's own set-based backfill
   (``services.campaign.analytics.rebuild``), the code that keeps them for a campaign started late.
3. Measured: ``--requests`` ``GET /api/v1/campaigns/{id}/analytics`` by ``--concurrency`` threads,
   each with its own connection; p50, p90, p99 and the slowest, against the 200 ms target. The same
   is measured first on a campaign with no purchases at all (the baseline): what the gateway, the
   RPC and a loaded machine cost, whatever the data; the difference is what the data costs. Then
   the merchant's analytics across its campaigns (``GET /api/v1/analytics``) over the same data.
4. Checked: the answer counts every purchase. The bench's rows are deleted at the end (``--keep``
   leaves them).
"""
import argparse
import contextlib
import sys
import threading
import time

import psycopg2
import requests

from devtools.bench import (DEFAULT_URL, OWNER, BenchError, Login, StartedSystem, gateway_answers, say, summarize)

TARGET_P99_MS = 200.0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m devtools.bench analytics", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--password", default=None, help="the demo users' password (VOWREWARDS_DEMO_PASSWORD)")
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the generated rows in the database")
    return parser.parse_args(argv)


class PlainTransaction:
    """What ``analytics.rebuild`` needs of ``plumbing.db``'s transaction, on a plain connection
    (``cursor`` for anything else)."""

    def __init__(self, cursor):
        self.cursor = cursor

    def execute(self, sql, params=None):
        self.cursor.execute(sql, params)
        return self.cursor.rowcount


@contextlib.contextmanager
def campaign_transaction(database_url):
    """A transaction in the campaign schema as ``database_url``'s user, committed at the end."""
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute("SET search_path TO campaign")
            yield PlainTransaction(cursor)
    finally:
        conn.close()


def generate(database_url, merchant_id, stores, campaign_id, purchases, customers):
    """The customers, purchases and redeemers (tagged ``bench``), then the figures rebuilt."""
    from services.campaign import analytics
    with campaign_transaction(database_url) as tx:
        cur = tx.cursor
        cur.execute("INSERT INTO customers (id, merchant_id, member_id, name, tags) SELECT gen_random_uuid(), %s, "
                    "'BENCH-' || n, 'Bench customer ' || n, '{bench}' FROM generate_series(1, %s) n",
                    (merchant_id, customers))
        cur.execute("CREATE TEMP TABLE bench_customers AS SELECT row_number() OVER () AS n, id FROM customers "
                    "WHERE merchant_id = %s AND tags @> '{bench}'", (merchant_id,))
        cur.execute("CREATE INDEX ON bench_customers (n)")
        # purchases spread over the last 30 days, the stores and the customers (some buy often)
        cur.execute("INSERT INTO purchases (id, merchant_id, store_id, customer_id, receipt_id, amount, currency, "
                    "request_hash, recorded_by, created_at) SELECT gen_random_uuid(), %(m)s, "
                    "(%(stores)s::uuid[])[1 + g.i %% array_length(%(stores)s::uuid[], 1)], c.id, 'BENCH-' || g.i, "
                    "500 + (g.i * 7919) %% 50000, 'ZAR', 'bench', '{\"role\": \"bench\"}', "
                    "now() - make_interval(secs => (g.i * 2.592) %% 2592000) "
                    "FROM generate_series(1::bigint, %(p)s) AS g(i) JOIN bench_customers c "
                    "ON c.n = 1 + ((g.i * g.i) %% %(c)s)", {"m": merchant_id, "stores": stores, "p": purchases,
                                                             "c": customers})
        cur.execute("INSERT INTO campaign_redeemers (campaign_id, customer_id, first_redeemed_at) "
                    "SELECT %s, id, now() FROM bench_customers WHERE n %% 10 = 0", (campaign_id,))
        cur.execute("INSERT INTO campaign_daily (campaign_id, store_id, day, issued, redeemed, discount) "
                    "SELECT %s, s, current_date - d, 400, 120, 120 * 500 FROM unnest(%s::uuid[]) s, "
                    "generate_series(0, 29) d", (campaign_id, stores))
        cur.execute("UPDATE campaigns SET valid_from = now() - interval '31 days', issued_count = 400 * 30 * %s, "
                    "redeemed_count = 120 * 30 * %s, spent = 120 * 30 * 500 * %s WHERE id = %s",
                    (len(stores), len(stores), len(stores), campaign_id))
        cur.execute("INSERT INTO merchant_redeemers (merchant_id, customer_id, first_redeemed_at) SELECT %s, "
                    "customer_id, now() FROM campaign_redeemers WHERE campaign_id = %s ON CONFLICT DO NOTHING",
                    (merchant_id, campaign_id))
        started = time.perf_counter()
        analytics.rebuild(tx, campaign_id)
        analytics.rebuild_store_sales(tx, merchant_id)
        cur.execute("ANALYZE campaign_store_summary; ANALYZE campaign_daily_sales; ANALYZE campaign_daily; "
                    "ANALYZE store_sales")
        return time.perf_counter() - started


def clean(database_url, merchant_id, campaign_id):
    with campaign_transaction(database_url) as tx:
        cur = tx.cursor
        for table in ("campaign_customer_stats", "campaign_store_summary", "campaign_daily_sales", "campaign_daily",
                      "campaign_redeemers"):
            cur.execute("DELETE FROM %s WHERE campaign_id = %%s" % table, (campaign_id,))
        cur.execute("DELETE FROM merchant_redeemers WHERE merchant_id = %s AND customer_id IN (SELECT id FROM "
                    "customers WHERE merchant_id = %s AND tags @> '{bench}')", (merchant_id, merchant_id))
        cur.execute("DELETE FROM purchases WHERE merchant_id = %s AND request_hash = 'bench'", (merchant_id,))
        cur.execute("DELETE FROM customers WHERE merchant_id = %s AND tags @> '{bench}'", (merchant_id,))
        cur.execute("UPDATE campaigns SET status = 'ended' WHERE id = %s", (campaign_id,))
        from services.campaign import analytics
        analytics.rebuild_store_sales(tx, merchant_id)  # the merchant's own purchases, without the bench's


def measure(url, headers, requests_, concurrency):
    timings, failures, lock = [], [], threading.Lock()
    per_thread = [requests_ // concurrency + (1 if i < requests_ % concurrency else 0) for i in range(concurrency)]

    def worker(count):
        session = requests.Session()
        for _ in range(count):
            started = time.perf_counter()
            response = session.get(url, headers=headers, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                (timings if response.status_code == 200 else failures).append(
                    elapsed if response.status_code == 200 else response.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, failures


def new_campaign(api, owner, name):
    created = requests.post(api + "/campaigns", headers=owner.headers(), timeout=30, json={
        "name": name, "currency": "ZAR", "goal": "repeat_purchase",
        "reward": {"type": "voucher", "kind": "discount_fixed", "value": 500}}).json()
    requests.post("%s/campaigns/%s/activation" % (api, created["id"]), headers=owner.headers(), timeout=30)
    return created["id"]


def main(argv):
    args = parse_args(argv)
    from plumbing import config as cfg
    url = args.url.rstrip("/")
    api = url + "/api/v1"
    system = None
    password = args.password or cfg.env("VOWREWARDS_DEMO_PASSWORD")
    try:
        if not gateway_answers(url):
            import secrets
            password = password or secrets.token_urlsafe(12)
            system = StartedSystem(password, cfg.LOCAL_DIR / "bench" / "processes.log")
        owner = Login(api, OWNER, password)
        merchant_id = requests.get(api + "/me", headers=owner.headers(), timeout=30).json()["merchant_id"]
        stores = [s["id"] for s in requests.get("%s/merchants/%s/stores" % (api, merchant_id), timeout=30,
                                                headers=owner.headers()).json()["items"]]
        campaign_id, empty_id = (new_campaign(api, owner, name) for name in ("Bench analytics", "Bench baseline"))
        database_url = cfg.admin_database_url()
        say("writing %d purchases by %d customers at %d stores, then the pre-aggregates" % (
            args.purchases, args.customers, len(stores)))
        started = time.perf_counter()
        rebuild_seconds = generate(database_url, merchant_id, stores, campaign_id, args.purchases, args.customers)
        say("setup %.0f s (of which the backfill %.1f s)" % (time.perf_counter() - started, rebuild_seconds))
        target = "%s/campaigns/%s/analytics" % (api, campaign_id)
        first = requests.get(target, headers=owner.headers(), timeout=30).json()
        counted = first["redeemers"]["purchases"] + first["non_redeemers"]["purchases"]
        if counted != args.purchases:
            raise BenchError("the analytics count %d purchases of %d" % (counted, args.purchases))
        base_timings, _ = measure("%s/campaigns/%s/analytics" % (api, empty_id), owner.headers(), args.requests,
                                  args.concurrency)
        base = summarize(base_timings)
        print("baseline, a campaign with no purchases (%d requests, %d threads): p50 %.1f ms, p90 %.1f ms, "
              "p99 %.1f ms" % (len(base_timings), args.concurrency, base["p50"], base["p90"], base["p99"]))
        timings, failures = measure(target, owner.headers(), args.requests, args.concurrency)
        figures = summarize(timings)
        print("analytics over %d purchases, %d customers (%d requests, %d threads): p50 %.1f ms, p90 %.1f ms, "
              "p99 %.1f ms, max %.1f ms; %d failed; target p99 <= %.0f ms: %s" % (
                  args.purchases, args.customers, len(timings), args.concurrency, figures["p50"], figures["p90"],
                  figures["p99"], max(timings), len(failures), TARGET_P99_MS,
                  "met" if figures["p99"] <= TARGET_P99_MS and not failures else "MISSED"), flush=True)
        print("repeat purchase rate: redeemers %s, non-redeemers %s" % (
            first["repeat_purchase_rate"]["redeemers"], first["repeat_purchase_rate"]["non_redeemers"]))
        store_timings, store_failures = measure(api + "/analytics", owner.headers(), args.requests, args.concurrency)
        store = summarize(store_timings)
        print("the merchant's analytics across campaigns, last 30 days (%d requests): p50 %.1f ms, p90 %.1f ms, "
              "p99 %.1f ms; %d failed; target p99 <= %.0f ms: %s" % (
                  len(store_timings), store["p50"], store["p90"], store["p99"], len(store_failures), TARGET_P99_MS,
                  "met" if store["p99"] <= TARGET_P99_MS and not store_failures else "MISSED"), flush=True)
        if not args.keep:
            clean(database_url, merchant_id, campaign_id)
        met = all(f["p99"] <= TARGET_P99_MS for f in (figures, store)) and not failures and not store_failures
        return 0 if met else 1
    finally:
        if system is not None:
            system.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
