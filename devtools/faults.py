"""``make faults``: break the running system on purpose under a steady redemption load, then check
that nothing was lost, doubled or orphaned.

Everything runs on a PostgreSQL and a RabbitMQ of its own (project-local servers on other ports,
data under ``.local/faults``), so restarting them never touches servers others use. The whole
stack is started as ``make run`` starts it (``devtools.run.Stack``: every process supervised and
started again when it dies, as Kubernetes would). Load: ``--threads`` tills, each issuing a fresh
voucher then redeeming it with an Idempotency-Key, as the benchmark does. Faults, one after the
other: ``kill -9`` of each process, a RabbitMQ restart, a PostgreSQL restart, a stall (SIGSTOP of
redemption for longer than the heartbeat, then SIGCONT). After each: every redemption answered
2xx exists exactly once with exactly one ledger entry, no ledger entry lacks its redemption, and
every outbox drains to zero. Then the whole authorization matrix (``AUTHZ_MATRIX=full``: ``make
test`` runs a sample of its rows for API clients, the other store and the platform) runs under
pytest against the same servers. Time to recover counts from the fault, or for a server restart from the
moment the server is back; after a RabbitMQ restart every process must be serving again within
``BROKER_RECOVERY_SECONDS`` (the consumers' capped reconnect back-off, ``plumbing.framework``). Then a soak (``--soak`` seconds, 900 by default) records memory, file
descriptors and broker connections per process at its start and end.

    make faults                      # everything, with the 15-minute soak
    make faults ARGS="--soak 60"     # a shorter soak
    make faults ARGS="--only kill:redemption --soak 0 --no-matrix"
"""
import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

LOCAL_PORTS = {"postgres": 55432, "rabbitmq": 35673}  # the AMQP port + 20000 is its dist port
BROKER_RECOVERY_SECONDS = 15.0  # kombu's own back-off took 53 s; ours retries every second at most
PROCESSES = ("redemption", "settlement", "support", "notification", "campaign", "gateway")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_servers(base):
    """Environment for servers of our own (set before plumbing.config reads it)."""
    os.environ.setdefault("VOWREWARDS_LOCAL_DIR", str(base / ".local" / "faults"))
    os.environ["VOWREWARDS_RABBITMQ_NODENAME"] = os.environ["VOWREWARDS_RABBITMQ_NODE"] = "vowfaults@localhost"
    os.environ["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:%d/vowfaults" % LOCAL_PORTS["postgres"]
    os.environ["AMQP_URI"] = "amqp://guest:guest@127.0.0.1:%d/" % LOCAL_PORTS["rabbitmq"]


class Load:
    """Tills redeeming fresh vouchers through the gateway until stopped; every outcome recorded."""

    def __init__(self, base, owner, till, threads):
        import requests
        self.requests = requests
        self.base, self.owner, self.till = base, owner, till
        self.outcomes = []  # (status or None, redemption id or None)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._till, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _till(self):
        session = self.requests.Session()
        while not self.stopping.is_set():
            try:
                voucher = session.post(self.base + "/vouchers", json={
                    "kind": "discount_fixed", "currency": "ZAR", "value": 100},
                    headers={"Authorization": "Bearer " + self.owner, "Idempotency-Key": str(uuid.uuid4())},
                    timeout=15)
            except self.requests.RequestException:
                time.sleep(0.2)
                continue
            if voucher.status_code != 201:
                time.sleep(0.2)
                continue
            try:
                answer = session.post(self.base + "/redemptions", json={
                    "code": voucher.json()["display_code"], "channel": "pos"},
                    headers={"Authorization": "Bearer " + self.till, "Idempotency-Key": str(uuid.uuid4())},
                    timeout=15)
                self.outcomes.append((answer.status_code, answer.json().get("id") if answer.ok else None))
            except (self.requests.RequestException, ValueError):
                self.outcomes.append((None, None))

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)
        return self.outcomes


