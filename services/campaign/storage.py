"""SQL for campaigns, customers and points (schema ``campaign``).

Points take their row locks in one order, on every path: the customer (when the path locks it at
all: purchases, redemption events), then their points account, then the reservation, then the
lots. The account is the customer's points mutex: whatever changes a reservation or a lot holds
it first, so a commit, a credit, a release and the expiry timers queue on it rather than each
holding a part of what another needs (a deadlock)."""
import json

import psycopg2

from plumbing.pagination import fetch_page


CAMPAIGN_COLUMNS = ("id", "merchant_id", "name", "goal", "funding", "funder_name", "funding_agreement_id", "currency",
                    "budget", "max_vouchers", "valid_from", "valid_until", "time_zone", "weekdays", "hours_from",
                    "hours_until", "store_ids", "audience", "reward", "per_customer_limit", "status", "created_by")
JSON_COLUMNS = ("audience", "reward", "created_by")
CAMPAIGN_SELECT = ("SELECT c.*, to_char(c.hours_from, 'HH24:MI') AS hours_from, "
                   "to_char(c.hours_until, 'HH24:MI') AS hours_until, c.store_ids::text[] AS store_ids FROM campaigns c")


CASTS = {"store_ids": "::uuid[]"}


def _json(row):
    return {k: (json.dumps(v) if k in JSON_COLUMNS and v is not None else v) for k, v in row.items()}


def insert_campaign(tx, campaign):
    tx.execute("INSERT INTO campaigns (%s) VALUES (%s)" % (
        ", ".join(CAMPAIGN_COLUMNS), ", ".join("%%(%s)s%s" % (c, CASTS.get(c, "")) for c in CAMPAIGN_COLUMNS)),
        _json({c: campaign.get(c) for c in CAMPAIGN_COLUMNS}))


def update_campaign(tx, campaign_id, changes):
    """Change the given columns; the version moves on so copies elsewhere take the newest."""
    sets = ["%s = %%(%s)s%s" % (c, c, CASTS.get(c, "")) for c in changes] + ["version = version + 1", "updated_at = now()"]
    tx.execute("UPDATE campaigns SET " + ", ".join(sets) + " WHERE id = %(id)s", _json(dict(changes, id=campaign_id)))


def campaign_by_id(tx, campaign_id, lock=False):
    return tx.one(CAMPAIGN_SELECT + " WHERE c.id = %s" + (" FOR UPDATE" if lock else ""), (campaign_id,))


def add_spend(tx, campaign_id, amount, redemptions):
    tx.execute("UPDATE campaigns SET spent = spent + %s, redeemed_count = redeemed_count + %s WHERE id = %s",
               (amount, redemptions, campaign_id))
    return campaign_by_id(tx, campaign_id)


def record_spend(tx, redemption_id, campaign_id, amount, at):
    """True: this redemption now spends the campaign's budget; False: it did already, or no such campaign."""
    return tx.execute("INSERT INTO campaign_spends (redemption_id, campaign_id, amount, spent_at) SELECT %s, id, %s, %s "
                      "FROM campaigns WHERE id = %s ON CONFLICT DO NOTHING",
                      (redemption_id, amount, at, campaign_id)) == 1


def peak_spend(tx, campaign_id, at):
    """The most the campaign's redemptions had spent at any one time, in the order they happened at the
    tills; None when no reversal happened after ``at`` (then what is spent now is that most)."""
    if not tx.one("SELECT 1 FROM campaign_spends WHERE campaign_id = %s AND reversed_at > %s LIMIT 1",
                  (campaign_id, at)):
        return None
    return tx.scalar(
        "SELECT coalesce(max(running), 0) FROM (SELECT sum(delta) OVER (ORDER BY at, delta DESC "
        "ROWS UNBOUNDED PRECEDING) AS running FROM (SELECT spent_at AS at, amount AS delta FROM campaign_spends "
        "WHERE campaign_id = %(c)s UNION ALL SELECT reversed_at, -amount FROM campaign_spends "
        "WHERE campaign_id = %(c)s AND reversed_at IS NOT NULL) moves) totals", {"c": campaign_id})


