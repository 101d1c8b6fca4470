"""``make bench``: redemptions through the gateway over HTTP, and how soon the ledger has them.

    make bench ARGS="--redemptions 2000 --concurrency 16 --json bench-results/run.json"

1. Find the system: a gateway already answering at ``--url`` is used as it is
   (sign in with ``--password`` or ``VOWREWARDS_DEMO_PASSWORD``). Otherwise
   everything is started as ``make run`` does (``devtools.run``'s functions:
   servers, keys, migrations, the Procfile under devtools.supervise, readiness, demo seed)
   and stopped again at the end; the processes' log lines go to a file.
2. Setup (not measured): sign in as ``demo-owner``, ``demo-store`` and
   ``demo-finance``; the owner issues one single-use fixed-discount voucher
   per redemption (warm-up included), concurrently.
3. Warm-up: ``--warmup`` redemptions at the same concurrency, not counted.
4. Measured: ``--redemptions`` redemptions by ``--concurrency`` OS threads,
   each with its own ``requests.Session`` (one keep-alive connection per
   thread), each request timed with ``time.perf_counter()``.
5. Lag: the settlement ledger is read back through the API as finance (newest
   first, 200 a page) until every measured redemption has its entry or
   ``--lag-timeout`` passes; lag is the entry's ``recorded_at`` minus the
   redemption's ``created_at``.
6. Optionally (``--contended K``) K tills redeem one stored-value voucher at
   the same time until it is empty: throughput under the row lock, and a
   check that exactly its balance was redeemed.

Besides the figures asked for, it reports the CPU each process used during the
measured phase (from ``/proc``, Linux only) and, for a local system, the mean
server-side time per entrypoint from the services' ``/metrics``, so a slow run
says where its time went. The benchmark process itself does not use eventlet.
"""
import argparse
import json
import os
import platform
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

DEFAULT_URL = "http://127.0.0.1:8000"
OWNER, STORE, FINANCE = "demo-owner", "demo-store", "demo-finance"
VOUCHER = {"kind": "discount_fixed", "currency": "ZAR", "value": 500}
CONTENDED_STEP = 100  # minor units each contended redemption takes
ENTRY_PAGE = 200
CUTOFF_MARGIN_SECONDS = 30  # entries recorded this long before the first redemption cannot match
REQUEST_TIMEOUT = 30
EXHAUSTED_CODES = ("voucher_already_redeemed", "insufficient_balance")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")


# -- pure helpers (tests/unit/test_bench.py) ---------------------------------------
def percentile(values, pct):
    """The ``pct`` percentile (0-100) by linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values, percentiles=(50, 90, 99)):
    """Count, chosen percentiles, max and mean of ``values`` (None where empty)."""
    result = {"count": len(values)}
    for pct in percentiles:
        result["p%g" % pct] = percentile(values, pct)
    result["max"] = max(values) if values else None
    result["mean"] = sum(values) / len(values) if values else None
    return result


def scaled(summary, factor):
    """A summary with every figure but the count multiplied (seconds -> ms)."""
    return {key: (value if key == "count" or value is None else value * factor)
            for key, value in summary.items()}


def parse_timestamp(text):
    """An ISO 8601 timestamp as an aware datetime (``Z`` accepted)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)


def match_lags(created, entries):
    """Seconds from each redemption's ``created_at`` to its ledger entry's ``recorded_at``.

    ``created`` maps redemption id to its ``created_at`` (ISO text); ``entries``
    are ledger entries as the API lists them. Only ``kind == "redemption"``
    entries count (a reversal names the same redemption). Returns ``(lags, missing)``:
    lag by redemption id, and the ids that have no entry yet (sorted).
    """
    recorded = {}
    for entry in entries:
        if entry.get("kind", "redemption") != "redemption":
            continue
        redemption_id = entry.get("redemption_id")
        if redemption_id in created and redemption_id not in recorded:
            recorded[redemption_id] = entry["recorded_at"]
    lags = {rid: (parse_timestamp(recorded[rid]) - parse_timestamp(created[rid])).total_seconds()
            for rid in recorded}
    missing = sorted(rid for rid in created if rid not in recorded)
    return lags, missing


