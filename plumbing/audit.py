"""The audit log of money and permission changes: append-only, hash-chained per merchant.

Each schema that owns such changes (``AUDITED``) has one ``audit_log`` table, filled by PostgreSQL
itself: statement-level triggers on the tables that record the changes (vouchers issued and
cancelled, redemptions and reversals, payout account changes, funding agreements, users and roles)
copy each inserted, updated or deleted row (``to_jsonb``) in one ``INSERT ... SELECT`` per
statement, so a 100,000-code batch costs no Python and no trigger call per row. The database
refuses any change to ``audit_log`` but one: sealing an unsealed row, once. Rows are written by
the audit triggers only.

Sealing continues each merchant's chain (platform-wide rows: the nil UUID's chain) off the request
path: ``<schema>.audit_seal(n)``, a function of the migration, takes up to ``n`` unsealed rows in id
order under a per-schema advisory lock (one sealer at a time, whichever replica), and gives each
``seq`` = its chain's last + 1, ``prev_hash`` = that row's ``hash`` (``GENESIS`` for the first) and
``hash = sha256(prev_hash || canonical_bytes(row))``. Every process whose schema is audited runs it
every ``AUDIT_SEAL_INTERVAL`` seconds as itself (``plumbing.db.AuditSealer``, part of its ``Database``).

``python -m plumbing.audit verify`` (as each schema's own role, or ``--database-url``) seals what is
left and then recomputes every chain from
genesis here, in Python, independently of the database's function: it names the first row whose
contents were edited, the seq numbers missing (rows deleted), links broken (rows reordered or
replaced) and audit triggers missing or disabled, and exits 1 if anything is broken.

What this cannot stop: the schema's owner (the service's role, which also runs its migrations) may
disable or drop triggers, which is DDL, not an accident or an injected statement; verify reports a
disabled or missing audit trigger, and an edited row breaks its chain. Rewriting a whole chain from
genesis is detectable only against a head recorded elsewhere: verify prints each chain's head.
"""
import argparse
import hashlib
import logging
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)

VERSION = "vowrewards-audit-v1"
GENESIS = bytes(32)  # prev_hash of every chain's first row
PLATFORM = "00000000-0000-0000-0000-000000000000"  # the chain of rows that belong to no merchant
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
SEAL_BATCH = 1000
# a running service seals little and often: one long sealing transaction is a burst of database CPU
# that the tills' requests queue behind (open-loop p99 43 ms with 1,000-row rounds every 5 s, 26 ms
# without sealing, at 120 redemptions/s on two cores)
SERVICE_SEAL_BATCH = 100

# schema -> the tables whose changes it audits (tests/integration/test_audit_log.py checks each
# has its triggers; verify reports one missing or disabled)
AUDITED = {
    "redemption": ("voucher_history", "redemptions"),
    "settlement": ("payout_account_history", "payout_accounts"),
    "campaign": ("funding_agreement_history",),
    "gateway": ("user_audit",),
}
OPERATIONS = ("insert", "update", "delete")