def reverse_spend(tx, redemption_id, at):
    """The amount a redemption spent, now reversed; None: not reversed here (see ``spend_of``)."""
    return tx.scalar("UPDATE campaign_spends SET reversed_at = %s WHERE redemption_id = %s AND reversed_at IS NULL "
                     "RETURNING amount", (at, redemption_id))


def spend_of(tx, redemption_id):
    return tx.one("SELECT * FROM campaign_spends WHERE redemption_id = %s", (redemption_id,))


def set_campaign_status(tx, campaign_id, status, pause_reason=None):
    tx.execute("UPDATE campaigns SET status = %s, pause_reason = %s, version = version + 1, updated_at = now() "
               "WHERE id = %s", (status, pause_reason, campaign_id))


def record_campaign_change(tx, campaign_id, action, from_status, to_status, actor, reason=None):
    tx.execute("INSERT INTO campaign_history (campaign_id, action, from_status, to_status, actor, reason) "
               "VALUES (%s, %s, %s, %s, %s, %s)", (campaign_id, action, from_status, to_status, json.dumps(actor), reason))


def campaign_history(tx, campaign_id):
    return tx.all("SELECT action, from_status, to_status, actor, reason, at FROM campaign_history "
                  "WHERE campaign_id = %s ORDER BY id", (campaign_id,))


def list_campaigns(tx, merchant_id, filters, dump):
    where, params = ["c.merchant_id = %s"], [merchant_id]
    if filters.get("status"):
        where.append("c.status = %s")
        params.append(filters["status"])
    return fetch_page(tx, CAMPAIGN_SELECT, where, params, filters, dump, "c.created_at", "c.id")


def campaigns_due(tx, now, limit=100):
    """Scheduled campaigns whose start has come, and running ones whose window is over."""
    return tx.all("SELECT id FROM campaigns WHERE (status = 'scheduled' AND valid_from <= %s) OR "
                  "(status IN ('scheduled', 'active', 'paused') AND valid_until <= %s) LIMIT %s", (now, now, limit))


# -- what issuance commits against a campaign ---------------------------------------------------
def customer_issued(tx, campaign_id, customer_id):
    return tx.scalar("SELECT coalesce(sum(count), 0) FROM campaign_commitments WHERE campaign_id = %s "
                     "AND customer_id = %s", (campaign_id, customer_id))