def count_outcomes(outcomes):
    """``{"201": 1990, "409": 10, "ConnectionError": 1}`` from statuses or exception names."""
    counts = Counter(str(outcome) for outcome in outcomes)
    return dict(sorted(counts.items()))


def format_table(rows, headers=None, align=None):
    """A plain-text table; numbers right-aligned unless ``align`` (a string of l/r) says."""
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if headers:
        rows = [[str(h) for h in headers]] + rows
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(width)]
    align = align or "l" + "r" * (width - 1)
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if align[i] == "l" else cell.rjust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if headers and index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value, digits=1, suffix=""):
    """A number for a table cell; '-' when there is none."""
    if value is None:
        return "-"
    return ("%." + str(digits) + "f%s") % (value, suffix)


def oldest_recorded_before(page_items, cutoff):
    """True when the last (oldest) entry of a newest-first page was recorded before ``cutoff``."""
    if not page_items:
        return True
    return parse_timestamp(page_items[-1]["recorded_at"]) < cutoff


PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """``{(name, ((label, value), ...)): float}`` from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = PROM_LINE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        samples[(name, tuple(sorted(PROM_LABEL.findall(labels or ""))))] = number
    return samples


def histogram_means(before, after, name, keys):
    """Per label group ``keys``: how many observations ``name`` got between two scrapes, and their mean."""
    groups = {}
    for (metric, labels), value in after.items():
        if metric not in (name + "_sum", name + "_count"):
            continue
        delta = value - before.get((metric, labels), 0.0)
        label_map = dict(labels)
        group = tuple(label_map.get(k, "") for k in keys)
        slot = groups.setdefault(group, {"sum": 0.0, "count": 0.0})
        slot["sum" if metric.endswith("_sum") else "count"] += delta
    return {group: {"count": int(round(v["count"])), "mean": v["sum"] / v["count"]}
            for group, v in groups.items() if v["count"] > 0.5}


def classify_process(cmdline, comm, pid=None, own_pid=None):
    """Which part of the system a process is, for the CPU table."""
    if own_pid is not None and pid == own_pid:
        return "bench (this process)"
    if comm.startswith("postgres") or cmdline.startswith("postgres"):
        return "postgres"
    if comm.startswith("beam") or "rabbit" in cmdline:
        return "rabbitmq"
    match = re.search(r"-m\s+(gateway|services\.(\w+))(\s|$)", cmdline)
    if match:
        return match.group(2) or "gateway"
    if re.search(r"-m\s+devtools\.till_asgi(\s|$)", cmdline):
        return "till http (uvicorn)"
    match = re.search(r"-m\s+devtools\.(echo_asgi|echo\s+(rpc|http))(\s|$)", cmdline)
    if match:
        return "echo http (uvicorn)" if match.group(1) == "echo_asgi" else "echo %s (nameko)" % match.group(2)
    if comm == "wrk":
        return "wrk (load generator)"
    return "other"


# -- /proc: CPU used per part of the system ----------------------------------------
def cpu_snapshot():
    """CPU ticks per process (keyed by pid and start time) and for the whole machine."""
    if not os.path.exists("/proc/stat"):
        return None
    own = os.getpid()
    processes = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as fh:
                stat = fh.read()
            with open("/proc/%s/cmdline" % name, "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        processes[(int(name), fields[19])] = (classify_process(cmdline, comm, int(name), own), ticks)
    with open("/proc/stat") as fh:
        cpu = [int(x) for x in fh.readline().split()[1:]]
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)
    return {"processes": processes, "busy": sum(cpu) - idle, "total": sum(cpu)}


def cpu_usage(before, after, seconds):
    """CPU seconds and percent of one core per group between two snapshots, and machine busy %."""
    if not before or not after or seconds <= 0:
        return None
    tick = float(os.sysconf("SC_CLK_TCK"))
    groups = Counter()
    for key, (group, ticks) in after["processes"].items():
        previous = before["processes"].get(key)
        groups[group] += ticks - (previous[1] if previous else 0)
    total = after["total"] - before["total"]
    return {
        "groups": {group: {"cpu_seconds": ticks / tick, "percent_of_one_core": 100.0 * ticks / tick / seconds}
                   for group, ticks in groups.most_common() if ticks > 0},
        "machine_busy_percent": 100.0 * (after["busy"] - before["busy"]) / total if total else None,
    }


# -- the API -------------------------------------------------------------------------
class BenchError(SystemExit):
    def __init__(self, message):
        super().__init__("vowrewards bench: " + message)


def say(message):
    print("bench: " + message, flush=True)


def new_session():
    """One session, one keep-alive connection: never shared between threads."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Login:
    """A signed-in demo user; signs in again shortly before the access token expires."""

    def __init__(self, api, username, password):
        self.api, self.username, self.password = api, username, password
        self._lock = threading.Lock()
        self._headers = None
        self._expires = 0.0
        self.user = None
        self.headers()

    def headers(self):
        with self._lock:
            if time.monotonic() > self._expires - 60:
                response = requests.post(self.api + "/auth/token", timeout=REQUEST_TIMEOUT,
                                         json={"username": self.username, "password": self.password})
                if response.status_code != 200:
                    raise BenchError("could not sign in as %s (%s): %s" % (
                        self.username, response.status_code, response.text[:300]))
                body = response.json()
                self._headers = {"Authorization": "Bearer " + body["access_token"]}
                self._expires = time.monotonic() + float(body.get("expires_in") or 900)
                self.user = body.get("user")
            return dict(self._headers)