# -- the chain (pure) ------------------------------------------------------------------------
def epoch_micros(moment):
    """Microseconds since 1970 UTC: what the chain hashes of a timestamp (no session time zone)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def canonical_bytes(schema, row, seq):
    """What a row's link hashes, as ``audit_seal`` builds it in SQL: its fields one per line, the
    payload (PostgreSQL's text of the jsonb, which is normalised) last. No field but the payload may
    hold a newline (the table's checks say so), so the lines cannot be shifted into one another."""
    fields = [VERSION, schema, str(row["merchant_id"]), str(int(seq)), str(int(row["id"])), row["source"],
              row["action"], row["row_key"], str(epoch_micros(row["recorded_at"])), row["payload"]]
    return "\n".join(fields).encode("utf-8")


def link_hash(prev_hash, schema, row, seq):
    return hashlib.sha256(bytes(prev_hash) + canonical_bytes(schema, row, seq)).digest()


def seal_rows(schema, head, rows):
    """Continue a chain whose last row is ``head`` (``(seq, hash)``, or None for a new chain) with
    ``rows`` in order: ``[(id, seq, prev_hash, hash)]``. What ``audit_seal`` does, for the tests."""
    seq, prev = head or (0, GENESIS)
    sealed = []
    for row in rows:
        seq += 1
        link = link_hash(prev, schema, row, seq)
        sealed.append((row["id"], seq, prev, link))
        prev = link
    return sealed


def _well_formed(row):
    return all("\n" not in str(row[name]) for name in ("source", "action", "row_key"))


def verify_chain(schema, merchant_id, rows):
    """Walk one chain's sealed rows (ordered by seq) from genesis: a dict with ``checked`` rows,
    the ``head`` (seq, hash hex) and the ``problem`` found first (None when the chain holds)."""
    prev, expected, checked = GENESIS, 1, 0
    suspect = None  # a row whose contents do not give its hash: the next row says which was edited

    def broken(row, kind, detail):
        return {"merchant_id": merchant_id, "checked": checked, "head": None,
                "problem": {"seq": row["seq"], "id": row["id"], "source": row["source"],
                            "row_key": row["row_key"], "kind": kind, "detail": detail}}

    for row in rows:
        row = dict(row, prev_hash=bytes(row["prev_hash"]), hash=bytes(row["hash"]))
        if suspect is not None:
            edited, recomputed = suspect
            if row["seq"] == edited["seq"] + 1 and row["prev_hash"] == recomputed:
                return broken(edited, "hash_rewritten", "its hash was changed after sealing (its contents "
                                                        "and the next row's link agree with each other)")
            return broken(edited, "altered", "its contents (payload or another field) were edited after "
                                             "sealing: they no longer give its hash")
        if row["seq"] > expected:
            return broken(row, "missing", "rows with seq %d..%d are missing (deleted)" % (expected, row["seq"] - 1)
                          if row["seq"] > expected + 1 else "the row with seq %d is missing (deleted)" % expected)
        if row["seq"] < expected:
            return broken(row, "reordered", "seq %d appears again (rows reordered or duplicated)" % row["seq"])
        if row["prev_hash"] != prev:
            return broken(row, "link_broken", "its prev_hash is not the hash of seq %d (rows reordered, "
                                              "replaced or re-chained)" % (expected - 1))
        if not _well_formed(row):
            return broken(row, "altered", "a field other than the payload holds a newline")
        recomputed = link_hash(prev, schema, row, row["seq"])
        if recomputed != row["hash"]:
            suspect = (row, recomputed)
            continue
        checked, prev, expected = checked + 1, row["hash"], expected + 1
    if suspect is not None:
        return broken(suspect[0], "altered", "its contents (payload or another field) were edited after "
                                             "sealing: they no longer give its hash")
    return {"merchant_id": merchant_id, "checked": checked, "problem": None,
            "head": {"seq": expected - 1, "hash": prev.hex()} if checked else None}


# -- the schema (used by each component's migration) ------------------------------------------
def install_sql(schema):
    """The ``audit_log`` table of ``schema``, its guard and its sealing function (then each
    ``source_sql``, then ``guard_inserts_sql``)."""
    return """
    CREATE TABLE {s}.audit_log (
        id bigserial PRIMARY KEY,
        merchant_id uuid NOT NULL,  -- the chain; {platform} for what belongs to no merchant
        source text NOT NULL CHECK (source ~ '^[a-z_]+$'),
        action text NOT NULL CHECK (action IN ('insert', 'update', 'delete', 'existing')),
        row_key text NOT NULL CHECK (strpos(row_key, E'\\n') = 0),
        payload jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        seq bigint CHECK (seq > 0),
        prev_hash bytea CHECK (octet_length(prev_hash) = 32),
        hash bytea CHECK (octet_length(hash) = 32),
        CHECK ((seq IS NULL) = (prev_hash IS NULL) AND (seq IS NULL) = (hash IS NULL))
    );
    CREATE UNIQUE INDEX audit_log_chain_idx ON {s}.audit_log (merchant_id, seq) WHERE seq IS NOT NULL;
    CREATE INDEX audit_log_unsealed_idx ON {s}.audit_log (id) WHERE seq IS NULL;

    -- written only by the audit triggers; never deleted or truncated; updated once, to seal a row
    CREATE FUNCTION {s}.audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF pg_trigger_depth() < 2 THEN
                RAISE EXCEPTION 'audit_log is written only by the audit triggers of the tables it records'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NULL;
        ELSIF TG_OP = 'UPDATE' THEN
            IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
               AND (NEW.id, NEW.merchant_id, NEW.source, NEW.action, NEW.row_key, NEW.payload, NEW.recorded_at)
                   IS NOT DISTINCT FROM
                   (OLD.id, OLD.merchant_id, OLD.source, OLD.action, OLD.row_key, OLD.payload, OLD.recorded_at) THEN
                RETURN NEW;  -- sealing, once
            END IF;
            RAISE EXCEPTION 'audit_log is append-only: row % may only be sealed, once', OLD.id
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_log_update BEFORE UPDATE ON {s}.audit_log
        FOR EACH ROW EXECUTE FUNCTION {s}.audit_log_guard();
    CREATE TRIGGER audit_log_delete BEFORE DELETE ON {s}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_log_guard();
    CREATE TRIGGER audit_log_truncate BEFORE TRUNCATE ON {s}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_log_guard();

    -- seal up to max_rows unsealed rows (id order) into their merchants' chains; -1 when another
    -- transaction is sealing this schema. plumbing/audit.py's canonical_bytes is the same text.
    CREATE FUNCTION {s}.audit_seal(max_rows integer) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
        r record;
        chain uuid;
        last_seq bigint;
        last_hash bytea;
        link bytea;
        ids bigint[] := '{{}}';
        seqs bigint[] := '{{}}';
        prevs bytea[] := '{{}}';
        links bytea[] := '{{}}';
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('vowrewards-audit-seal'), hashtext('{s}')) THEN
            RETURN -1;
        END IF;
        FOR r IN SELECT u.* FROM (SELECT a.id, a.merchant_id, a.source, a.action, a.row_key, a.payload,
                                         a.recorded_at FROM {s}.audit_log a
                                  WHERE a.seq IS NULL ORDER BY a.id LIMIT max_rows) u
                 ORDER BY u.merchant_id, u.id LOOP
            IF chain IS DISTINCT FROM r.merchant_id THEN
                chain := r.merchant_id;
                SELECT a.seq, a.hash INTO last_seq, last_hash FROM {s}.audit_log a
                    WHERE a.merchant_id = chain AND a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1;
                IF NOT FOUND THEN
                    last_seq := 0;
                    last_hash := '\\x{genesis}'::bytea;
                END IF;
            END IF;
            last_seq := last_seq + 1;
            link := sha256(last_hash || convert_to(concat_ws(E'\\n', '{version}', '{s}', r.merchant_id::text,
                last_seq::text, r.id::text, r.source, r.action, r.row_key,
                (extract(epoch FROM r.recorded_at) * 1000000)::bigint::text, r.payload::text), 'UTF8'));
            ids := ids || r.id;
            seqs := seqs || last_seq;
            prevs := prevs || last_hash;
            links := links || link;
            last_hash := link;
        END LOOP;
        UPDATE {s}.audit_log a SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash
            FROM unnest(ids, seqs, prevs, links) AS u (id, seq, prev_hash, hash) WHERE a.id = u.id;
        RETURN cardinality(ids);
    END $$;
    """.format(s=schema, platform=PLATFORM, genesis=GENESIS.hex(), version=VERSION)


def uninstall_sql(schema):
    return """
    DROP FUNCTION {s}.audit_seal(integer);
    DROP TABLE {s}.audit_log;
    DROP FUNCTION {s}.audit_log_guard();
    """.format(s=schema)


def source_sql(schema, table, merchant, join="", extra=None, order="c.id", key="c.id"):
    """Audit ``table``: a function and three statement-level triggers (insert, update, delete) that
    copy the changed rows, and the rows already there (``existing``, in ``order``) as a start.
    ``merchant`` is the SQL of each row's merchant (``c`` is the row; ``join`` may add others);
    ``extra`` a jsonb expression merged into the payload (what a history row does not say itself);
    ``key`` the row's primary key."""
    payload = "to_jsonb(c)" + (" || " + extra if extra else "")
    select = ("SELECT coalesce({merchant}, '{platform}'::uuid), '{t}', {action}, (" + key + ")::text, {payload} "
              "FROM {source} c {join}")
    existing = select.format(merchant=merchant, platform=PLATFORM, t=table, action="'existing'", payload=payload,
                             source="%s.%s" % (schema, table), join=join) + " ORDER BY " + order
    changed = select.format(merchant=merchant, platform=PLATFORM, t=table, action="lower(TG_OP)", payload=payload,
                            source="changed", join=join)
    return """
    INSERT INTO {s}.audit_log (merchant_id, source, action, row_key, payload) {existing};
    CREATE FUNCTION {s}.audit_{t}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {s}.audit_log (merchant_id, source, action, row_key, payload) {changed};
        RETURN NULL;
    END $$;
    CREATE TRIGGER {t}_audit_insert AFTER INSERT ON {s}.{t} REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_{t}();
    CREATE TRIGGER {t}_audit_update AFTER UPDATE ON {s}.{t} REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_{t}();
    CREATE TRIGGER {t}_audit_delete AFTER DELETE ON {s}.{t} REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_{t}();
    """.format(s=schema, t=table, existing=existing, changed=changed)


def drop_source_sql(schema, table):
    return """
    DROP TRIGGER {t}_audit_insert ON {s}.{t};
    DROP TRIGGER {t}_audit_update ON {s}.{t};
    DROP TRIGGER {t}_audit_delete ON {s}.{t};
    DROP FUNCTION {s}.audit_{t}();
    """.format(s=schema, t=table)


def guard_inserts_sql(schema):
    """From now on only the audit triggers write audit_log (the migration copied the rows already
    there before this)."""
    return """
    CREATE TRIGGER audit_log_insert BEFORE INSERT ON {s}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.audit_log_guard();
    """.format(s=schema)


# -- sealing ---------------------------------------------------------------------------------
def seal(cursor_run, schema, batch=SEAL_BATCH, max_seconds=2.0, pause=None):
    """Seal what is unsealed in ``schema``, ``batch`` rows per transaction, for at most about
    ``max_seconds``; ``cursor_run(sql, params)`` runs one statement in a transaction of its own and
    returns its single value. Returns the rows sealed (None: another sealer holds the schema).
    ``pause()``, if given, runs between transactions (a running service's sealer lets the tills in)."""
    total, deadline = 0, time.monotonic() + max_seconds
    while True:
        sealed = cursor_run("SELECT %s.audit_seal(%%s)" % schema, (batch,))
        if sealed < 0:
            return total or None
        total += sealed
        if sealed < batch or time.monotonic() > deadline:
            return total
        if pause is not None:
            pause()


# -- verify (the operator's command) ----------------------------------------------------------
ROW_COLUMNS = ("id, merchant_id::text AS merchant_id, seq, prev_hash, hash, source, action, row_key, "
               "payload::text AS payload, recorded_at")


def trigger_problems(cur, schema):
    """Audit triggers missing or disabled on the tables ``schema`` audits, and on audit_log."""
    cur.execute("SELECT c.relname AS table_name, t.tgname AS trigger, t.tgenabled AS enabled "
                "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND NOT t.tgisinternal", (schema,))
    found = {(r["table_name"], r["trigger"]): r["enabled"] for r in cur.fetchall()}
    expected = [(table, "%s_audit_%s" % (table, op)) for table in AUDITED[schema] for op in OPERATIONS]
    expected += [("audit_log", "audit_log_" + op) for op in ("insert", "update", "delete", "truncate")]
    problems = []
    for table, trigger in expected:
        state = found.get((table, trigger))
        if state is None:
            problems.append("trigger %s on %s.%s is missing" % (trigger, schema, table))
        elif state == "D":
            problems.append("trigger %s on %s.%s is disabled" % (trigger, schema, table))
    return problems


def verify_schema(conn, schema, merchants=None, do_seal=True, out=print):
    """Seal, then check every chain of ``schema``; returns the number of broken things."""
    import psycopg2.extras
    broken = 0
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (schema + ".audit_log",))
        if not cur.fetchone()["present"]:
            conn.rollback()
            out("%s: BROKEN: no %s.audit_log table (migrate it first)" % (schema, schema))
            return 1
        conn.commit()

    if do_seal:
        def run(sql, params):
            with conn.cursor() as cur:
                cur.execute(sql, params)
                value = cur.fetchone()[0]
            conn.commit()
            return value
        if seal(run, schema, batch=5000, max_seconds=3600) is None:
            out("%s: another process is sealing; rows written since may be left unsealed" % schema)

    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        for problem in trigger_problems(cur, schema):
            broken += 1
            out("%s: BROKEN: %s" % (schema, problem))
        where, params = "seq IS NULL", []
        if merchants:
            where += " AND merchant_id = ANY(%s::uuid[])"
            params.append(list(merchants))
        cur.execute("SELECT merchant_id::text AS merchant_id, count(*) AS n FROM %s.audit_log WHERE %s "
                    "GROUP BY 1" % (schema, where), params)
        unsealed = {r["merchant_id"]: r["n"] for r in cur.fetchall()}
    conn.commit()

    where, params = "seq IS NOT NULL", []
    if merchants:
        where += " AND merchant_id = ANY(%s::uuid[])"
        params.append(list(merchants))
    chains, seen = 0, set(unsealed)
    with conn.cursor(name="audit_verify", cursor_factory=psycopg2.extras.RealDictCursor) as rows:
        rows.itersize = 5000
        rows.execute("SELECT %s FROM %s.audit_log WHERE %s ORDER BY merchant_id, seq" % (ROW_COLUMNS, schema, where),
                     params)
        for merchant_id, chain in _by_merchant(rows):
            chains += 1
            seen.add(merchant_id)
            result = verify_chain(schema, merchant_id, chain)
            broken += result["problem"] is not None
            out(describe(schema, result, unsealed.pop(merchant_id, 0)))
    conn.commit()
    for merchant_id, count in sorted(unsealed.items()):
        out("%s  %s  0 rows sealed, %d unsealed" % (schema, _label(merchant_id), count))
    for merchant_id in sorted(set(merchants or ()) - seen):
        out("%s  %s  no audit rows" % (schema, _label(merchant_id)))
    if not seen and not merchants:
        out("%s: no audit rows" % schema)
    return broken


def _by_merchant(rows):
    """Group a cursor's rows (ordered by merchant) into (merchant_id, iterator) without holding them."""
    iterator = iter(rows)
    pending = next(iterator, None)
    while pending is not None:
        merchant_id = pending["merchant_id"]

        def chain():
            nonlocal pending
            while pending is not None and pending["merchant_id"] == merchant_id:
                row, pending = pending, next(iterator, None)
                yield row
        group = chain()
        yield merchant_id, group
        for _ in group:  # what the verifier left unread (it stopped at a problem)
            pass


def _label(merchant_id):
    return "platform" if merchant_id == PLATFORM else "merchant " + merchant_id


def describe(schema, result, unsealed=0):
    label = "%s  %s" % (schema, _label(result["merchant_id"]))
    tail = (", %d unsealed" % unsealed) if unsealed else ""
    problem = result["problem"]
    if problem is None:
        head = result["head"]
        return "%s  %d rows  OK  head seq %d %s%s" % (label, result["checked"], head["seq"], head["hash"], tail)
    return "%s  BROKEN at seq %d (audit_log id %d: %s row %s): %s: %s; %d rows before it OK%s" % (
        label, problem["seq"], problem["id"], problem["source"], problem["row_key"], problem["kind"],
        problem["detail"], result["checked"], tail)


def merchant_id(text):
    return str(uuid.UUID(text))


def main(argv=None, out=print):
    parser = argparse.ArgumentParser(prog="python -m plumbing.audit")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="seal what is unsealed, then check every chain from genesis")
    verify.add_argument("--schema", action="append", choices=sorted(AUDITED),
                        help="only this schema (repeatable; all audited schemas by default)")
    verify.add_argument("--merchant", action="append", type=merchant_id, help="only this merchant's chain (repeatable; "
                                                            "%s is the platform's)" % PLATFORM)
    verify.add_argument("--no-seal", action="store_true", help="only read: do not seal the newest rows first")
    verify.add_argument("--database-url", help="connect with this URL (for every schema); by default each "
                                               "schema as its own service's role, as the service connects "
                                               "(<SCHEMA>_DATABASE_URL, else DATABASE_URL as vow_<schema>)")
    args = parser.parse_args(argv)

    import psycopg2
    from plumbing import config as cfg
    broken = 0
    schemas = args.schema or list(AUDITED)
    for schema in schemas:
        conn = psycopg2.connect(args.database_url or cfg.service_database_url(schema), connect_timeout=5,
                                application_name="audit-verify")
        try:
            broken += verify_schema(conn, schema, args.merchant, do_seal=not args.no_seal, out=out)
        finally:
            conn.close()
    out("audit verify: %s (%s)" % ("FAILED, %d broken" % broken if broken else "OK", ", ".join(schemas)))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
