"""The plumbing's one idempotency mechanism and the transaction's one owner, on a small service.

``toythings`` creates things under an Idempotency-Key (``@idempotent``), as every service's
creating entrypoints do: a retry is answered as the first request was, a different request
under a used key is refused, two copies at once serialise on the key, and a refusal leaves no
key behind. It also records things "despite failure", undoes what it did elsewhere after a
rollback, and works in savepoints and in transactions of its own, as the services do.
"""
import uuid

import eventlet
import psycopg2
import pytest
from nameko.contextdata import ContextDataProvider

from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, ValidationFailed
from plumbing.idempotency import idempotent
from plumbing.migrations import IDEMPOTENCY_KEYS_SQL, MESSAGING_TABLES_SQL
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from tests.service.conftest import call, wait_until

HELD = {}      # name -> (entered, go): a create holds its transaction open until told to go on
UNDONE = []    # what after_rollback callbacks undid
EXPIRED = set()  # names refused before any statement (as a short-lived QR code is, once it expires)


class ToyThings(ServiceBase):
    name = "toythings"
    echo = RpcProxy("toyecho")

    @rpc
    @idempotent
    def create(self, name, colour="grey"):
        if name in HELD:
            entered, go = HELD[name]
            entered.send()
            go.wait()
        if self.db.scalar("SELECT count(*) FROM things WHERE name = %s", (name,)):
            raise Conflict("There is a %s already" % name, code="name_taken")
        thing = {"id": self.idempotency.stable_id(), "name": name, "colour": colour}
        self.db.execute("INSERT INTO things (id, name, colour) VALUES (%(id)s, %(name)s, %(colour)s)", thing)
        thing["key_seen_downstream"] = self.echo.key()  # a call this makes does not carry the client's key
        return thing

    @rpc
    @idempotent(claim_with_first_statement=True)
    def create_quickly(self, name):
        if name in EXPIRED:
            raise Conflict("%s has expired" % name, code="expired")
        thing_id = self.idempotency.stable_id()
        self.db.execute("INSERT INTO things (id, name, colour) VALUES (%s, %s, 'quick')", (thing_id, name))
        return {"id": thing_id, "name": name}

    @rpc
    def try_and_fail(self, name, fail=True):
        """Writes a thing, counts a try that must be kept, and fails (or not)."""
        self.db.execute("INSERT INTO things (id, name, colour) VALUES (%s, %s, 'doomed')", (str(uuid.uuid4()), name))
        self.db.despite_failure(lambda tx: tx.execute("INSERT INTO tries (name) VALUES (%s)", (name,)))
        self.db.after_rollback(lambda: UNDONE.append(name))
        if fail:
            raise Conflict("No %s today" % name, code="refused")
        return "kept"

    @rpc
    def taken_names_are_survivable(self, name):
        """A statement that fails inside a savepoint undoes only itself."""
        for colour in ("red", "blue"):
            try:
                with self.db.savepoint():
                    self.db.execute("INSERT INTO things (id, name, colour) VALUES (%s, %s, %s)",
                                    (str(uuid.uuid4()), name, colour))
            except psycopg2.errors.UniqueViolation:
                pass
        return self.db.scalar("SELECT colour FROM things WHERE name = %s", (name,))

    @rpc
    def step_then_fail(self, name):
        """A step done in a transaction of its own stays when the rest fails."""
        self.db.execute("INSERT INTO things (id, name, colour) VALUES (%s, %s, 'rest')", (str(uuid.uuid4()), name))
        with self.db.separately():
            self.db.execute("INSERT INTO tries (name) VALUES (%s)", (name,))
        raise Conflict("The rest failed", code="rest_failed")


class ToyEcho:
    name = "toyecho"
    idempotency_key = ContextDataProvider("idempotency_key")

    @rpc
    def key(self):
        return self.idempotency_key


@pytest.fixture(scope="module")
def toy_db(bare_database_url):
    conn = psycopg2.connect(bare_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS toythings CASCADE; CREATE SCHEMA toythings; SET search_path TO toythings")
        cur.execute(MESSAGING_TABLES_SQL + IDEMPOTENCY_KEYS_SQL)
        cur.execute("CREATE TABLE things (id uuid PRIMARY KEY, name text NOT NULL UNIQUE, colour text NOT NULL);"
                    "CREATE TABLE tries (id serial PRIMARY KEY, name text NOT NULL)")
    conn.close()
    return bare_database_url


@pytest.fixture
def things(container_factory, toy_db, amqp_uri, jwt_keys):
    config = {"AMQP_URI": amqp_uri, "DATABASE_URL": toy_db, "DB_SCHEMA": "toythings", "DB_POOL_SIZE": 6,
              "JWT_PUBLIC_KEY": jwt_keys[1], "HEALTH_PORT": None, "RPC_TIMEOUT": 5,
              "REVOCATIONS_CATCH_UP": False}
    echo = container_factory(ToyEcho, config)
    echo.start()
    container = container_factory(ToyThings, config)
    container.start()
    return container


@pytest.fixture
def rows(toy_db):
    def run(sql, params=()):
        conn = psycopg2.connect(toy_db)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET search_path TO toythings")
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else cur.rowcount
        finally:
            conn.close()
    return run


@pytest.fixture
def as_someone(as_user):
    user = as_user("owner", merchant_id=str(uuid.uuid4()))

    def context(key=None):
        return dict(user, idempotency_key=key) if key else dict(user)
    return context


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def test_a_retry_is_answered_as_the_first_request_was(things, as_someone, rows):
    key, name = uuid.uuid4().hex, unique("lamp")
    first = call(things, "create", as_someone(key), name, colour="red")
    again = call(things, "create", as_someone(key), name, colour="red")
    assert again == first and first["name"] == name
    assert first["key_seen_downstream"] is None  # the key stops at the service that claimed it
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(1,)]
    # the stored answer, with the effect
    assert rows("SELECT answer->'value'->>'id' FROM idempotency_keys WHERE key = %s", (key,)) == [(first["id"],)]