def run_threads(items, concurrency, work):
    """Run ``work(session, item)`` for every item on ``concurrency`` OS threads.

    Each thread has its own session. Returns ``(results, wall_seconds)``: the
    results in item order, and the time from all threads being ready to the last finishing.
    """
    items = list(items)
    results = [None] * len(items)
    next_index = iter(range(len(items)))
    take = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    failures = []

    def thread_main():
        session = new_session()
        try:
            ready.wait()
            while True:
                with take:
                    index = next(next_index, None)
                if index is None:
                    return
                results[index] = work(session, items[index])
        except BaseException as exc:  # a bug in the bench, not a failed request
            failures.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=thread_main, name="bench-%d" % i, daemon=True)
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise failures[0]
    return results, wall


def timed_post(session, url, body, headers):
    """POST and time it: ``(outcome, seconds, json-or-None)``; outcome is the status or the exception's name."""
    started = time.perf_counter()
    try:
        response = session.post(url, json=body, headers=headers, timeout=REQUEST_TIMEOUT)
        elapsed = time.perf_counter() - started
    except requests.RequestException as exc:
        return type(exc).__name__, time.perf_counter() - started, None
    try:
        data = response.json()
    except ValueError:
        data = None
    return response.status_code, elapsed, data


def issue_vouchers(api, owner, count, concurrency):
    def work(session, _):
        outcome, _, data = timed_post(session, api + "/vouchers", VOUCHER,
                                      dict(owner.headers(), **{"Idempotency-Key": str(uuid.uuid4())}))
        return data["code"] if outcome == 201 else ("error", outcome, data)

    codes, wall = run_threads(range(count), concurrency, work)
    errors = [c for c in codes if isinstance(c, tuple)]
    if errors:
        raise BenchError("issuing vouchers failed %d time(s), e.g. %s %s" % (
            len(errors), errors[0][1], json.dumps(errors[0][2])[:300]))
    return codes, wall


