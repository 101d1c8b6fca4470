"""``make test``: make the servers reachable (as ``make run`` does), then run pytest.

Arguments are passed to pytest as they are (``make test ARGS="-k redemption"``). Without
arguments the whole suite runs as four pytest processes at once, each with its own database,
vhost and broker users (``tests/conftest.py``): most tests wait on the broker, the database or
a browser rather than on a core, so four processes finish well before one would.
"""
import os
import subprocess
import sys
import threading
import time

from devtools import portal, servers
from plumbing import config as cfg

TESTS = cfg.REPO_ROOT / "tests"


def shards():
    """Four of about the same length: the in-process system tests (each module starts the whole
    system) in two halves, the service tests, and the unit, real-process and browser tests.
    Most of their time is spent waiting on the broker, the database or a browser, and with small
    pools (``TEST_POOL_SIZE``) four stay well inside PostgreSQL's 100 connections (about 45 seen)."""
    system = sorted(str(p.relative_to(cfg.REPO_ROOT)) for p in (TESTS / "integration").glob("test_*.py"))
    return (("system-1", system[0::2]), ("system-2", system[1::2]),
            ("service", ["tests/service"]), ("unit-processes", ["tests/unit", "tests/e2e", "tests/browser"]))


def pytest_command(argv):
    return [sys.executable, "-m", "pytest"] + list(argv)


def _relay(name, stream, lock):
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write("[%s] %s" % (name, line))
            sys.stdout.flush()


def run_shards(shards, extra=()):
    """Run each shard as its own pytest process, at once; their lines are prefixed with the shard's
    name. Returns the worst exit status (pytest's 5, "nothing collected", counts as a failure)."""
    started = time.monotonic()
    lock = threading.Lock()
    running = []
    for name, paths in shards:
        process = subprocess.Popen(pytest_command(list(extra) + list(paths)), cwd=str(cfg.REPO_ROOT),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        relay = threading.Thread(target=_relay, args=(name, process.stdout, lock), daemon=True)
        relay.start()
        running.append((name, process, relay))
    statuses = {}
    for name, process, relay in running:
        statuses[name] = process.wait()
        relay.join()
    print("make test: %s in %.0fs" % (", ".join("%s %s" % (name, "passed" if status == 0 else
                                                             "FAILED (exit %d)" % status)
                                                 for name, status in statuses.items()),
                                       time.monotonic() - started), flush=True)
    return max(statuses.values())


# Each pytest process starts whole systems (six components, each with its own pool) and the e2e tests
# start them as processes: small pools keep four shards within PostgreSQL's default 100 connections.
TEST_POOL_SIZE = "5"


def main(argv):
    os.environ.setdefault("DB_POOL_SIZE", TEST_POOL_SIZE)
    started = servers.ensure_all()
    portal.build()  # the browser tests (tests/browser) drive the built portal in Debian's Chromium
    portal.ensure_browser()
    try:
        if argv:
            return subprocess.call(pytest_command(argv), cwd=str(cfg.REPO_ROOT))
        return run_shards(shards())
    finally:
        servers.stop_all(started)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
