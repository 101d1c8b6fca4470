"""``make bench``'s ceilings and load generators: the redemption path measured against what the
messaging and the database can do at all, in the same sitting.

* **Echo ceiling**: ``devtools/echo.py`` (a bare nameko HTTP -> RPC echo, two processes) under
  ``wrk``; every redemption figure is also given as a ratio of it.
* **The echo on another HTTP stack**: the same nameko ``@rpc`` echo called from uvicorn and
  starlette over aio-pika (``devtools/echo_asgi.py``) instead of nameko's ``@http`` (werkzeug on
  eventlet), each round beside the echo ceiling, with CPU per request of each side: what the
  gateway's HTTP stack costs, measured rather than guessed.
* **The till's route on uvicorn**: ``POST /api/v1/redemptions`` alone on uvicorn and starlette
  (``devtools/till_asgi.py``), calling the same running redemption service, in each round after
  the gateway's: what moving the gateway off werkzeug and eventlet would give the till.
* **Database ceiling**: the redemption's transaction shape (lock the voucher row, insert the
  redemption, update the voucher, insert the outbox row, commit) in a psycopg2 loop on the same
  server, in a scratch schema dropped afterwards.
* **Closed loop**: ``wrk`` with ``devtools/wrk/redeem.lua`` (a fresh voucher per request) at a
  number of connections (tills), reporting wrk's own CPU.
* **Open loop**: requests sent on a fixed schedule whatever the answers (aiohttp on asyncio, no
  coordinated omission: latency counts from the moment a request was due), for latency against
  offered load and the redemption -> ledger lag.
* **Replicas**: when the bench started the system, ``--replicas`` gateways and redemption services
  (the extra gateways share the listening port, the extra redemptions the RPC queue) at 16 and 64
  tills, to see whether throughput grows with processes on the same cores.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

from devtools import servers
from devtools.bench import BenchError, cpu_snapshot, cpu_usage, say, summarize, scaled

WRK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk")
ECHO_PORT = 8099


# -- tools -----------------------------------------------------------------------------
def ensure_wrk():
    """wrk, installed from the system's packages where we may; otherwise one line says what to do."""
    found = shutil.which("wrk")
    if found:
        return found
    if not servers.can_install_packages():
        raise BenchError("make bench needs wrk: install it (Debian/Ubuntu: sudo apt-get install wrk)")
    servers.install_packages("wrk")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("installing wrk did not provide it; install wrk by hand")
    return found


def run_wrk(url, script, connections, seconds, env=None, threads=None):
    """Run wrk once; returns its done() JSON plus throughput and its own CPU seconds."""
    threads = threads or max(1, min(2, connections))
    argv = [ensure_wrk(), "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency",
            "--timeout", "10s", "-s", os.path.join(WRK_DIR, script), url]
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True,
                            env=dict(os.environ, WRK_THREADS=str(threads), **(env or {})))
    if result.returncode != 0:
        raise BenchError("wrk failed: %s" % (result.stderr.strip() or result.stdout.strip())[:300])
    line = [text for text in result.stdout.splitlines() if text.startswith("{")][-1]
    figures = json.loads(line)
    seconds_run = figures["duration_us"] / 1e6 or (time.perf_counter() - started)
    figures["throughput_per_s"] = figures["created"] / seconds_run
    figures["latency_ms"] = {k: v / 1000.0 for k, v in figures["latency_us"].items()}
    figures["connections"] = connections
    return figures


def wrk_cpu_seconds(run):
    """CPU seconds wrk (a child process) used during ``run()``."""
    before = os.times()
    value = run()
    after = os.times()
    value["generator_cpu_seconds"] = (after.children_user - before.children_user) + \
        (after.children_system - before.children_system)
    return value