def redeem_all(api, store, codes, concurrency):
    """Redeem each code once; returns (records, wall) with records of (outcome, seconds, id, created_at)."""
    def work(session, code):
        outcome, elapsed, data = timed_post(
            session, api + "/redemptions", {"code": code, "channel": "pos"},
            dict(store.headers(), **{"Idempotency-Key": str(uuid.uuid4())}))
        if outcome == 201 and data:
            return outcome, elapsed, data.get("id"), data.get("created_at")
        return outcome, elapsed, None, error_code(data)

    return run_threads(codes, concurrency, work)


def error_code(data):
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"].get("code")
    return None


def read_entries(api, finance, cutoff, session):
    """Ledger entries newest first, until ``next`` is null or the page is older than ``cutoff``."""
    entries, cursor, pages = [], None, 0
    while True:
        params = {"limit": ENTRY_PAGE}
        if cursor:
            params["cursor"] = cursor
        response = session.get(api + "/settlements/entries", params=params, headers=finance.headers(),
                               timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise BenchError("reading the ledger failed (%s): %s" % (response.status_code,
                                                                     response.text[:300]))
        body = response.json()
        pages += 1
        entries.extend(body["items"])
        cursor = body.get("next")
        if not cursor or oldest_recorded_before(body["items"], cutoff):
            return entries, pages


def wait_for_entries(api, finance, created, timeout, interval=1.0):
    """Poll the ledger until every redemption in ``created`` has its entry, or ``timeout``."""
    if not created:
        return {}, [], 0.0, 0
    first = min(parse_timestamp(ts) for ts in created.values())
    cutoff = first.timestamp() - CUTOFF_MARGIN_SECONDS
    cutoff = datetime.fromtimestamp(cutoff, first.tzinfo)
    session = new_session()
    started = time.perf_counter()
    polls = 0
    try:
        while True:
            entries, _ = read_entries(api, finance, cutoff, session)
            polls += 1
            lags, missing = match_lags(created, entries)
            waited = time.perf_counter() - started
            if not missing or waited >= timeout:
                return lags, missing, waited, polls
            time.sleep(interval)
    finally:
        session.close()


def contended_run(api, owner, store, tills, total):
    """``tills`` threads redeem one stored-value voucher, CONTENDED_STEP at a time, until it is empty."""
    total = max(1, min(total, 1000))  # uses_allowed is at most 1000
    value = total * CONTENDED_STEP
    response = requests.post(api + "/vouchers", timeout=REQUEST_TIMEOUT, headers=owner.headers(), json={
        "kind": "stored_value", "currency": "ZAR", "value": value, "uses_allowed": 1000})
    if response.status_code != 201:
        raise BenchError("could not issue the stored-value voucher (%s): %s" % (
            response.status_code, response.text[:300]))
    code = response.json()["code"]

    def till(session, _):
        records = []
        while True:
            outcome, elapsed, data = timed_post(
                session, api + "/redemptions", {"code": code, "channel": "pos", "amount": CONTENDED_STEP},
                dict(store.headers(), **{"Idempotency-Key": str(uuid.uuid4())}))
            amount = data.get("amount") if outcome == 201 and data else 0
            records.append((outcome, elapsed, amount))
            if outcome == 409 and error_code(data) in EXHAUSTED_CODES:
                return records
            if outcome != 201 and len([r for r in records if r[0] != 201]) > 20:
                return records  # something else is wrong: do not spin

    per_till, wall = run_threads(range(tills), tills, till)
    records = [record for till_records in per_till for record in till_records]
    succeeded = [r for r in records if r[0] == 201]
    voucher = requests.get(api + "/vouchers/" + code, headers=owner.headers(), timeout=REQUEST_TIMEOUT)
    voucher = voucher.json() if voucher.status_code == 200 else {}
    redeemed = sum(r[2] for r in succeeded)
    return {
        "tills": tills, "voucher_value": value, "step": CONTENDED_STEP,
        "redemptions": len(succeeded), "redeemed_amount": redeemed,
        "final_balance": voucher.get("balance"), "final_status": voucher.get("status"),
        "exact": redeemed == value and voucher.get("balance") == 0,
        "wall_seconds": wall, "throughput_per_s": len(succeeded) / wall if wall else None,
        "latency_ms": scaled(summarize([r[1] for r in succeeded]), 1000.0),
        "outcomes": count_outcomes(r[0] for r in records),
    }


# -- metrics of a local system -------------------------------------------------------
def scrape_metrics(host):
    from plumbing import config as cfg
    samples = {}
    for component in cfg.ALL_COMPONENTS:
        try:
            response = requests.get("http://%s:%d/metrics" % (host, cfg.health_port(component)), timeout=3)
        except requests.RequestException:
            continue
        if response.ok:
            samples.update(parse_prometheus(response.text))
    return samples


def server_side_times(before, after):
    if not before or not after:
        return None
    entrypoints = histogram_means(before, after, "vowrewards_entrypoint_duration_seconds",
                                  ("service", "method", "kind"))
    lags = histogram_means(before, after, "vowrewards_event_lag_seconds",
                           ("service", "source", "event_type"))
    return {
        "entrypoints": [{"service": s, "method": m, "kind": k, "count": v["count"], "mean_ms": v["mean"] * 1000}
                        for (s, m, k), v in sorted(entrypoints.items())],
        "event_lag": [{"service": s, "source": src, "event_type": e, "count": v["count"],
                       "mean_ms": v["mean"] * 1000} for (s, src, e), v in sorted(lags.items())],
    }


# -- the system under test -----------------------------------------------------------
def gateway_answers(url):
    try:
        return requests.get(url.rstrip("/") + "/api/v1/openapi.json", timeout=5).status_code == 200
    except requests.RequestException:
        return False


class StartedSystem:
    """Everything ``make run`` starts (``devtools.run.Stack``), its log lines in a file."""

    def __init__(self, password, log_path):
        from devtools.run import Stack
        say("no gateway answering: starting everything as `make run` does (process logs: %s)" % log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "ab")
        started_at = time.perf_counter()
        try:
            self.stack = Stack(password, stdout=self.log)
        except BaseException:
            self.log.close()
            raise
        self.startup_seconds = time.perf_counter() - started_at

    def stop(self):
        say("stopping what it started")
        self.stack.stop()
        self.log.close()


# -- the run ---------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="the gateway (default %(default)s)")
    parser.add_argument("--password", default=None,
                        help="demo users' password (default: VOWREWARDS_DEMO_PASSWORD; random when "
                             "the bench starts the system itself)")
    parser.add_argument("--redemptions", type=int, default=2000, help="measured redemptions (%(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (%(default)s)")
    parser.add_argument("--warmup", type=int, default=100, help="redemptions before measuring (%(default)s)")
    parser.add_argument("--setup-concurrency", type=int, default=8,
                        help="threads issuing vouchers during setup (%(default)s)")
    parser.add_argument("--contended", type=int, default=0, metavar="K",
                        help="also have K tills redeem one stored-value voucher at once")
    parser.add_argument("--contended-redemptions", type=int, default=200, metavar="N",
                        help="how many redemptions empty that voucher (at most 1000; %(default)s)")
    parser.add_argument("--lag-timeout", type=float, default=60.0,
                        help="seconds to wait for the last ledger entries (%(default)s)")
    parser.add_argument("--json", metavar="FILE", default="bench-results/bench.json",
                        help="also write the figures to FILE as JSON (%(default)s)")
    parser.add_argument("--suite", choices=("full", "client"), default="full",
                        help="full: also the echo and database ceilings, wrk at each --tills, open loop, "
                             "issuance (devtools/bench_ceiling.py); client: this module's client only")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk / open-loop run (%(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="paired echo / redemption rounds (%(default)s)")
    parser.add_argument("--tills", default="1,16,64,256", help="wrk connections per run (%(default)s)")
    parser.add_argument("--code-rate", type=int, default=700,
                        help="vouchers issued per second of a wrk run, above any rate reached (%(default)s)")
    parser.add_argument("--replicas", type=int, default=2,
                        help="gateways and redemption services in the replica runs, when the bench starts the "
                             "system (1: none; %(default)s)")
    parser.add_argument("--issuance", type=int, default=100000, help="codes in the issuance scenario (%(default)s)")
    parser.add_argument("--png", default="bench-results/latency.png",
                        help="latency against offered load (%(default)s)")
    parser.add_argument("--server-log", metavar="FILE", default=None,
                        help="where the processes' logs go when the bench starts them "
                             "(default .local/bench/processes.log)")
    args = parser.parse_args(argv)
    for name in ("redemptions", "concurrency", "setup_concurrency"):
        if getattr(args, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.warmup < 0 or args.contended < 0:
        parser.error("--warmup and --contended cannot be negative")
    try:
        args.tills = [int(t) for t in args.tills.split(",") if t.strip()]
    except ValueError:
        parser.error("--tills takes numbers separated by commas")
    return args


def machine_context(system_started, args):
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(), "usable_cpus": usable,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(), "platform": platform.platform(),
        "system": "started by the bench" if system_started else "reused (already running)",
        "url": args.url, "concurrency": args.concurrency, "redemptions": args.redemptions,
        "warmup": args.warmup,
    }


def benchmark(args, api, password, local):
    results = {}
    setup_started = time.perf_counter()
    owner = Login(api, OWNER, password)
    store = Login(api, STORE, password)
    finance = Login(api, FINANCE, password)
    total = args.warmup + args.redemptions
    say("setup: issuing %d vouchers as %s (%d threads)" % (total, OWNER, args.setup_concurrency))
    codes, issue_wall = issue_vouchers(api, owner, total, args.setup_concurrency)
    results["setup"] = {"vouchers_issued": total, "issue_seconds": issue_wall,
                        "issue_per_s": total / issue_wall if issue_wall else None}
    warm, measured = codes[:args.warmup], codes[args.warmup:]
    if warm:
        say("warm-up: %d redemptions" % len(warm))
        warm_records, warm_wall = redeem_all(api, store, warm, args.concurrency)
        results["warmup"] = {"redemptions": len(warm), "seconds": warm_wall,
                             "outcomes": count_outcomes(r[0] for r in warm_records)}
    results["setup"]["total_seconds"] = time.perf_counter() - setup_started

    say("measuring: %d redemptions, %d threads" % (len(measured), args.concurrency))
    metrics_before = scrape_metrics(urlsplit(args.url).hostname) if local else None
    cpu_before = cpu_snapshot() if local else None
    records, wall = redeem_all(api, store, measured, args.concurrency)
    cpu_after = cpu_snapshot() if local else None
    metrics_after = scrape_metrics(urlsplit(args.url).hostname) if local else None

    ok = [r for r in records if r[0] == 201]
    failed_codes = Counter("%s %s" % (r[0], r[3]) for r in records if r[0] != 201)
    results["redeem"] = {
        "attempted": len(records), "succeeded": len(ok), "wall_seconds": wall,
        "throughput_per_s": len(ok) / wall if wall else None,
        "latency_ms": scaled(summarize([r[1] for r in ok]), 1000.0),
        "latency_all_ms": scaled(summarize([r[1] for r in records]), 1000.0),
        "outcomes": count_outcomes(r[0] for r in records),
        "error_codes": dict(failed_codes.most_common()),
    }
    results["cpu"] = cpu_usage(cpu_before, cpu_after, wall)
    results["server_side"] = server_side_times(metrics_before, metrics_after)

    created = {r[2]: r[3] for r in ok if r[2] and r[3]}
    say("waiting for %d ledger entries (up to %.0fs)" % (len(created), args.lag_timeout))
    lags, missing, waited, polls = wait_for_entries(api, finance, created, args.lag_timeout)
    results["lag"] = {
        "matched": len(lags), "missing": len(missing), "missing_ids": missing[:20],
        "waited_seconds": waited, "polls": polls,
        "lag_ms": scaled(summarize(list(lags.values()), (50, 90, 99)), 1000.0),
    }

    if args.contended:
        say("contended: %d tills on one stored-value voucher" % args.contended)
        results["contended"] = contended_run(api, owner, store, args.contended, args.contended_redemptions)
    return results


def render(results):
    out = []
    ctx = results["context"]
    out.append("VowRewards bench: %d redemptions, %d threads, %s (%s)" % (
        ctx["redemptions"], ctx["concurrency"], ctx["url"], ctx["system"]))
    out.append("machine: %s CPUs (%s usable), load at start %s, Python %s" % (
        ctx["cpu_count"], ctx["usable_cpus"],
        " ".join("%.2f" % x for x in ctx["load_average_at_start"] or []), ctx["python"]))
    setup = results["setup"]
    line = "setup: %d vouchers issued in %.1fs (%.0f/s); setup incl. sign-in and warm-up %.1fs" % (
        setup["vouchers_issued"], setup["issue_seconds"], setup["issue_per_s"] or 0, setup["total_seconds"])
    if results.get("startup_seconds") is not None:
        line += "; starting the system took %.1fs" % results["startup_seconds"]
    out.append(line)
    if results.get("warmup"):
        out.append("warm-up: %d redemptions in %.1fs, outcomes %s" % (
            results["warmup"]["redemptions"], results["warmup"]["seconds"],
            json.dumps(results["warmup"]["outcomes"])))
    out.append("")

    redeem = results["redeem"]
    lat, lag = redeem["latency_ms"], results["lag"]["lag_ms"]
    rows = [
        ["throughput", fmt(redeem["throughput_per_s"]), "redemptions/s (%d in %.2fs)" % (
            redeem["succeeded"], redeem["wall_seconds"])],
        ["latency p50", fmt(lat["p50"]), "ms (redeem request, 201s)"],
        ["latency p90", fmt(lat["p90"]), "ms"],
        ["latency p99", fmt(lat["p99"]), "ms"],
        ["latency max", fmt(lat["max"]), "ms"],
        ["errors", str(redeem["attempted"] - redeem["succeeded"]),
         json.dumps({k: v for k, v in redeem["outcomes"].items() if k != "201"}) or "{}"],
        ["ledger lag p50", fmt(lag["p50"]), "ms (created_at -> entry recorded_at)"],
        ["ledger lag p99", fmt(lag["p99"]), "ms"],
        ["ledger lag max", fmt(lag["max"]), "ms"],
        ["entries missing", str(results["lag"]["missing"]), "after %.1fs of polling" % (
            results["lag"]["waited_seconds"])],
    ]
    out.append(format_table(rows, ["figure", "value", "unit / note"], align="lrl"))
    if redeem["error_codes"]:
        out.append("error codes: " + json.dumps(redeem["error_codes"]))

    if results.get("contended"):
        c = results["contended"]
        out.append("")
        out.append("contended: %d tills on one stored-value voucher of %d (%d a time): %d redemptions "
                   "in %.2fs = %s/s, latency p50 %s / p99 %s / max %s ms" % (
                       c["tills"], c["voucher_value"], c["step"], c["redemptions"], c["wall_seconds"],
                       fmt(c["throughput_per_s"]), fmt(c["latency_ms"]["p50"]), fmt(c["latency_ms"]["p99"]),
                       fmt(c["latency_ms"]["max"])))
        out.append("  redeemed %d of %d, final balance %s (%s): %s; outcomes %s" % (
            c["redeemed_amount"], c["voucher_value"], c["final_balance"], c["final_status"],
            "exactly the balance" if c["exact"] else "NOT exactly the balance",
            json.dumps(c["outcomes"])))

    if results.get("cpu"):
        cpu = results["cpu"]
        out.append("")
        out.append("CPU during the measured phase (machine busy %s%%; 100%% = one core; "
                   "postgres/other include anything else on the machine):" % fmt(cpu["machine_busy_percent"], 0))
        out.append(format_table([[g, fmt(v["cpu_seconds"], 2), fmt(v["percent_of_one_core"], 0) + "%"]
                                 for g, v in cpu["groups"].items()], ["process", "cpu s", "of a core"]))
    side = results.get("server_side")
    if side and side["entrypoints"]:
        out.append("")
        out.append("server-side time per entrypoint during the measured phase (/metrics):")
        out.append(format_table([[e["service"], e["method"], e["kind"], e["count"], fmt(e["mean_ms"], 2)]
                                 for e in side["entrypoints"]],
                                ["service", "entrypoint", "kind", "calls", "mean ms"], align="lllrr"))
        if side["event_lag"]:
            out.append(format_table([[e["service"], "%s.%s" % (e["source"], e["event_type"]), e["count"],
                                      fmt(e["mean_ms"], 1)] for e in side["event_lag"]],
                                    ["consumer", "event", "events", "mean delivery lag ms"], align="llrr"))
    return "\n".join(out)


# make bench ARGS="<scenario> ...": the scenarios with a module of their own
SCENARIOS = {"support": "devtools.bench_support", "streams": "devtools.bench_streams",
             "settlement": "devtools.bench_settlement", "analytics": "devtools.bench_analytics"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SCENARIOS:
        # each in a process of its own: some run on eventlet, which this one does not use
        import subprocess
        return subprocess.call([sys.executable, "-m", SCENARIOS[argv[0]]] + argv[1:])
    args = parse_args(argv)
    from plumbing import config as cfg
    url = args.url.rstrip("/")
    api = url + "/api/v1"
    host = urlsplit(url).hostname or ""
    local = host in LOCAL_HOSTS
    system = None
    results = {}
    previous_handler = signal.getsignal(signal.SIGTERM)
    from devtools.run import stop_on_sigterm
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        if gateway_answers(url):
            password = args.password or cfg.env("VOWREWARDS_DEMO_PASSWORD")
            if not password:
                raise BenchError("a gateway is running at %s: give the demo password with --password or "
                                 "VOWREWARDS_DEMO_PASSWORD" % url)
            say("using the gateway already running at %s" % url)
        else:
            gateway_port = cfg.env_int("GATEWAY_PORT", 8000)
            if not local or (urlsplit(url).port or 80) != gateway_port:
                raise BenchError("nothing answers at %s, and the bench only starts the system at "
                                 "http://127.0.0.1:%d (set GATEWAY_PORT to move it)" % (url, gateway_port))
            password = args.password or cfg.env("VOWREWARDS_DEMO_PASSWORD") or secrets.token_urlsafe(12)
            log_path = args.server_log or (cfg.LOCAL_DIR / "bench" / "processes.log")
            from pathlib import Path
            system = StartedSystem(password, Path(log_path))
            results["startup_seconds"] = system.startup_seconds
        results["context"] = machine_context(system is not None, args)
        if args.suite == "full":
            if not local:
                raise BenchError("the full suite measures local ceilings: use --suite client for %s" % url)
            from devtools import bench_ceiling
            logins = [Login(api, user, password) for user in (OWNER, STORE, FINANCE)]
            results["ceiling"] = bench_ceiling.suite(
                args, api, *logins, cfg.admin_amqp_uri(), cfg.admin_database_url(),
                stack_env=system.stack.env if system is not None else None,
                log=system.log if system is not None else None)
        results.update(benchmark(args, api, password, local))
        print()
        print(render(results), flush=True)
        if results.get("ceiling"):
            print(bench_ceiling.render(results["ceiling"]), flush=True)
        if args.json:
            directory = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(directory, exist_ok=True)
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=2, default=str)
            say("figures written to %s" % args.json)
        return 0 if results["redeem"]["succeeded"] == results["redeem"]["attempted"] \
            and not results["lag"]["missing"] else 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if system is not None:
            system.stop()
        signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())
