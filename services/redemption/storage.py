"""SQL for vouchers and redemptions (schema ``redemption``)."""
import json
from datetime import datetime

from plumbing.pagination import fetch_page

VOUCHER_FIELDS = (
    "id", "code", "merchant_id", "store_ids::text[] AS store_ids", "campaign_id", "batch_id", "funding",
    "funding_agreement_id", "customer_id", "kind", "currency", "face_value", "balance", "percent_bp", "cap",
    "min_purchase", "hybrid", "point_value", "uses_allowed", "uses", "per_customer_limit", "valid_from",
    "valid_until", "status", "pin_hash", "locked_until", "created_at")
VOUCHER_COLUMNS = ", ".join(VOUCHER_FIELDS)
TILL_VOUCHER_COLUMNS = ", ".join("v." + field for field in VOUCHER_FIELDS)

REDEMPTION_COLUMNS = (
    "r.id, r.reference, r.voucher_id, v.code AS voucher_code, r.merchant_id, r.store_id, "
    "r.processed_by, r.channel, r.method, r.customer_id, r.amount, r.points, r.points_value, "
    "r.purchase_amount, r.currency, r.receipt_remarks, r.status, r.created_at, "
    "r.points_reservation_id, r.reversed_at, r.reversed_by, r.reversal_reason, "
    "v.status AS voucher_status, v.balance AS voucher_balance, v.campaign_id, v.funding"
)


def insert_voucher(tx, voucher):
    tx.execute(
        "INSERT INTO vouchers (id, code, merchant_id, store_ids, campaign_id, batch_id, funding, "
        "funding_agreement_id, customer_id, kind, currency, face_value, balance, percent_bp, cap, min_purchase, "
        "hybrid, point_value, uses_allowed, uses, per_customer_limit, valid_from, valid_until, status, "
        "pin_hash, created_by) VALUES (%(id)s, %(code)s, %(merchant_id)s, %(store_ids)s::uuid[], "
        "%(campaign_id)s, %(batch_id)s, %(funding)s, %(funding_agreement_id)s, %(customer_id)s, %(kind)s, "
        "%(currency)s, "
        "%(face_value)s, %(balance)s, %(percent_bp)s, %(cap)s, %(min_purchase)s, %(hybrid)s, "
        "%(point_value)s, %(uses_allowed)s, %(uses)s, %(per_customer_limit)s, %(valid_from)s, "
        "%(valid_until)s, %(status)s, %(pin_hash)s, %(created_by)s)",
        dict(voucher, created_by=json.dumps(voucher["created_by"])))


def record_status_change(tx, voucher_id, from_status, to_status, actor, reason=None):
    tx.execute(
        "INSERT INTO voucher_history (voucher_id, from_status, to_status, actor, reason) "
        "VALUES (%s, %s, %s, %s, %s)",
        (voucher_id, from_status, to_status, json.dumps(actor), reason))


def voucher_by_code(tx, code, lock=False):
    return tx.one("SELECT " + VOUCHER_COLUMNS + " FROM vouchers WHERE code = %s"
                  + (" FOR UPDATE" if lock else ""), (code,))


def voucher_by_id(tx, voucher_id, lock=False):
    return tx.one("SELECT " + VOUCHER_COLUMNS + " FROM vouchers WHERE id = %s"
                  + (" FOR UPDATE" if lock else ""), (voucher_id,))