def query(url, sql, params=()):
    import psycopg2
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def wait(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def outbox_backlog(url):
    from plumbing import config as cfg
    return sum(query(url, "SELECT count(*) FROM %s.outbox WHERE published_at IS NULL" % component)[0][0]
               for component in cfg.ALL_COMPONENTS)


def check(url, answered):
    """(lost, doubled, orphaned) for the redemptions answered 2xx, once the stack settled."""
    ids = [rid for status, rid in answered if status and 200 <= status < 300 and rid]
    wait(lambda: outbox_backlog(url) == 0, 120)
    # ledger entries follow the events; give them the time the outbox and consumers need
    wait(lambda: query(url, "SELECT count(*) FROM redemption.redemptions r WHERE r.id = ANY(%s::uuid[]) AND "
                            "NOT EXISTS (SELECT 1 FROM settlement.journal_entries j WHERE j.kind = 'redemption' "
                            "AND j.source_id = r.id)", (ids,))[0][0] == 0, 120)
    rows = dict(query(url, "SELECT id::text, count(*) FROM redemption.redemptions WHERE id = ANY(%s::uuid[]) "
                           "GROUP BY id", (ids,)))
    ledger = dict(query(url, "SELECT source_id::text, count(*) FROM settlement.journal_entries "
                             "WHERE kind = 'redemption' AND source_id = ANY(%s::uuid[]) GROUP BY source_id", (ids,)))
    lost = sum(1 for rid in ids if rows.get(rid, 0) == 0 or ledger.get(rid, 0) == 0)
    doubled = sum(1 for rid in ids if rows.get(rid, 0) > 1 or ledger.get(rid, 0) > 1)
    doubled += query(url, "SELECT count(*) FROM (SELECT voucher_id FROM redemption.redemptions "
                          "GROUP BY voucher_id HAVING count(*) > 1) d")[0][0]
    orphaned = query(url, "SELECT count(*) FROM settlement.journal_entries j WHERE j.kind = 'redemption' AND "
                          "NOT EXISTS (SELECT 1 FROM redemption.redemptions r WHERE r.id = j.source_id)")[0][0]
    return lost, doubled, orphaned, outbox_backlog(url)


def recovered(base, owner, till, started, seconds=180):
    """Seconds from the fault until a fresh redemption is answered 201 again."""
    import requests

    def redeems():
        voucher = requests.post(base + "/vouchers", json={"kind": "discount_fixed", "currency": "ZAR", "value": 100},
                                headers={"Authorization": "Bearer " + owner}, timeout=10)
        if voucher.status_code != 201:
            return False
        return requests.post(base + "/redemptions", json={"code": voucher.json()["display_code"], "channel": "pos"},
                             headers={"Authorization": "Bearer " + till}, timeout=10).status_code == 201
    return time.monotonic() - started if wait(redeems, seconds) else None


# -- the faults -----------------------------------------------------------------------------------
def kill(stack, name):
    def inject():
        os.kill(stack.processes.pid(name), signal.SIGKILL)
    return inject


def rabbitmq_restart():
    from devtools import servers
    servers.rabbitmqctl("stop_app")
    time.sleep(5)
    servers.rabbitmqctl("start_app")
    return time.monotonic()  # the broker is back: recovery counts from here


def postgres_restart():
    from devtools import servers
    bindir = servers.find_pg_bindir()
    servers.run_as("postgres" if servers.is_root() else None,
                   [os.path.join(bindir, "pg_ctl"), "-D", str(servers.PG_DIR / "data"), "-m", "fast", "-w",
                    "-o", "-p %d -k %s -c listen_addresses=127.0.0.1" % (LOCAL_PORTS["postgres"], servers.PG_DIR / "run"),
                    "restart"], stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    return time.monotonic()


def stall(stack, name, seconds):
    def inject():
        pid = stack.processes.pid(name)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)
        os.kill(pid, signal.SIGCONT)
    return inject


def faults(stack, heartbeat):
    listed = [("kill -9 %s" % name, "kill:" + name, kill(stack, name)) for name in PROCESSES]
    listed += [("RabbitMQ restart", "rabbitmq", rabbitmq_restart),
               ("PostgreSQL restart", "postgres", postgres_restart),
               ("SIGSTOP redemption %ds" % (heartbeat * 3), "stall", stall(stack, "redemption", heartbeat * 3))]
    return listed


# -- the soak -------------------------------------------------------------------------------------
def resources(stack):
    """pid -> (rss kB, open fds) of every supervised process."""
    found = {}
    for name, _ in stack.processes.entries:
        pid = stack.processes.pid(name)
        try:
            rss = next(int(line.split()[1]) for line in open("/proc/%d/status" % pid) if line.startswith("VmRSS"))
            fds = len(os.listdir("/proc/%d/fd" % pid))
        except (OSError, StopIteration):
            continue
        found[name] = (rss, fds)
    return found


def broker_connections():
    from devtools import servers
    listed = servers.rabbitmqctl("list_connections", "user", "-q", "--no-table-headers")
    counts = {}
    for line in listed.stdout.splitlines():
        if line.strip():
            counts[line.strip()] = counts.get(line.strip(), 0) + 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(prog="make faults", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=6, help="tills redeeming at once (%(default)s)")
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before each fault")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of load after recovery")
    parser.add_argument("--soak", type=float, default=900.0, help="soak seconds (0: none; %(default)s)")
    parser.add_argument("--heartbeat", type=int, default=5, help="AMQP heartbeat of every process (%(default)s)")
    parser.add_argument("--only", action="append", help="fault keys to run (kill:<process>, rabbitmq, "
                                                        "postgres, stall); all by default")
    parser.add_argument("--no-matrix", dest="matrix", action="store_false",
                        help="skip the full authorization matrix")
    args = parser.parse_args(argv)

    from pathlib import Path
    own_servers(Path(__file__).resolve().parent.parent)
    from devtools.run import Stack
    from plumbing import config as cfg

    log_path = cfg.LOCAL_DIR / "processes.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    overrides = {"GATEWAY_PORT": str(free_port()), "AMQP_HEARTBEAT": str(args.heartbeat), "LOG_LEVEL": "WARNING",
                 "HEALTH_PORT": "", "SMTP_HOST": "", "SMTP_PORT": str(free_port()),
                 "DEV_MAIL_DIR": str(cfg.LOCAL_DIR / "mail")}
    overrides.update({c.upper() + "_HEALTH_PORT": str(free_port()) for c in cfg.HEALTH_PORTS})
    print("vowrewards: starting the stack on servers of its own (logs: %s)" % log_path, flush=True)
    with open(log_path, "ab") as log:
        stack = Stack(password, overrides, stdout=log, timeout=180)
        try:
            return run_faults(stack, args, password)
        finally:
            stack.stop()
            from devtools import servers
            servers.stop_all(stack.started)