def test_another_request_under_a_used_key_is_refused(things, as_someone, rows):
    key, name = uuid.uuid4().hex, unique("chair")
    call(things, "create", as_someone(key), name)
    with pytest.raises(ValidationFailed) as raised:
        call(things, "create", as_someone(key), name, colour="blue")
    assert raised.value.code == "idempotency_key_reused"
    assert rows("SELECT colour FROM things WHERE name = %s", (name,)) == [("grey",)]


def test_keys_are_scoped_by_caller_and_method(things, as_someone, as_user, rows):
    key = uuid.uuid4().hex
    mine = call(things, "create", as_someone(key), unique("desk"))
    theirs = call(things, "create", dict(as_user("owner"), idempotency_key=key), unique("desk"))
    quick = call(things, "create_quickly", as_someone(key), unique("desk"))
    assert len({mine["id"], theirs["id"], quick["id"]}) == 3


def test_two_copies_at_once_serialise_on_the_key(things, as_someone, rows):
    key, name = uuid.uuid4().hex, unique("table")
    entered, go = eventlet.Event(), eventlet.Event()
    HELD[name] = (entered, go)
    try:
        first = eventlet.spawn(call, things, "create", as_someone(key), name)
        entered.wait()  # the first holds the key, uncommitted
        second = eventlet.spawn(call, things, "create", as_someone(key), name)
        # the second waits on the key (on the database's lock), not on anything of ours
        wait_until(lambda: rows("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND query LIKE %s", ("%INSERT INTO idempotency_keys%",)))
        go.send()
        answers = [first.wait(), second.wait()]
    finally:
        HELD.pop(name)
    assert answers[0] == answers[1]  # the second answered as the first did, not name_taken
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(1,)]


def test_a_refusal_leaves_no_key_behind(things, as_someone, rows):
    name = unique("sofa")
    call(things, "create", as_someone(uuid.uuid4().hex), name)
    key = uuid.uuid4().hex
    for _ in range(2):  # the retry meets the same refusal, not a key spent on nothing
        with pytest.raises(Conflict) as raised:
            call(things, "create", as_someone(key), name)
        assert raised.value.code == "name_taken"
    assert rows("SELECT count(*) FROM idempotency_keys WHERE key = %s", (key,)) == [(0,)]
    rows("DELETE FROM things WHERE name = %s", (name,))
    created = call(things, "create", as_someone(key), name)  # once the cause is gone, the key works
    assert created["name"] == name


def test_a_claim_with_the_first_statement_works_alike(things, as_someone, rows):
    key, name = uuid.uuid4().hex, unique("stool")
    first = call(things, "create_quickly", as_someone(key), name)
    assert call(things, "create_quickly", as_someone(key), name) == first
    EXPIRED.add(name)  # a retry refused before its first statement is still answered as the first was
    assert call(things, "create_quickly", as_someone(key), name) == first
    with pytest.raises(Conflict):
        call(things, "create_quickly", as_someone(uuid.uuid4().hex), name)
    with pytest.raises(ValidationFailed) as raised:
        call(things, "create_quickly", as_someone(key), unique("stool"))
    assert raised.value.code == "idempotency_key_reused"
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(1,)]


def test_an_overlong_key_is_refused(things, as_someone):
    with pytest.raises(ValidationFailed) as raised:
        call(things, "create", as_someone("k" * 201), unique("bed"))
    assert raised.value.code == "idempotency_key_invalid"


def test_what_must_be_kept_is_kept_though_the_request_fails(things, as_someone, rows):
    name = unique("try")
    with pytest.raises(Conflict):
        call(things, "try_and_fail", as_someone(), name)
    # committed before the caller heard the refusal; the request's own write is gone
    assert rows("SELECT count(*) FROM tries WHERE name = %s", (name,)) == [(1,)]
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(0,)]
    assert UNDONE.count(name) == 1  # what it did elsewhere is undone once it is rolled back


def test_what_must_be_kept_goes_with_a_request_that_succeeds(things, as_someone, rows):
    name = unique("try")
    assert call(things, "try_and_fail", as_someone(), name, fail=False) == "kept"
    assert rows("SELECT count(*) FROM tries WHERE name = %s", (name,)) == [(1,)]
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(1,)]
    assert name not in UNDONE


def test_a_savepoint_undoes_only_its_block(things, as_someone, rows):
    name = unique("vase")
    assert call(things, "taken_names_are_survivable", as_someone(), name) == "red"
    assert rows("SELECT colour FROM things WHERE name = %s", (name,)) == [("red",)]


def test_a_step_of_its_own_stays_when_the_rest_fails(things, as_someone, rows):
    name = unique("step")
    with pytest.raises(Conflict):
        call(things, "step_then_fail", as_someone(), name)
    assert rows("SELECT count(*) FROM tries WHERE name = %s", (name,)) == [(1,)]
    assert rows("SELECT count(*) FROM things WHERE name = %s", (name,)) == [(0,)]