def list_vouchers(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    for column in ("batch_id", "campaign_id", "customer_id", "status"):
        if filters.get(column):
            where.append("%s = %%s" % column)
            params.append(filters[column])
    return fetch_page(tx, "SELECT " + VOUCHER_COLUMNS + " FROM vouchers", where, params, filters, dump)


def voucher_at_till(tx, code, user_id, store_id, lock=False):
    """The voucher, with the failed-attempt counters of this user, store and voucher: what a till
    needs, in one round trip."""
    row = tx.one(
        "SELECT " + TILL_VOUCHER_COLUMNS + ", "
        "(SELECT coalesce(json_agg(a), '[]'::json) FROM failed_attempts a WHERE (a.scope, a.scope_id) IN "
        "(('user', %(user)s), ('store', %(store)s), ('voucher', v.id::text))) AS counters, "
        "(SELECT row_to_json(c) FROM campaign_rules c WHERE c.campaign_id = v.campaign_id) AS campaign_rules "
        "FROM vouchers v WHERE v.code = %(code)s" + (" FOR UPDATE OF v" if lock else ""),
        {"user": str(user_id), "store": str(store_id), "code": code})
    if row is not None:
        row["counters"] = [counter_from_json(counter) for counter in row["counters"]]
    return row


def counter_from_json(counter):
    for field in ("window_start", "last_failure_at", "locked_until"):
        if counter[field]:
            counter[field] = datetime.fromisoformat(counter[field])
    return counter


def record_redemption(tx, voucher, plan, actor, redemption, with_commit=False):
    """The voucher's new state, its history line (if its status changes) and the redemption: one statement.

    ``with_commit``: sent with the commit, in its round trip (the till's path, which reads nothing
    back before it commits)."""
    (tx.defer if with_commit else tx.execute)(
        "WITH spent AS (UPDATE vouchers SET balance = %(balance)s, uses = %(uses)s, status = %(status)s, "
        "updated_at = now() WHERE id = %(voucher_id)s), "
        "history AS (INSERT INTO voucher_history (voucher_id, from_status, to_status, actor, reason) "
        "SELECT %(voucher_id)s, %(from_status)s, %(status)s, %(actor)s, 'redemption' WHERE %(changed)s) "
        "INSERT INTO redemptions (id, reference, voucher_id, merchant_id, store_id, user_id, processed_by, channel, "
        "method, customer_id, amount, points, points_value, purchase_amount, currency, receipt_remarks, "
        "points_reservation_id, created_at) VALUES (%(id)s, %(reference)s, "
        "%(voucher_id)s, %(merchant_id)s, %(store_id)s, %(user_id)s, %(processed_by)s, %(channel)s, %(method)s, "
        "%(customer_id)s, %(amount)s, %(points)s, %(points_value)s, %(purchase_amount)s, %(currency)s, "
        "%(receipt_remarks)s, %(points_reservation_id)s, %(created_at)s)",
        dict(redemption, processed_by=json.dumps(redemption["processed_by"]), balance=plan.balance,
             uses=plan.uses, status=plan.status, from_status=voucher["status"], actor=json.dumps(actor),
             changed=plan.status != voucher["status"]))


def voucher_history(tx, voucher_id):
    return tx.all("SELECT from_status, to_status, actor, reason, at FROM voucher_history "
                  "WHERE voucher_id = %s ORDER BY id", (voucher_id,))


def apply_plan(tx, voucher_id, plan):
    tx.execute("UPDATE vouchers SET balance = %s, uses = %s, status = %s, updated_at = now() "
               "WHERE id = %s", (plan.balance, plan.uses, plan.status, voucher_id))


def redemption_by_id(tx, redemption_id, lock=False):
    return tx.one("SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v "
                  "ON v.id = r.voucher_id WHERE r.id = %s" + (" FOR UPDATE OF r" if lock else ""),
                  (redemption_id,))


def customer_redemptions(tx, scope_column, scope_id, customer_id):
    """How many live redemptions this customer has in a campaign (or issue batch)."""
    return tx.scalar(
        "SELECT count(*) FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id "
        "WHERE v." + scope_column + " = %s AND r.customer_id = %s AND r.status = 'completed'",
        (scope_id, customer_id))


def list_redemptions(tx, merchant_id, filters, dump):
    where, params = redemption_filters(merchant_id, filters)
    return fetch_page(tx, "SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id",
                      where, params, filters, dump, time_column="r.created_at", id_column="r.id")


# -- partner (external) codes ------------------------------------------------------------
def insert_external_code(tx, external):
    return tx.execute(
        "INSERT INTO external_codes (id, voucher_id, merchant_id, format, value, issuer, created_by) "
        "VALUES (%(id)s, %(voucher_id)s, %(merchant_id)s, %(format)s, %(value)s, %(issuer)s, %(created_by)s) "
        "ON CONFLICT (merchant_id, value) DO NOTHING", dict(external, created_by=json.dumps(external["created_by"])))


def voucher_code_for_external(tx, merchant_id, value):
    return tx.scalar("SELECT v.code FROM external_codes e JOIN vouchers v ON v.id = e.voucher_id "
                     "WHERE e.merchant_id = %s AND e.value = %s", (merchant_id, value))


def external_codes_of(tx, voucher_id):
    return tx.all("SELECT format, value, issuer, created_at FROM external_codes WHERE voucher_id = %s "
                  "ORDER BY created_at", (voucher_id,))


# -- failed attempts -----------------------------------------------------------------------
def attempt_counters(tx, scopes):
    """The counters of these (scope, scope_id) pairs, in one round trip."""
    return tx.all("SELECT * FROM failed_attempts WHERE (scope, scope_id) IN (SELECT * FROM unnest(%s::text[], "
                  "%s::text[]))", ([s for s, _ in scopes], [str(i) for _, i in scopes]))


def attempt_counter(tx, scope, scope_id):
    return tx.one("SELECT * FROM failed_attempts WHERE scope = %s AND scope_id = %s FOR UPDATE",
                  (scope, str(scope_id)))


def save_attempt_counter(tx, scope, scope_id, merchant_id, failures, window_start, now, locked_until):
    tx.execute("INSERT INTO failed_attempts (scope, scope_id, merchant_id, window_start, failures, "
               "last_failure_at, locked_until) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (scope, scope_id) "
               "DO UPDATE SET window_start = EXCLUDED.window_start, failures = EXCLUDED.failures, "
               "last_failure_at = EXCLUDED.last_failure_at, locked_until = EXCLUDED.locked_until",
               (scope, str(scope_id), merchant_id, window_start, failures, now, locked_until))


def lock_voucher(tx, voucher_id, locked_until):
    tx.execute("UPDATE vouchers SET locked_until = %s WHERE id = %s", (locked_until, voucher_id))


# -- status changes -----------------------------------------------------------------------
def set_voucher_status(tx, voucher_id, status):
    tx.execute("UPDATE vouchers SET status = %s, updated_at = now() WHERE id = %s", (status, voucher_id))


def expire_due_vouchers(tx, limit=500):
    """Mark unused vouchers past their end as expired; returns what changed."""
    return tx.all("UPDATE vouchers SET status = 'expired', updated_at = now() WHERE id IN ("
                  "SELECT id FROM vouchers WHERE status IN ('active', 'partially_redeemed') "
                  "AND valid_until IS NOT NULL AND valid_until <= now() LIMIT %s FOR UPDATE SKIP LOCKED) "
                  "RETURNING id, merchant_id, campaign_id, batch_id, funding_agreement_id, kind, face_value, balance, "
                  "cap, uses, uses_allowed, currency", (limit,))


def record_expiries(tx, rows, actor):
    if rows:
        tx.execute_values("INSERT INTO voucher_history (voucher_id, from_status, to_status, actor, reason) "
                          "VALUES %s", [(r["id"], None, "expired", json.dumps(actor), "validity ended")
                                        for r in rows])


def mark_reversed(tx, redemption_id, actor, reason):
    tx.execute("UPDATE redemptions SET status = 'reversed', reversed_at = now(), reversed_by = %s, "
               "reversal_reason = %s WHERE id = %s", (json.dumps(actor), reason, redemption_id))


# -- batch issue jobs -----------------------------------------------------------------------
JOB_COLUMNS = ("id, merchant_id, requested, issued, template, status, error, created_by, created_at, "
               "started_at, finished_at")


def insert_job(tx, job):
    tx.execute("INSERT INTO issue_jobs (id, merchant_id, requested, template, status, created_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(requested)s, %(template)s, 'queued', %(created_by)s)",
               dict(job, template=json.dumps(job["template"]), created_by=json.dumps(job["created_by"])))


def job_by_id(tx, job_id):
    return tx.one("SELECT " + JOB_COLUMNS + " FROM issue_jobs WHERE id = %s", (job_id,))


def claim_job(tx, stale_seconds):
    """The next job to work on: queued, or running but abandoned (its worker died)."""
    return tx.one("SELECT " + JOB_COLUMNS + " FROM issue_jobs WHERE status = 'queued' OR (status = 'running' "
                  "AND heartbeat_at < now() - %s * interval '1 second') ORDER BY created_at "
                  "LIMIT 1 FOR UPDATE SKIP LOCKED", (stale_seconds,))


def job_progress(tx, job_id, issued, status):
    tx.execute("UPDATE issue_jobs SET issued = %s, status = %s, heartbeat_at = now(), "
               "started_at = coalesce(started_at, now()), "
               "finished_at = CASE WHEN %s IN ('completed', 'failed') THEN now() END WHERE id = %s",
               (issued, status, status, job_id))


def insert_vouchers(tx, vouchers):
    """Insert many vouchers; codes that collide are skipped. Returns the codes inserted."""
    columns = ("id", "code", "merchant_id", "store_ids", "campaign_id", "batch_id", "funding", "funding_agreement_id",
               "customer_id", "kind", "currency", "face_value", "balance", "percent_bp", "cap", "min_purchase",
               "hybrid", "point_value", "uses_allowed", "uses", "per_customer_limit", "valid_from", "valid_until",
               "status", "created_by")
    rows = [tuple(json.dumps(v[c]) if c == "created_by" else v[c] for c in columns) for v in vouchers]
    template = "(" + ", ".join("%s::uuid[]" if c == "store_ids" else "%s" for c in columns) + ")"
    inserted = tx.execute_values(
        "INSERT INTO vouchers (" + ", ".join(columns) + ") VALUES %s ON CONFLICT (code) DO NOTHING RETURNING code",
        rows, template=template, page_size=1000, fetch=True)
    return [row["code"] for row in inserted]


def batch_vouchers(tx, batch_id, after_code=None, limit=5000):
    return tx.all("SELECT code, kind, currency, face_value, percent_bp, valid_until FROM vouchers "
                  "WHERE batch_id = %s AND code > %s ORDER BY code LIMIT %s", (batch_id, after_code or "", limit))


def record_issue(tx, voucher_ids, actor, reason):
    tx.execute_values("INSERT INTO voucher_history (voucher_id, from_status, to_status, actor, reason) VALUES %s",
                      [(voucher_id, None, "active", json.dumps(actor), reason) for voucher_id in voucher_ids])


# -- records ---------------------------------------------------------------------------------
def redemption_filters(merchant_id, filters, alias="r"):
    where, params = ["%s.merchant_id = %%s" % alias], [merchant_id]
    for column in ("store_id", "user_id", "channel", "status"):
        if filters.get(column):
            where.append("%s.%s = %%s" % (alias, column))
            params.append(filters[column])
    if filters.get("since"):
        where.append("%s.created_at >= %%s" % alias)
        params.append(filters["since"])
    if filters.get("until"):
        where.append("%s.created_at < %%s" % alias)
        params.append(filters["until"])
    return where, params


def totals_by_store_and_day(tx, merchant_id, filters):
    where, params = redemption_filters(merchant_id, filters)
    return tx.all("SELECT r.store_id, (r.created_at AT TIME ZONE 'UTC')::date AS day, r.currency, "
                  "count(*) AS redemptions, sum(r.amount) AS amount, sum(r.points) AS points, "
                  "sum(r.points_value) AS points_value FROM redemptions r WHERE " + " AND ".join(where)
                  + " GROUP BY 1, 2, 3 ORDER BY 2 DESC, 1", params)


def export_rows(tx, merchant_id, filters, limit):
    where, params = redemption_filters(merchant_id, filters)
    return tx.all("SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id "
                  "WHERE " + " AND ".join(where) + " ORDER BY r.created_at, r.id LIMIT %s", params + [limit])


# -- the copy of campaigns' rules the till checks ----------------------------------------------------
RULE_FIELDS = ("campaign_id", "merchant_id", "version", "status", "pause_reason", "valid_from", "valid_until",
               "time_zone", "weekdays", "hours_from", "hours_until", "store_ids")


def keep_campaign_rules(tx, rules):
    """Take the campaign's rules unless a newer version is here already (events may come in any order)."""
    tx.execute("INSERT INTO campaign_rules (%s) VALUES (%s) ON CONFLICT (campaign_id) DO UPDATE SET %s, "
               "updated_at = now() WHERE campaign_rules.version < EXCLUDED.version" % (
                   ", ".join(RULE_FIELDS), ", ".join("%%(%s)s" % f for f in RULE_FIELDS),
                   ", ".join("%s = EXCLUDED.%s" % (f, f) for f in RULE_FIELDS[1:])),
               {f: rules.get(f) for f in RULE_FIELDS})


def campaign_rules(tx, campaign_id):
    return tx.one("SELECT * FROM campaign_rules WHERE campaign_id = %s", (campaign_id,))