def run_faults(stack, args, password):
    import requests
    base = stack.url + "/api/v1"
    url = stack.env["DATABASE_URL"]

    def login(user):
        return requests.post(base + "/auth/token", json={"username": user, "password": password},
                             timeout=10).json()["access_token"]
    owner, till = login("demo-owner"), login("demo-store")
    rows, failed = [], False
    for title, key, inject in faults(stack, args.heartbeat):
        if args.only and key not in args.only:
            continue
        load = Load(base, owner, till, args.threads)
        time.sleep(args.before)
        started = time.monotonic()
        back = inject() or started  # a server restart returns when the server is back
        recover = recovered(base, owner, till, back)
        time.sleep(args.after)
        outcomes = load.stop()
        lost, doubled, orphaned, backlog = check(url, outcomes)
        ok2 = sum(1 for status, _ in outcomes if status and 200 <= status < 300)
        errors = sum(1 for status, _ in outcomes if status is None or status >= 500)
        rows.append((title, len(outcomes), ok2, errors, lost, doubled, orphaned, backlog,
                     "%.1fs" % recover if recover is not None else "never"))
        failed |= bool(lost or doubled or orphaned or backlog or recover is None)
        if key == "rabbitmq" and recover is not None and recover > BROKER_RECOVERY_SECONDS:
            print("a RabbitMQ restart took %.1fs to recover from (more than %.0fs)" % (recover, BROKER_RECOVERY_SECONDS))
            failed = True
        print_table(rows[-1:], header=len(rows) == 1)
    if args.matrix:
        failed |= not full_authorization_matrix()
    if args.soak > 0:
        failed |= soak(stack, base, owner, till, args)
    print()
    print_table(rows)
    return 1 if failed else 0


def full_authorization_matrix():
    """Every route x every caller (tests/integration/test_authorization_matrix.py in full), in a
    pytest of its own: its own database and vhost on these servers."""
    from plumbing import config as cfg
    print("\nauthorization matrix, in full:", flush=True)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/integration/test_authorization_matrix.py"],
                          cwd=str(cfg.REPO_ROOT), env=dict(os.environ, AUTHZ_MATRIX="full"),
                          capture_output=True, text=True)
    print("\n".join(done.stdout.strip().splitlines()[-15 if done.returncode else -1:]))
    print("(%.0fs)" % (time.monotonic() - started), flush=True)
    return done.returncode == 0


def print_table(rows, header=True):
    columns = ("fault", "requests", "2xx", "5xx/err", "lost", "doubled", "orphaned", "outbox", "recovered in")
    widths = [28, 9, 7, 8, 5, 8, 9, 7, 12]
    if header:
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths)), flush=True)
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)), flush=True)


def soak(stack, base, owner, till, args):
    """Load for ``--soak`` seconds; memory, fds and broker connections at the start and the end."""
    load = Load(base, owner, till, args.threads)
    time.sleep(min(30, args.soak / 4))  # warmed up
    first, first_conns = resources(stack), broker_connections()
    time.sleep(max(0, args.soak - min(30, args.soak / 4)))
    last, last_conns = resources(stack), broker_connections()
    outcomes = load.stop()
    print("\nsoak: %d redemptions in %.0fs" % (len(outcomes), args.soak))
    print("process       rss kB (start -> end)   fds (start -> end)")
    grew = False
    for name in sorted(last):
        (rss0, fd0), (rss1, fd1) = first.get(name, (0, 0)), last[name]
        print("%-12s  %8d -> %-8d        %4d -> %d" % (name, rss0, rss1, fd0, fd1))
        grew |= fd1 > fd0 + 20 or rss1 > rss0 * 1.5 + 20000
    print("broker connections per user: %s -> %s" % (first_conns, last_conns))
    grew |= sum(last_conns.values()) > sum(first_conns.values()) + 5
    return grew


if __name__ == "__main__":
    sys.exit(main())
