"""Frequent statements go to PostgreSQL as prepared statements (``plumbing.db.PreparedStatements``),
and answer exactly as the same statement sent as text would."""
import datetime
import uuid

import psycopg2
import pytest

from plumbing.db import ConnectionPool

THRESHOLD = 2


@pytest.fixture
def pool(bare_database_url):
    conn = psycopg2.connect(bare_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS prepshop CASCADE; CREATE SCHEMA prepshop; "
                    "CREATE TABLE prepshop.prices (id uuid PRIMARY KEY, sku text NOT NULL, "
                    "currency character(3) NOT NULL, amount integer NOT NULL, day date NOT NULL)")
    conn.close()
    pool = ConnectionPool(bare_database_url, size=1, schema="prepshop", prepare_threshold=THRESHOLD)
    yield pool
    pool.close()


def run(pool, sql, params=None, rows="one"):
    return pool.run(lambda tx: getattr(tx, rows)(sql, params))


def prepared(pool):
    """The statements the pool's one connection has prepared, as the server lists them."""
    return [row["statement"] for row in run(pool, "SELECT statement FROM pg_prepared_statements",
                                            rows="all")]


def add(pool, sku, currency="ZAR", amount=100, day=datetime.date(2026, 12, 1)):
    price_id = str(uuid.uuid4())
    run(pool, "INSERT INTO prices (id, sku, currency, amount, day) VALUES (%(id)s, %(sku)s, %(currency)s, "
              "%(amount)s, %(day)s)", {"id": price_id, "sku": sku, "currency": currency, "amount": amount,
                                       "day": day}, rows="execute")
    return price_id


def test_a_frequent_statement_is_prepared_and_answers_as_text_did(pool):
    ids = [add(pool, "sku-%d" % n, amount=n) for n in range(5)]
    answers = [run(pool, "SELECT sku, currency, amount FROM prices WHERE id = %s", (price_id,))
               for price_id in ids]
    assert answers == [{"sku": "sku-%d" % n, "currency": "ZAR", "amount": n} for n in range(5)]
    statements = prepared(pool)
    assert any("WHERE id = $1" in text for text in statements), statements
    assert any("INSERT INTO prices" in text for text in statements), statements


def test_a_value_that_would_change_meaning_goes_as_text(pool):
    add(pool, "noon")
    noon = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
    # as text, the date is compared as a timestamp (midnight): no row; coerced to the parameter's
    # type (a date) it would match
    for _ in range(THRESHOLD + 3):
        assert run(pool, "SELECT count(*) AS n FROM prices WHERE day = %s", (noon,)) == {"n": 0}
    assert run(pool, "SELECT count(*) AS n FROM prices WHERE day = %s", (noon.date(),)) == {"n": 1}
    assert any("WHERE day = $1" in text for text in prepared(pool))
    # an integer too large for an integer parameter finds nothing, as text; it does not fail
    for _ in range(THRESHOLD + 2):
        assert run(pool, "SELECT count(*) AS n FROM prices WHERE amount = %s", (2 ** 40,)) == {"n": 0}
        assert run(pool, "SELECT count(*) AS n FROM prices WHERE amount = %s", (100,)) == {"n": 1}


def test_named_repeated_listed_and_percent_parameters(pool):
    first, second = add(pool, "a%b"), add(pool, "c")
    for _ in range(THRESHOLD + 2):
        assert run(pool, "SELECT count(*) AS n FROM prices WHERE id = ANY(%s::uuid[])",
                   ([first, second],)) == {"n": 2}
        assert run(pool, "SELECT sku || %(tail)s || %(tail)s AS s FROM prices WHERE sku LIKE 'a%%'",
                   {"tail": "!"}) == {"s": "a%b!!"}
        assert run(pool, "SELECT %s IS NULL AS missing", (None,)) == {"missing": True}  # not preparable
    texts = prepared(pool)
    assert any("ANY($1::uuid[])" in text for text in texts) and any("$1 || $1" in text for text in texts)


def test_a_statement_whose_result_changed_shape_fails_once_then_works(pool, bare_database_url):
    price_id = add(pool, "shape")
    for _ in range(THRESHOLD + 1):
        assert run(pool, "SELECT * FROM prices WHERE id = %s", (price_id,))["amount"] == 100
    conn = psycopg2.connect(bare_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:  # a migration elsewhere
        cur.execute("ALTER TABLE prepshop.prices ADD COLUMN note text DEFAULT 'new'")
    conn.close()
    with pytest.raises(psycopg2.errors.FeatureNotSupported):
        run(pool, "SELECT * FROM prices WHERE id = %s", (price_id,))
    assert run(pool, "SELECT * FROM prices WHERE id = %s", (price_id,))["note"] == "new"
