"""``make bench ARGS="streams"``: 500 open SSE streams on one gateway process while it serves the API.

1. Find the system as ``make bench`` does (a running gateway, or everything started as ``make run``).
2. Baseline: ``--requests`` API calls (``GET /notifications``, one keep-alive connection) timed with no
   stream open.
3. Open ``--streams`` streams (``GET /notifications/stream``) as the demo owner, each a raw socket read
   by one selector loop in this process (so the client is not what limits the count).
4. Under them: the same API calls again, timed; then ``--tickets`` support tickets raised one at a
   time by the demo agent: each new ticket is an inbox message for the owner, delivered to every open
   stream; the lag is from the ticket's answer to the event's arrival on each stream (p50/p95/p99 over
   streams x tickets). Every stream must get every ticket, and the API must keep answering.
"""
import argparse
import json
import secrets
import selectors
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


from devtools.bench import (BenchError, Login, StartedSystem, fmt, format_table, gateway_answers, new_session,
                            say, summarize)

DEFAULT_URL = "http://127.0.0.1:8000"


class Streams:
    """``count`` SSE streams read by one selector loop; ``arrivals[title] = [perf_counter()...]``."""

    def __init__(self, host, port, token, count):
        self.selector = selectors.DefaultSelector()
        self.arrivals, self.buffers, self.opened, self.closed = {}, {}, 0, 0
        self._stop = False
        request = ("GET /api/v1/notifications/stream HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                   "Accept: text/event-stream\r\n\r\n" % (host, port, token)).encode()
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=30)
            sock.sendall(request)
            sock.setblocking(False)
            self.buffers[sock] = b""
            self.selector.register(sock, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            for key, _ in self.selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.selector.unregister(sock)
                    self.closed += 1
                    continue
                now = time.perf_counter()
                buffer = self.buffers[sock] + data
                if b"HTTP/1.1 200" in buffer[:20] and b"\r\n\r\n" in buffer:
                    self.opened += 1
                    buffer = buffer.split(b"\r\n\r\n", 1)[1]
                for line in buffer.split(b"\n"):
                    if line.startswith(b"data: "):
                        try:
                            title = json.loads(line[6:])["title"]
                        except ValueError:
                            continue  # a chunk split mid-line: the rest comes next time
                        self.arrivals.setdefault(title, []).append(now)
                self.buffers[sock] = buffer.rsplit(b"\n", 1)[-1] if b"\n" in buffer else buffer

    def close(self):
        self._stop = True
        self.thread.join(5)
        for sock in list(self.buffers):
            sock.close()


def time_calls(api, login, count):
    session, times = new_session(), []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(api + "/notifications?limit=5", headers=login.headers(), timeout=30)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise BenchError("GET /notifications answered %s: %s" % (response.status_code, response.text[:200]))
    return summarize(times, (50, 95, 99))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="make bench ARGS='streams ...'", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--password", default=None, help="the demo password (or VOWREWARDS_DEMO_PASSWORD)")
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200, help="API calls timed with and without streams")
    parser.add_argument("--tickets", type=int, default=10, help="notifications sent to every stream")
    parser.add_argument("--json", metavar="FILE")
    return parser.parse_args(argv)


def run(args, api, password):
    parts = urlsplit(args.url)
    owner, agent = Login(api, "demo-owner", password), Login(api, "demo-agent", password)
    say("baseline: %d API calls with no stream open" % args.requests)
    baseline = time_calls(api, owner, args.requests)
    say("opening %d streams" % args.streams)
    token = owner.headers()["Authorization"].split(" ", 1)[1]
    streams = Streams(parts.hostname, parts.port or 80, token, args.streams)
    try:
        deadline = time.monotonic() + 60
        while streams.opened < args.streams and time.monotonic() < deadline:
            time.sleep(0.1)
        say("%d streams open; %d API calls under them" % (streams.opened, args.requests))
        loaded = time_calls(api, owner, args.requests)
        lags, missing = [], 0
        session = new_session()
        for number in range(args.tickets):
            title = "Bench %s %d" % (secrets.token_hex(3), number)
            response = session.post(api + "/support/tickets", headers=agent.headers(), timeout=30, json={
                "subject": title, "description": "bench", "category": "wallet"})
            sent = time.perf_counter()
            if response.status_code != 201:
                raise BenchError("raising a ticket answered %s: %s" % (response.status_code, response.text[:200]))
            reference = response.json()["reference"]
            wanted = "New ticket %s" % reference
            until = time.monotonic() + 10
            while len(streams.arrivals.get(wanted, ())) < streams.opened and time.monotonic() < until:
                time.sleep(0.01)
            arrived = streams.arrivals.get(wanted, [])
            missing += streams.opened - len(arrived)
            lags.extend((at - sent) * 1000 for at in arrived)
        during = time_calls(api, owner, 20)
    finally:
        streams.close()
    return {"streams_requested": args.streams, "streams_open": streams.opened, "streams_closed": streams.closed,
            "api_ms_no_streams": baseline, "api_ms_with_streams": loaded, "api_ms_after_fanout": during,
            "delivery_lag_ms": summarize(lags, (50, 95, 99)) if lags else None, "deliveries": len(lags),
            "missing": missing}


def render(results):
    rows = [["GET /notifications, no stream open", fmt(results["api_ms_no_streams"]["p50"], 1),
             fmt(results["api_ms_no_streams"]["p95"], 1), fmt(results["api_ms_no_streams"]["p99"], 1)],
            ["... with %d streams open" % results["streams_open"], fmt(results["api_ms_with_streams"]["p50"], 1),
             fmt(results["api_ms_with_streams"]["p95"], 1), fmt(results["api_ms_with_streams"]["p99"], 1)]]
    lag = results["delivery_lag_ms"] or {}
    rows.append(["new notification -> every stream (%d deliveries, %d missing)" % (
        results["deliveries"], results["missing"]), fmt(lag.get("p50"), 1), fmt(lag.get("p95"), 1),
        fmt(lag.get("p99"), 1)])
    return format_table(rows, ["ms", "p50", "p95", "p99"], align="lrrr")


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    from plumbing import config as cfg
    url = args.url.rstrip("/")
    system = None
    try:
        if gateway_answers(url):
            password = args.password or cfg.env("VOWREWARDS_DEMO_PASSWORD")
            if not password:
                raise BenchError("a gateway runs at %s: give --password or VOWREWARDS_DEMO_PASSWORD" % url)
        else:
            from pathlib import Path
            password = args.password or cfg.env("VOWREWARDS_DEMO_PASSWORD") or secrets.token_urlsafe(12)
            system = StartedSystem(password, Path(cfg.LOCAL_DIR / "bench" / "processes.log"))
        results = run(args, url + "/api/v1", password)
        print()
        print(render(results), flush=True)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=2, default=str)
        return 0 if results["streams_open"] == args.streams and not results["missing"] else 1
    finally:
        if system is not None:
            system.stop()


if __name__ == "__main__":
    sys.exit(main())