def campaign_commitment(tx, commitment_id, lock=False):
    return tx.one("SELECT * FROM campaign_commitments WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (commitment_id,))


def commit_to_campaign(tx, commitment, day):
    """Record an issue against its campaign: value committed, vouchers counted (the table checks both)."""
    if tx.execute("INSERT INTO campaign_commitments (id, campaign_id, customer_id, voucher_value, count, total) "
                  "VALUES (%(id)s, %(campaign_id)s, %(customer_id)s, %(voucher_value)s, %(count)s, %(total)s) "
                  "ON CONFLICT DO NOTHING", commitment) != 1:
        return False
    tx.execute("UPDATE campaigns SET committed = committed + %s, issued_count = issued_count + %s WHERE id = %s",
               (commitment["total"], commitment["count"], commitment["campaign_id"]))
    add_daily(tx, commitment["campaign_id"], None, day, issued=commitment["count"])
    return True


def release_from_campaign(tx, voucher_id, campaign_id, commitment, unused_value, cause):
    """A cancelled or expired voucher gives back what it can no longer spend, once."""
    amount = max(min(unused_value or 0, commitment["voucher_value"] or 0,
                     commitment["total"] - commitment["released"]), 0)
    if tx.execute("INSERT INTO campaign_releases (voucher_id, campaign_id, amount, cause) VALUES (%s, %s, %s, %s) "
                  "ON CONFLICT DO NOTHING", (voucher_id, campaign_id, amount, cause)) != 1 or not amount:
        return 0
    tx.execute("UPDATE campaign_commitments SET released = released + %s WHERE id = %s", (amount, commitment["id"]))
    tx.execute("UPDATE campaigns SET committed = committed - %s WHERE id = %s", (amount, campaign_id))
    return amount


NO_STORE = "00000000-0000-0000-0000-000000000000"


def add_daily(tx, campaign_id, store_id, day, issued=0, redeemed=0, discount=0):
    tx.execute("INSERT INTO campaign_daily (campaign_id, store_id, day, issued, redeemed, discount) VALUES "
               "(%s, %s, %s, %s, %s, %s) ON CONFLICT (campaign_id, store_id, day) DO UPDATE SET "
               "issued = campaign_daily.issued + EXCLUDED.issued, redeemed = campaign_daily.redeemed + EXCLUDED.redeemed,"
               " discount = campaign_daily.discount + EXCLUDED.discount",
               (campaign_id, store_id or NO_STORE, day, issued, redeemed, discount))


def daily_spend(tx, campaign_id, since):
    return {row["day"]: row["discount"] for row in tx.all(
        "SELECT day, sum(discount) AS discount FROM campaign_daily WHERE campaign_id = %s AND day >= %s "
        "GROUP BY day", (campaign_id, since))}


def list_rows(tx, table, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT * FROM " + table, ["merchant_id = %s"], [merchant_id], filters, dump)


CUSTOMER_FIELDS = ("id", "merchant_id", "external_ref", "member_id", "name", "email", "phone", "tags", "email_consent")


def insert_customer(tx, customer):
    """False (and nothing written) when the merchant has a customer with this external_ref or member id."""
    if tx.execute("INSERT INTO customers (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (
            ", ".join(CUSTOMER_FIELDS), ", ".join("%%(%s)s" % f for f in CUSTOMER_FIELDS)),
            {f: customer.get(f) for f in CUSTOMER_FIELDS}) != 1:
        return False
    tx.execute("INSERT INTO points_accounts (customer_id, merchant_id) VALUES (%s, %s)",
               (customer["id"], customer["merchant_id"]))
    return True


def update_customer(tx, customer_id, changes):
    """False when a unique field (external_ref) is another customer's already."""
    sets = ", ".join("%s = %%(%s)s" % (c, c) for c in changes)
    try:
        with tx.savepoint():
            tx.execute("UPDATE customers SET " + sets + ", updated_at = now() WHERE id = %(id)s",
                       dict(changes, id=customer_id))
    except psycopg2.errors.UniqueViolation:
        return False
    return True


def customer_by_id(tx, customer_id, lock=False):
    return tx.one("SELECT * FROM customers WHERE id = %s" + (" FOR UPDATE" if lock else ""), (customer_id,))


def find_customers(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    for column in ("phone", "member_id", "tier", "external_ref"):
        if filters.get(column):
            where.append("%s = %%s" % column)
            params.append(filters[column])
    if filters.get("email"):
        where.append("lower(email) = lower(%s)")
        params.append(filters["email"])
    if filters.get("tag"):
        where.append("tags @> ARRAY[%s]::text[]")
        params.append(filters["tag"])
    return fetch_page(tx, "SELECT * FROM customers", where, params, filters, dump)


def segment_condition(rules, now):
    """SQL (over ``customers``) and params for a segment's rules; every rule given must hold."""
    where, params = [], []
    rules = rules or {}
    if rules.get("tiers"):
        where.append("tier = ANY(%s)")
        params.append(list(rules["tiers"]))
    if rules.get("tags"):
        where.append("tags @> %s::text[]")
        params.append(list(rules["tags"]))
    for key, column, op in (("min_visits", "visits", ">="), ("max_visits", "visits", "<="),
                            ("min_spend", "total_spend", ">="), ("max_spend", "total_spend", "<=")):
        if rules.get(key) is not None:
            where.append("%s %s %%s" % (column, op))
            params.append(rules[key])
    if rules.get("min_days_since_last_purchase") is not None:
        # never bought counts as long ago
        where.append("(last_purchase_at IS NULL OR last_purchase_at <= %s - make_interval(days => %s))")
        params.extend([now, rules["min_days_since_last_purchase"]])
    if rules.get("max_days_since_last_purchase") is not None:
        where.append("last_purchase_at >= %s - make_interval(days => %s)")
        params.extend([now, rules["max_days_since_last_purchase"]])
    return where, params


def segment_size(tx, merchant_id, rules, now):
    where, params = segment_condition(rules, now)
    return tx.scalar("SELECT count(*) FROM customers WHERE " + " AND ".join(["merchant_id = %s"] + where),
                     [merchant_id] + params)


def in_segment(tx, customer_id, rules, now):
    where, params = segment_condition(rules, now)
    return tx.scalar("SELECT count(*) FROM customers WHERE " + " AND ".join(["id = %s"] + where),
                     [customer_id] + params) == 1


def points_account(tx, customer_id, lock=False):
    return tx.one("SELECT * FROM points_accounts WHERE customer_id = %s" + (" FOR UPDATE" if lock else ""),
                  (customer_id,))


POINTS_TTL_DAYS = 365


def change_points(tx, customer_id, kind, points, reference, actor, reason=None, ttl_days=POINTS_TTL_DAYS):
    """Add (or, negative, take) points with the ledger line; False (nothing changed) if this
    ``(kind, reference)`` was done once already. The caller holds the account's lock. A credit
    needs a reference (that is what makes it once only) and comes as a lot that expires; a debit
    spends the oldest lots first."""
    if points > 0 and not reference:
        raise ValueError("a points credit needs a reference")
    line = tx.one("INSERT INTO points_ledger (customer_id, kind, points, balance_after, reference, actor, reason) "
                  "SELECT customer_id, %s, %s, balance + %s, %s, %s, %s FROM points_accounts WHERE customer_id = %s "
                  "ON CONFLICT DO NOTHING RETURNING id",
                  (kind, points, points, reference, json.dumps(actor), reason, customer_id))
    if line is None:
        return False
    tx.execute("UPDATE points_accounts SET balance = balance + %s WHERE customer_id = %s", (points, customer_id))
    if points > 0:
        tx.execute("INSERT INTO points_lots (customer_id, points, remaining, expires_at) VALUES "
                   "(%s, %s, %s, now() + make_interval(days => %s))", (customer_id, points, points, ttl_days))
    else:
        spend_lots(tx, customer_id, -points)
    return True


def spend_lots(tx, customer_id, points):
    for lot in tx.all("SELECT id, remaining FROM points_lots WHERE customer_id = %s AND remaining > 0 "
                      "ORDER BY expires_at, id FOR UPDATE", (customer_id,)):
        if points <= 0:
            break
        used = min(points, lot["remaining"])
        tx.execute("UPDATE points_lots SET remaining = remaining - %s WHERE id = %s", (used, lot["id"]))
        points -= used


def expired_lots(tx, limit=200):
    """Lots to expire (not locked: ``expire_lot`` locks the account first, then the lot)."""
    return tx.all("SELECT id FROM points_lots WHERE remaining > 0 AND expires_at <= now() ORDER BY expires_at, id "
                  "LIMIT %s", (limit,))


def expire_lot(tx, lot_id, actor):
    """Take what is left of an expired lot, but never points promised to a redemption (those
    expire once released); the ledger says so, once per lot and amount."""
    customer_id = tx.scalar("SELECT customer_id FROM points_lots WHERE id = %s", (lot_id,))
    account = points_account(tx, customer_id, lock=True)
    lot = tx.one("SELECT * FROM points_lots WHERE id = %s AND remaining > 0 AND expires_at <= now() FOR UPDATE",
                 (lot_id,))
    if lot is None:  # spent meanwhile
        return 0
    amount = min(lot["remaining"], account["balance"] - account["reserved"])
    if amount <= 0:
        return 0
    tx.execute("UPDATE points_lots SET remaining = remaining - %s WHERE id = %s", (amount, lot["id"]))
    tx.execute("UPDATE points_accounts SET balance = balance - %s WHERE customer_id = %s", (amount, lot["customer_id"]))
    tx.execute("INSERT INTO points_ledger (customer_id, kind, points, balance_after, reference, actor) VALUES "
               "(%s, 'expire', %s, %s, %s, %s)", (lot["customer_id"], -amount, account["balance"] - amount,
                                                 "lot:%s:%s" % (lot["id"], lot["remaining"]), json.dumps(actor)))
    return amount


def points_history(tx, customer_id, before=None, limit=50):
    """A page of the ledger, newest first (``before``: the last line id of the previous page)."""
    rows = tx.all("SELECT id, kind, points, balance_after, reference, reason, actor, created_at FROM points_ledger "
                  "WHERE customer_id = %s AND (%s::bigint IS NULL OR id < %s::bigint) ORDER BY id DESC LIMIT %s",
                  (customer_id, before, before, limit + 1))
    return rows[:limit], (str(rows[limit - 1]["id"]) if len(rows) > limit else None)


def lots(tx, customer_id):
    """Points still to expire, soonest first."""
    return tx.all("SELECT remaining AS points, expires_at FROM points_lots WHERE customer_id = %s AND remaining > 0 "
                  "ORDER BY expires_at, id LIMIT 20", (customer_id,))


def adjustment_exists(tx, customer_id, reference):
    return tx.one("SELECT 1 FROM points_ledger WHERE customer_id = %s AND kind = 'adjust' AND reference = %s",
                  (customer_id, reference)) is not None


def credited_today(tx, merchant_id, day, lock=False):
    """Manual credits of this merchant on ``day`` (the row is created, and locked, when asked)."""
    if lock:
        tx.execute("INSERT INTO points_daily_credits (merchant_id, day, credited) VALUES (%s, %s, 0) "
                   "ON CONFLICT DO NOTHING", (merchant_id, day))
    return tx.scalar("SELECT credited FROM points_daily_credits WHERE merchant_id = %s AND day = %s"
                     + (" FOR UPDATE" if lock else ""), (merchant_id, day)) or 0


def add_daily_credit(tx, merchant_id, day, points):
    tx.execute("UPDATE points_daily_credits SET credited = credited + %s WHERE merchant_id = %s AND day = %s",
               (points, merchant_id, day))


def insert_reservation(tx, reservation):
    """Hold the points; False (nothing held) if the reference is taken, just now, by another reservation."""
    if tx.execute("INSERT INTO points_reservations (id, customer_id, merchant_id, points, status, reference, "
                  "expires_at) VALUES (%(id)s, %(customer_id)s, %(merchant_id)s, %(points)s, 'reserved', "
                  "%(reference)s, %(expires_at)s) ON CONFLICT DO NOTHING", reservation) != 1:
        return False
    tx.execute("UPDATE points_accounts SET reserved = reserved + %s WHERE customer_id = %s",
               (reservation["points"], reservation["customer_id"]))
    return True


def reservation_by_reference(tx, merchant_id, reference, lock=False):
    return tx.one("SELECT * FROM points_reservations WHERE merchant_id = %s AND reference = %s"
                  + (" FOR UPDATE" if lock else ""), (merchant_id, reference))


def hold_again(tx, reservation, expires_at):
    """A released reservation holds its points again (its redemption is being retried)."""
    tx.execute("UPDATE points_accounts SET reserved = reserved + %s WHERE customer_id = %s",
               (reservation["points"], reservation["customer_id"]))
    return tx.one("UPDATE points_reservations SET status = 'reserved', expires_at = %s, settled_at = NULL "
                  "WHERE id = %s RETURNING *", (expires_at, reservation["id"]))


def reservation(tx, reservation_id, lock=False):
    return tx.one("SELECT * FROM points_reservations WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (reservation_id,))


def lock_reservation(tx, reservation):
    """The reservation as it is now, locked after its customer's account (the order of every points path)."""
    points_account(tx, reservation["customer_id"], lock=True)
    return tx.one("SELECT * FROM points_reservations WHERE id = %s FOR UPDATE", (reservation["id"],))


def settle_reservation(tx, reservation, status):
    """Commit (spend) or release reserved points."""
    tx.execute("UPDATE points_accounts SET reserved = reserved - %s WHERE customer_id = %s",
               (reservation["points"], reservation["customer_id"]))
    set_reservation_status(tx, reservation["id"], status)


def set_reservation_status(tx, reservation_id, status):
    tx.execute("UPDATE points_reservations SET status = %s, settled_at = now() WHERE id = %s",
               (status, reservation_id))


def expired_reservations(tx, limit=100):
    """Reservations to release (not locked: ``lock_reservation`` locks the account first)."""
    return tx.all("SELECT * FROM points_reservations WHERE status = 'reserved' AND expires_at < now() "
                  "ORDER BY expires_at LIMIT %s", (limit,))


def ledger(tx, customer_id, limit=50):
    return tx.all("SELECT kind, points, balance_after, reference, reason, actor, created_at FROM points_ledger "
                  "WHERE customer_id = %s ORDER BY id DESC LIMIT %s", (customer_id, limit))


# -- funding agreements ---------------------------------------------------------------------
def insert_agreement(tx, agreement):
    tx.execute("INSERT INTO funding_agreements (id, merchant_id, funder_kind, funder_name, currency, budget, "
               "max_voucher_value, commission_bp, valid_from, valid_until, status, note, created_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(funder_kind)s, %(funder_name)s, %(currency)s, %(budget)s, "
               "%(max_voucher_value)s, %(commission_bp)s, %(valid_from)s, %(valid_until)s, %(status)s, %(note)s, "
               "%(created_by)s)", dict(agreement, created_by=json.dumps(agreement["created_by"])))


def agreement_by_id(tx, agreement_id, lock=False):
    return tx.one("SELECT * FROM funding_agreements WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (agreement_id,))


def set_agreement_status(tx, agreement_id, status):
    tx.execute("UPDATE funding_agreements SET status = %s, updated_at = now() WHERE id = %s", (status, agreement_id))


def record_agreement_change(tx, agreement_id, action, from_status, to_status, actor, reason=None):
    tx.execute("INSERT INTO funding_agreement_history (agreement_id, action, from_status, to_status, actor, reason) "
               "VALUES (%s, %s, %s, %s, %s, %s)",
               (agreement_id, action, from_status, to_status, json.dumps(actor), reason))


def agreement_history(tx, agreement_id):
    return tx.all("SELECT action, from_status, to_status, actor, reason, at FROM funding_agreement_history "
                  "WHERE agreement_id = %s ORDER BY id", (agreement_id,))


def add_committed(tx, agreement_id, amount):
    """Commit (or, negative, give back) value; the table's check keeps it within the budget."""
    tx.execute("UPDATE funding_agreements SET committed = committed + %s, updated_at = now() WHERE id = %s",
               (amount, agreement_id))


def list_filtered(tx, table, merchant_id, filters, dump):
    """A page of ``table`` (agreements, approvals), one merchant's or (platform) everyone's."""
    where, params = [], []
    if merchant_id:
        where.append("merchant_id = %s")
        params.append(merchant_id)
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    return fetch_page(tx, "SELECT * FROM " + table, where, params, filters, dump)


# -- releasing what a voucher no longer needs --------------------------------------------------
def record_release(tx, voucher_id, agreement_id, amount, cause):
    """True the first time a voucher gives value back; a second time (expired, then cancelled) does nothing."""
    return tx.execute("INSERT INTO agreement_releases (voucher_id, agreement_id, amount, cause) VALUES "
                      "(%s, %s, %s, %s) ON CONFLICT DO NOTHING", (voucher_id, agreement_id, amount, cause)) == 1


# -- issuance approvals and commitments ---------------------------------------------------------
def insert_approval(tx, approval):
    tx.execute("INSERT INTO issuance_approvals (id, merchant_id, currency, value, count, remaining, reason, status, "
               "requested_by) VALUES (%(id)s, %(merchant_id)s, %(currency)s, %(value)s, %(count)s, %(count)s, "
               "%(reason)s, 'pending', %(requested_by)s)",
               dict(approval, requested_by=json.dumps(approval["requested_by"])))


def approval_by_id(tx, approval_id, lock=False):
    return tx.one("SELECT * FROM issuance_approvals WHERE id = %s" + (" FOR UPDATE" if lock else ""), (approval_id,))


def decide_approval(tx, approval_id, status, actor, note):
    tx.execute("UPDATE issuance_approvals SET status = %s, decided_by = %s, decided_at = now(), decision_note = %s "
               "WHERE id = %s", (status, json.dumps(actor), note, approval_id))


def use_approval(tx, approval_id, remaining, status):
    tx.execute("UPDATE issuance_approvals SET remaining = %s, status = %s WHERE id = %s",
               (remaining, status, approval_id))


def commitment_by_id(tx, commitment_id, lock=False):
    return tx.one("SELECT * FROM issuance_commitments WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (commitment_id,))


def add_released(tx, commitment_id, amount):
    tx.execute("UPDATE issuance_commitments SET released = released + %s WHERE id = %s", (amount, commitment_id))


def insert_commitment(tx, commitment):
    """False when the reference was taken meanwhile (the caller's whole transaction then rolls back)."""
    return tx.execute(
        "INSERT INTO issuance_commitments (id, merchant_id, campaign_id, agreement_id, approval_id, currency, "
        "voucher_value, count, total, actor) VALUES (%(id)s, %(merchant_id)s, %(campaign_id)s, %(agreement_id)s, "
        "%(approval_id)s, %(currency)s, %(voucher_value)s, %(count)s, %(total)s, %(actor)s) ON CONFLICT DO NOTHING",
        dict(commitment, actor=json.dumps(commitment["actor"]))) == 1


# -- merchant limits ----------------------------------------------------------------------------
def merchant_limits(tx, merchant_id):
    return tx.one("SELECT * FROM merchant_limits WHERE merchant_id = %s", (merchant_id,))


def set_merchant_limits(tx, merchant_id, limits, actor, reason):
    tx.execute("INSERT INTO merchant_limits (merchant_id, voucher_value_ceiling, daily_points_credit_limit, "
               "updated_by, updated_at) VALUES (%s, %s, %s, %s, now()) ON CONFLICT (merchant_id) DO UPDATE SET "
               "voucher_value_ceiling = EXCLUDED.voucher_value_ceiling, "
               "daily_points_credit_limit = EXCLUDED.daily_points_credit_limit, "
               "updated_by = EXCLUDED.updated_by, updated_at = now()",
               (merchant_id, limits["voucher_value_ceiling"], limits["daily_points_credit_limit"],
                json.dumps(actor)))
    tx.execute("INSERT INTO merchant_limit_history (merchant_id, voucher_value_ceiling, daily_points_credit_limit, "
               "reason, actor) VALUES (%s, %s, %s, %s, %s)",
               (merchant_id, limits["voucher_value_ceiling"], limits["daily_points_credit_limit"], reason,
                json.dumps(actor)))


# -- segments -----------------------------------------------------------------------------------
def insert_segment(tx, segment):
    tx.execute("INSERT INTO segments (id, merchant_id, name, rules, created_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(name)s, %(rules)s, %(created_by)s)",
               dict(segment, rules=json.dumps(segment["rules"]), created_by=json.dumps(segment["created_by"])))


def segment_by_id(tx, segment_id):
    return tx.one("SELECT * FROM segments WHERE id = %s", (segment_id,))


# -- purchases -------------------------------------------------------------------------------------
def insert_purchase(tx, purchase):
    """False (nothing written) when this store's receipt was recorded already."""
    return tx.execute(
        "INSERT INTO purchases (id, merchant_id, store_id, customer_id, receipt_id, amount, currency, items, "
        "redemption_reference, request_hash, recorded_by, created_at) VALUES (%(id)s, %(merchant_id)s, %(store_id)s, "
        "%(customer_id)s, %(receipt_id)s, %(amount)s, %(currency)s, %(items)s, %(redemption_reference)s, "
        "%(request_hash)s, %(recorded_by)s, %(created_at)s) ON CONFLICT (merchant_id, store_id, receipt_id) DO NOTHING",
        dict(purchase, items=json.dumps(purchase["items"]), recorded_by=json.dumps(purchase["recorded_by"]))) == 1


def purchase_by_receipt(tx, merchant_id, store_id, receipt_id):
    return tx.one("SELECT * FROM purchases WHERE merchant_id = %s AND store_id = %s AND receipt_id = %s",
                  (merchant_id, store_id, receipt_id))


def purchase_by_id(tx, purchase_id):
    return tx.one("SELECT * FROM purchases WHERE id = %s", (purchase_id,))


def set_points_earned(tx, purchase_id, points):
    tx.execute("UPDATE purchases SET points_earned = %s WHERE id = %s", (points, purchase_id))


def record_visit(tx, customer_id, amount, now, tier_days, tier_for):
    """A purchase moves the customer's visits, spend and last purchase, and their tier (by spend over
    the last ``tier_days`` days, this purchase included); the tier is returned."""
    rolling = tx.scalar("SELECT coalesce(sum(amount), 0) FROM purchases WHERE customer_id = %s "
                        "AND created_at > %s - make_interval(days => %s)", (customer_id, now, tier_days))
    tier = tier_for(rolling)
    tx.execute("UPDATE customers SET visits = visits + 1, total_spend = total_spend + %s, last_purchase_at = %s, "
               "tier = %s, updated_at = now() WHERE id = %s", (amount, now, tier, customer_id))
    return tier


def points_campaigns(tx, merchant_id, currency):
    return tx.all(CAMPAIGN_SELECT + " WHERE c.merchant_id = %s AND c.status = 'active' AND c.currency = %s "
                  "AND c.reward->>'type' = 'points'", (merchant_id, currency))


def list_purchases(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    for column in ("store_id", "customer_id"):
        if filters.get(column):
            where.append("%s = %%s" % column)
            params.append(filters[column])
    return fetch_page(tx, "SELECT * FROM purchases", where, params, filters, dump)


# -- issuance jobs -----------------------------------------------------------------------------------
def insert_issuance_job(tx, job):
    tx.execute("INSERT INTO issuance_jobs (id, campaign_id, merchant_id, target, customer_id, segment_id, requested, "
               "status, created_by) VALUES (%(id)s, %(campaign_id)s, %(merchant_id)s, %(target)s, %(customer_id)s, "
               "%(segment_id)s, %(requested)s, 'queued', %(created_by)s)",
               dict(job, created_by=json.dumps(job["created_by"])))


def add_job_customers(tx, job_id, merchant_id, where, params):
    """The job's customers (those of the merchant matching ``where``), fixed now; how many."""
    return tx.execute("INSERT INTO issuance_job_items (job_id, customer_id, status) SELECT %s, id, 'pending' "
                      "FROM customers WHERE " + " AND ".join(["merchant_id = %s"] + list(where)),
                      [job_id, merchant_id] + list(params))


def set_job_requested(tx, job_id, requested):
    tx.execute("UPDATE issuance_jobs SET requested = %s WHERE id = %s", (requested, job_id))


def issuance_job(tx, job_id):
    return tx.one("SELECT * FROM issuance_jobs WHERE id = %s", (job_id,))


def claim_issuance_job(tx, stale_seconds):
    """A queued job, or one whose worker went silent, now running here (None: nothing to do)."""
    return tx.one("UPDATE issuance_jobs SET status = 'running', updated_at = now() WHERE id = ("
                  "SELECT id FROM issuance_jobs WHERE status = 'queued' OR (status = 'running' AND "
                  "updated_at < now() - make_interval(secs => %s)) ORDER BY created_at LIMIT 1 "
                  "FOR UPDATE SKIP LOCKED) RETURNING *", (stale_seconds,))


def finish_issuance_job(tx, job_id, status, error=None):
    tx.execute("UPDATE issuance_jobs SET status = %s, last_error = coalesce(%s, last_error), updated_at = now() "
               "WHERE id = %s", (status, error, job_id))


def set_redemption_job(tx, job_id, redemption_job_id):
    tx.execute("UPDATE issuance_jobs SET redemption_job_id = %s, status = 'completed', updated_at = now() "
               "WHERE id = %s", (redemption_job_id, job_id))


def next_job_customer(tx, job_id):
    return tx.one("SELECT * FROM issuance_job_items WHERE job_id = %s AND status = 'pending' LIMIT 1 "
                  "FOR UPDATE SKIP LOCKED", (job_id,))


def settle_job_customer(tx, job_id, customer_id, status, voucher_id, note):
    tx.execute("UPDATE issuance_job_items SET status = %s, voucher_id = %s, note = %s WHERE job_id = %s "
               "AND customer_id = %s", (status, voucher_id, note, job_id, customer_id))
    tx.execute("UPDATE issuance_jobs SET issued = issued + %s, skipped = skipped + %s, updated_at = now(), "
               "last_error = CASE WHEN %s IS NULL THEN last_error ELSE %s END WHERE id = %s",
               (int(status == "issued"), int(status == "skipped"), note, note, job_id))


def skip_rest(tx, job_id, why):
    skipped = tx.execute("UPDATE issuance_job_items SET status = 'skipped', note = %s WHERE job_id = %s "
                         "AND status = 'pending'", (why, job_id))
    tx.execute("UPDATE issuance_jobs SET skipped = skipped + %s WHERE id = %s", (skipped, job_id))