# -- the echo pair ---------------------------------------------------------------------
class EchoPair:
    """Both echo processes on a vhost of their own, stopped (and the vhost deleted) at the end;
    with ``asgi``, a second HTTP side on uvicorn (``asgi_url``) calling the same RPC side."""

    def __init__(self, admin_uri, port=ECHO_PORT, asgi=False):
        from plumbing import config as cfg
        self.admin_uri, self.port = admin_uri, port
        self.vhost = "vowbench-echo-%d" % os.getpid()
        servers.create_vhost(admin_uri, self.vhost)
        uri = cfg.with_vhost(admin_uri, self.vhost)
        sides = [["devtools.echo", "rpc"], ["devtools.echo", "http", "--port", str(port)]]
        if asgi:
            sides.append(["devtools.echo_asgi", "--port", str(port - 1)])
        self.processes = []
        try:
            for side in sides:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m"] + side + ["--amqp", uri],
                    cwd=str(cfg.REPO_ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for url in [self.url] + ([self.asgi_url] if asgi else []):
                self._wait_for(url)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _wait_for(url):
        wait_for(url, {"ping": 1}, lambda response: response.json() == {"ping": 1})

    @property
    def url(self):
        return "http://127.0.0.1:%d/echo" % self.port

    @property
    def asgi_url(self):
        return "http://127.0.0.1:%d/echo" % (self.port - 1)

    def pids(self):
        return {p.pid for p in self.processes}

    def stop(self):
        stop_processes(self.processes)
        servers.delete_vhost(self.admin_uri, self.vhost)


class TillRoute:
    """``devtools.till_asgi`` on ``port``, calling the system's redemption service through its broker."""

    def __init__(self, amqp_uri, port=ECHO_PORT - 2):
        from plumbing import config as cfg
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.till_asgi", "--amqp", amqp_uri, "--port", str(port)],
            cwd=str(cfg.REPO_ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:  # up once it refuses a request without a token as the gateway does
            wait_for(self.url + "/api/v1/redemptions", {}, lambda response: response.status_code == 401)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        stop_processes([self.process])


def wait_for(url, body, answered, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if answered(requests.post(url, json=body, timeout=2)):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    raise BenchError("%s did not answer within %ds" % (url, seconds))


def stop_processes(processes):
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def echo_round(pair, connections, seconds, url=None):
    """The echo under wrk, with the CPU per request of each part (ms) in ``cpu_ms_per_request``."""
    before = cpu_snapshot()
    figures = wrk_cpu_seconds(lambda: run_wrk(url or pair.url, "echo.lua", connections, seconds))
    usage = cpu_usage(before, cpu_snapshot(), figures["duration_us"] / 1e6)
    if usage and figures["created"]:
        figures["cpu_ms_per_request"] = {group: 1000.0 * value["cpu_seconds"] / figures["created"]
                                         for group, value in usage["groups"].items()}
    return figures


# -- redemption under wrk --------------------------------------------------------------
def codes_file(codes):
    handle = tempfile.NamedTemporaryFile("w", suffix=".codes", delete=False)
    handle.write("\n".join(codes) + "\n")
    handle.close()
    return handle.name


def redemption_round(base_url, till_token, codes, connections, seconds):
    path = codes_file(codes)
    try:
        cpu_before = cpu_snapshot()
        figures = wrk_cpu_seconds(lambda: run_wrk(base_url, "redeem.lua", connections, seconds, env={
            "CODES_FILE": path, "TILL_TOKEN": till_token}))
        figures["cpu"] = cpu_usage(cpu_before, cpu_snapshot(), figures["duration_us"] / 1e6)
        return figures
    finally:
        os.unlink(path)


# -- the database ceiling --------------------------------------------------------------
DB_SETUP = """
CREATE SCHEMA {s};
CREATE TABLE {s}.vouchers (id uuid PRIMARY KEY, code text UNIQUE NOT NULL, status text NOT NULL,
    balance bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.redemptions (id uuid PRIMARY KEY, voucher_id uuid NOT NULL REFERENCES {s}.vouchers,
    amount bigint NOT NULL, idempotency_key text UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE {s}.outbox (id uuid PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz DEFAULT now());
"""


def database_ceiling(database_url, threads=16, seconds=5.0):
    """Redemption-shaped transactions per second on the same PostgreSQL (synchronous_commit on)."""
    import psycopg2
    schema = "bench_ceiling_%d" % os.getpid()
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(DB_SETUP.format(s=schema))
        cur.execute("INSERT INTO {s}.vouchers (id, code, status, balance) SELECT gen_random_uuid(), "
                    "'C' || g, 'active', 500 FROM generate_series(1, 200000) g".format(s=schema))
    counter = iter(range(1, 200001))
    lock = threading.Lock()
    done = []
    stop_at = time.monotonic() + seconds

    def work():
        conn = psycopg2.connect(database_url)
        count = 0
        with conn.cursor() as cur:
            while time.monotonic() < stop_at:
                with lock:
                    n = next(counter)
                cur.execute("SELECT id, balance FROM {s}.vouchers WHERE code = %s FOR UPDATE".format(s=schema),
                            ("C%d" % n,))
                voucher_id, balance = cur.fetchone()
                cur.execute("INSERT INTO {s}.redemptions (id, voucher_id, amount, idempotency_key) "
                            "VALUES (%s, %s, %s, %s)".format(s=schema),
                            (str(uuid.uuid4()), voucher_id, balance, str(uuid.uuid4())))
                cur.execute("UPDATE {s}.vouchers SET status = 'redeemed', balance = 0, updated_at = now() "
                            "WHERE id = %s".format(s=schema), (voucher_id,))
                cur.execute("INSERT INTO {s}.outbox (id, payload) VALUES (%s, %s)".format(s=schema),
                            (str(uuid.uuid4()), json.dumps({"voucher_id": str(voucher_id), "amount": balance})))
                conn.commit()
                count += 1
        conn.close()
        done.append(count)

    try:
        started = time.perf_counter()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - started
        return {"transactions": sum(done), "seconds": wall, "per_s": sum(done) / wall, "threads": threads}
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP SCHEMA %s CASCADE" % schema)
        admin.close()


# -- open loop ---------------------------------------------------------------------------
def open_loop(api, till_token, codes, rate):
    """Send one redemption every 1/rate s whatever the answers; latency from when it was due."""
    import aiohttp

    async def run():
        results = []
        interval = 1.0 / rate
        headers = {"Authorization": "Bearer " + till_token, "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            async def one(code, due):
                try:
                    async with http.post(api + "/redemptions", json={"code": code, "channel": "pos"},
                                         headers=dict(headers, **{"Idempotency-Key": str(uuid.uuid4())})) as r:
                        body = await r.json(content_type=None)
                        status = r.status
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    status, body = 0, None
                latency = time.perf_counter() - due
                results.append((status, latency, (body or {}).get("id"), (body or {}).get("created_at")))

            start = time.perf_counter() + 0.1
            tasks = []
            for i, code in enumerate(codes):
                due = start + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(one(code, due)))
            await asyncio.gather(*tasks)
        return results, time.perf_counter() - start

    before = os.times()
    results, wall = asyncio.run(run())
    after = os.times()
    ok = [r for r in results if r[0] == 201]
    return {
        "offered_per_s": rate, "sent": len(results), "succeeded": len(ok), "seconds": wall,
        "achieved_per_s": len(ok) / wall if wall else None,
        "latency_ms": scaled(summarize([r[1] for r in ok] or [0.0]), 1000.0),
        "errors": len(results) - len(ok),
        "generator_cpu_seconds": (after.user - before.user) + (after.system - before.system),
        "created": {r[2]: r[3] for r in ok if r[2] and r[3]},
    }


def plot_latency(points, path):
    """Latency (p50, p99) against offered load, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    points = sorted(points, key=lambda p: p["offered_per_s"])
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    rates = [p["offered_per_s"] for p in points]
    for key, style in (("p50", "o-"), ("p99", "s--")):
        axes.plot(rates, [p["latency_ms"][key] for p in points], style, label=key)
    axes.set_xlabel("offered redemptions per second (open loop)")
    axes.set_ylabel("latency, ms")
    axes.set_title("POST /api/v1/redemptions: latency against offered load")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


# -- the suite -----------------------------------------------------------------------------
def issue_codes(api, owner, count, value=500):
    """``count`` single-use vouchers through the batch job (as a merchant prints them); returns
    (codes, seconds): the 100,000-code issuance scenario is this at scale."""
    import csv
    import io
    started = time.perf_counter()
    response = requests.post(api + "/vouchers/batches", timeout=30, headers=owner.headers(), json={
        "kind": "discount_fixed", "currency": "ZAR", "value": value, "count": count})
    if response.status_code != 202:
        raise BenchError("batch issuance refused: %s %s" % (response.status_code, response.text[:300]))
    job = response.json()
    while job["status"] not in ("completed", "failed"):
        time.sleep(0.3)
        job = requests.get(api + "/vouchers/batches/" + job["id"], headers=owner.headers(), timeout=30).json()
    if job["status"] != "completed":
        raise BenchError("batch issuance failed: %s" % job.get("error"))
    text = requests.get(api + "/vouchers/batches/%s/codes.csv" % job["id"], headers=owner.headers(),
                        timeout=120).text
    rows = list(csv.DictReader(io.StringIO(text)))
    codes = [row["code"] for row in rows]
    if len(codes) != count:
        raise BenchError("the batch export gave %d codes for %d vouchers" % (len(codes), count))
    return codes, time.perf_counter() - started


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


# -- replicas: more gateways and redemption services on the same machine ------------------------------
class Replicas:
    """``count - 1`` more gateway and redemption processes beside a started stack (its ``env``): the
    gateways share the listening port (SO_REUSEPORT), the redemptions the ``rpc-redemption`` queue."""

    def __init__(self, env, count, log):
        from devtools.faults import free_port
        self.processes = []
        for _ in range(count - 1):
            for module in ("gateway", "services.redemption"):
                port = free_port()
                child = subprocess.Popen([sys.executable, "-m", module], env=dict(env, HEALTH_PORT=str(port)),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                self.processes.append((child, port))
        deadline = time.monotonic() + 60
        for child, port in self.processes:
            while True:
                try:
                    if requests.get("http://127.0.0.1:%d/readyz" % port, timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if child.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise BenchError("a replica did not become ready (see the process log)")
                time.sleep(0.3)

    def stop(self):
        for child, _ in self.processes:
            if child.poll() is None:
                child.terminate()
        for child, _ in self.processes:
            try:
                child.wait(timeout=20)
            except Exception:
                child.kill()


def replica_runs(args, api, owner, store, echo, stack_env, log):
    """Redemptions at 16 and 64 tills with ``args.replicas`` gateways and redemption services."""
    base = api[:-len("/api/v1")]
    runs = []
    replicas = Replicas(stack_env, args.replicas, log)
    try:
        for tills in (16, 64):
            say("redemptions at %d tills with %d gateways and %d redemption services (%ds)" % (
                tills, args.replicas, args.replicas, args.seconds))
            codes, _ = issue_codes(api, owner, int(args.code_rate * args.seconds))
            figures = redemption_round(base, store.headers()["Authorization"][7:], codes, tills, args.seconds)
            figures.update(ratio_to_echo=figures["throughput_per_s"] / echo, replicas=args.replicas)
            runs.append(figures)
    finally:
        replicas.stop()
    return runs


def suite(args, api, owner, store, finance, local_admin_amqp, database_url, stack_env=None, log=None):
    """The ceilings and the redemption scenarios; returns the results dict's ``ceiling`` part.
    ``stack_env``: the environment of a stack the bench started, for the replica runs."""
    from devtools.bench import wait_for_entries
    base = api[:-len("/api/v1")]
    out = {"echo_rounds": [], "redeem_rounds": [], "tills": [], "open_loop": []}
    say("database ceiling: redemption-shaped transactions, 16 threads, 5 s")
    out["database"] = database_ceiling(database_url)
    pair = EchoPair(local_admin_amqp, asgi=True)
    out["echo_asgi_rounds"], out["till_asgi_rounds"] = [], []
    till_route = None
    try:
        till_route = TillRoute(local_admin_amqp)
        per_round = int(args.code_rate * args.seconds)
        for round_ in range(args.rounds):
            say("round %d/%d: echo ceiling, the echo on uvicorn, then redemptions, %d connections, %ds each" % (
                round_ + 1, args.rounds, 16, args.seconds))
            out["echo_rounds"].append(echo_round(pair, 16, args.seconds))
            out["echo_asgi_rounds"].append(echo_round(pair, 16, args.seconds, url=pair.asgi_url))
            codes, _ = issue_codes(api, owner, per_round)
            out["redeem_rounds"].append(redemption_round(base, store.headers()["Authorization"][7:], codes, 16,
                                                         args.seconds))
            codes, _ = issue_codes(api, owner, per_round)
            out["till_asgi_rounds"].append(redemption_round(till_route.url, store.headers()["Authorization"][7:],
                                                            codes, 16, args.seconds))
        echo = median([r["throughput_per_s"] for r in out["echo_rounds"]])
        out["echo_per_s"] = echo
        out["echo_asgi_per_s"] = median([r["throughput_per_s"] for r in out["echo_asgi_rounds"]])
        out["ratios_by_round"] = [r["throughput_per_s"] / e["throughput_per_s"]
                                  for r, e in zip(out["redeem_rounds"], out["echo_rounds"])]
        out["ratio"] = median(out["ratios_by_round"])
        out["till_asgi_ratio"] = median([r["throughput_per_s"] / e["throughput_per_s"]
                                         for r, e in zip(out["till_asgi_rounds"], out["echo_rounds"])])
        for tills in args.tills:
            if tills == 16:
                continue
            say("redemptions at %d tills (%ds)" % (tills, args.seconds))
            codes, _ = issue_codes(api, owner, per_round)
            figures = redemption_round(base, store.headers()["Authorization"][7:], codes, tills, args.seconds)
            figures["ratio_to_echo"] = figures["throughput_per_s"] / echo
            out["tills"].append(figures)
    finally:
        if till_route is not None:
            till_route.stop()
        pair.stop()
    best = median([r["throughput_per_s"] for r in out["redeem_rounds"]])
    for share in (0.25, 0.5, 0.75):
        rate = max(1.0, best * share)
        count = int(rate * args.seconds)
        say("open loop: %.0f redemptions/s offered (%.0f%% of closed-loop) for %ds" % (rate, share * 100, args.seconds))
        codes, _ = issue_codes(api, owner, count)
        run = open_loop(api, store.headers()["Authorization"][7:], codes, rate)
        created = run.pop("created")
        if share == 0.5:
            lags, missing, waited, _ = wait_for_entries(api, finance, created, args.lag_timeout)
            run["ledger_lag_ms"] = scaled(summarize(list(lags.values()) or [0.0]), 1000.0)
            run["ledger_missing"] = len(missing)
        run["share_of_closed_loop"] = share
        out["open_loop"].append(run)
    if stack_env is not None and args.replicas > 1:  # last: its backlog must not reach the open loop
        out["replicas"] = replica_runs(args, api, owner, store, out["echo_per_s"], stack_env, log)
    if args.png:
        out["png"] = plot_latency(out["open_loop"], args.png)
    if args.issuance:
        say("%d-code issuance as one batch job" % args.issuance)
        _, seconds = issue_codes(api, owner, args.issuance)
        out["issuance"] = {"codes": args.issuance, "seconds": seconds, "per_s": args.issuance / seconds}
    return out


def cpu_split(gateway_rounds, till_rounds):
    """The HTTP side's CPU per redemption, the gateway's against the till route's (medians, ms)."""
    def per_redemption(rounds, group):
        return median([1000.0 * r["cpu"]["groups"].get(group, {}).get("cpu_seconds", 0.0) / max(r["created"], 1)
                       for r in rounds if r.get("cpu")] or [0.0])
    return "gateway %.2f ms, till route %.2f ms" % (per_redemption(gateway_rounds, "gateway"),
                                                    per_redemption(till_rounds, "till http (uvicorn)"))


def median_cpu(rounds):
    """The median CPU per request of each part over the rounds (ms)."""
    groups = {group for r in rounds for group in r.get("cpu_ms_per_request", {})}
    return {group: median([r.get("cpu_ms_per_request", {}).get(group, 0.0) for r in rounds])
            for group in groups}


def render(out):
    from devtools.bench import fmt, format_table
    lines = ["", "Ceilings and redemptions through the gateway (wrk, fresh voucher per request):"]
    rows = [["database ceiling", fmt(out["database"]["per_s"]), "", "redemption-shaped tx/s, %d threads" %
             out["database"]["threads"]],
            ["echo ceiling (median)", fmt(out["echo_per_s"]), "1.00", "bare nameko HTTP -> RPC, 16 conns"]]
    if out.get("echo_asgi_rounds"):
        rows.append(["echo on uvicorn (median)", fmt(out["echo_asgi_per_s"]),
                     "%.2f" % (out["echo_asgi_per_s"] / out["echo_per_s"]),
                     "uvicorn + starlette -> aio-pika -> the same nameko RPC"])
        for name, key in (("nameko @http", "echo_rounds"), ("uvicorn", "echo_asgi_rounds")):
            cpu = median_cpu(out[key])
            if cpu:
                rows.append(["  cpu per request, %s" % name, "", "", ", ".join(
                    "%s %.2f ms" % (group, ms) for group, ms in sorted(cpu.items(), key=lambda item: -item[1])
                    if ms >= 0.01)])
    for i, (e, r) in enumerate(zip(out["echo_rounds"], out["redeem_rounds"])):
        rows.append(["round %d echo / redeem" % (i + 1), "%s / %s" % (fmt(e["throughput_per_s"]),
                                                                     fmt(r["throughput_per_s"])),
                     "%.2f" % out["ratios_by_round"][i],
                     "redeem p50 %s p99 %s ms, wrk cpu %ss" % (fmt(r["latency_ms"]["p50"]), fmt(r["latency_ms"]["p99"]),
                                                               fmt(r["generator_cpu_seconds"], 2))])
    rows.append(["redeem, 16 tills (median)", fmt(median([r["throughput_per_s"] for r in out["redeem_rounds"]])),
                 "%.2f" % out["ratio"], "ratio: median of the same-round ratios"])
    if out.get("till_asgi_rounds"):
        rows.append(["redeem, the till's route on uvicorn", fmt(median(
            [r["throughput_per_s"] for r in out["till_asgi_rounds"]])), "%.2f" % out["till_asgi_ratio"],
            "devtools/till_asgi.py -> the same redemption service; cpu per redemption: " + cpu_split(
                out["redeem_rounds"], out["till_asgi_rounds"])])
    for t in out["tills"]:
        rows.append(["redeem, %d tills" % t["connections"], fmt(t["throughput_per_s"]), "%.2f" % t["ratio_to_echo"],
                     "p50 %s p99 %s ms, refused %d" % (fmt(t["latency_ms"]["p50"]), fmt(t["latency_ms"]["p99"]),
                                                       t["refused"])])
    for t in out.get("replicas", ()):
        rows.append(["redeem, %d tills, x%d replicas" % (t["connections"], t["replicas"]), fmt(t["throughput_per_s"]),
                     "%.2f" % t["ratio_to_echo"], "%d gateways and %d redemption services; p50 %s p99 %s ms" % (
                         t["replicas"], t["replicas"], fmt(t["latency_ms"]["p50"]), fmt(t["latency_ms"]["p99"]))])
    for o in out["open_loop"]:
        note = "p50 %s p99 %s ms, errors %d, client cpu %ss" % (
            fmt(o["latency_ms"]["p50"]), fmt(o["latency_ms"]["p99"]), o["errors"], fmt(o["generator_cpu_seconds"], 2))
        if "ledger_lag_ms" in o:
            note += ", ledger lag p50 %s p99 %s ms" % (fmt(o["ledger_lag_ms"]["p50"]), fmt(o["ledger_lag_ms"]["p99"]))
        rows.append(["open loop %.0f/s offered" % o["offered_per_s"], fmt(o["achieved_per_s"]), "", note])
    if out.get("issuance"):
        rows.append(["issuance (one batch)", fmt(out["issuance"]["per_s"]), "",
                     "%d codes in %.1fs" % (out["issuance"]["codes"], out["issuance"]["seconds"])])
    lines.append(format_table(rows, ["scenario", "per second", "x echo", "note"], align="lrrl"))
    if out.get("png"):
        lines.append("latency against offered load: %s" % out["png"])
    return "\n".join(lines)
