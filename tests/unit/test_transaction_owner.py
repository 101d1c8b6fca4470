"""The worker's transaction has one owner, ``plumbing.db``: no service (and not the gateway) commits
or rolls it back by hand. What must outlive a failure goes to ``despite_failure``, undoing work done
elsewhere to ``after_rollback``, a statement allowed to fail to ``savepoint()``, steps durable on
their own to ``separately()``. And the transaction adds no round trip of its own: a statement that
leads (an idempotency key's claim) travels with the next one, deferred ones with the COMMIT."""
import re
from pathlib import Path

from plumbing.db import PreparedStatements, Transaction

REPO = Path(__file__).resolve().parents[2]
BY_HAND = re.compile(r"\.(commit|rollback)\(\)|\b(ROLLBACK|COMMIT|SAVEPOINT)\b")


def test_no_service_or_gateway_code_drives_the_transaction_by_hand():
    offenders = []
    for directory in ("services", "gateway"):
        for path in sorted((REPO / directory).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if BY_HAND.search(line):
                    offenders.append("%s:%d: %s" % (path.relative_to(REPO), number, line.strip()))
    assert offenders == []


class Cursor:
    def __init__(self, sent):
        self.sent = sent
        self.rowcount = 1

    def mogrify(self, sql, params=None):
        return (sql % tuple("'%s'" % p for p in params) if params else sql).encode()

    def execute(self, sql, params=None):
        self.sent.append(sql.decode() if isinstance(sql, bytes) else self.mogrify(sql, params).decode())

    def fetchone(self):
        return {"one": 1}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


class Connection:
    closed = False

    def __init__(self):
        self.sent = []

    def cursor(self):
        return Cursor(self.sent)


class Pool:
    def __init__(self):
        self.conn = Connection()
        self.statements = PreparedStatements(threshold=0)  # round trips are counted as text

    def acquire(self):
        return self.conn

    def release(self, conn, broken=False):
        pass


def test_a_claim_and_a_stored_answer_add_no_round_trip():
    pool = Pool()
    tx = Transaction(pool)
    tx.lead("INSERT INTO idempotency_keys VALUES (%s)", ("k",))
    tx.one("SELECT * FROM vouchers WHERE code = %s FOR UPDATE", ("C",))
    tx.execute("INSERT INTO redemptions VALUES (%s)", ("r",))
    tx.defer("INSERT INTO outbox VALUES (%s)", ("e",))
    tx.defer("UPDATE idempotency_keys SET answer = %s", ("a",))
    tx.commit()
    assert pool.conn.sent == [
        "BEGIN; INSERT INTO idempotency_keys VALUES ('k'); SELECT * FROM vouchers WHERE code = 'C' FOR UPDATE",
        "INSERT INTO redemptions VALUES ('r')",
        "INSERT INTO outbox VALUES ('e'); UPDATE idempotency_keys SET answer = 'a'; COMMIT",
    ]


def test_what_is_kept_despite_failure_is_written_after_the_rollback_in_its_own_transaction():
    pool = Pool()
    tx = Transaction(pool)
    tx.execute("INSERT INTO redemptions VALUES (%s)", ("r",))
    tx.despite_failure(lambda tx: tx.execute("UPDATE failed_attempts SET failures = failures + 1"))
    undone = []
    tx.after_rollback(lambda: undone.append("points released"))
    assert tx.finish(("error", None, None)) == ("error", None, None)
    assert pool.conn.sent == ["BEGIN; INSERT INTO redemptions VALUES ('r')", "ROLLBACK",
                              "BEGIN; UPDATE failed_attempts SET failures = failures + 1", "COMMIT"]
    assert undone == ["points released"]


def test_what_is_kept_despite_failure_goes_with_a_success():
    pool = Pool()
    tx = Transaction(pool)
    tx.execute("INSERT INTO redemptions VALUES (%s)", ("r",))
    tx.despite_failure(lambda tx: tx.execute("UPDATE failed_attempts SET failures = failures + 1"))
    undone = []
    tx.after_rollback(lambda: undone.append("points released"))
    assert tx.finish(None) is None
    assert pool.conn.sent == ["BEGIN; INSERT INTO redemptions VALUES ('r')",
                              "UPDATE failed_attempts SET failures = failures + 1", "COMMIT"]
    assert undone == []
