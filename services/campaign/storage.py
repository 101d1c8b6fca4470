"""SQL for campaigns, customers and points (schema ``campaign``)."""
import json

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


def insert_customer(tx, customer):
    """False (and nothing written) when the merchant has a customer with this external_ref already."""
    if tx.execute("INSERT INTO customers (id, merchant_id, external_ref, name, email) VALUES "
                  "(%(id)s, %(merchant_id)s, %(external_ref)s, %(name)s, %(email)s) ON CONFLICT DO NOTHING",
                  customer) != 1:
        return False
    tx.execute("INSERT INTO points_accounts (customer_id, merchant_id) VALUES (%s, %s)",
               (customer["id"], customer["merchant_id"]))
    return True


def customer_by_id(tx, customer_id):
    return tx.one("SELECT * FROM customers WHERE id = %s", (customer_id,))


def points_account(tx, customer_id, lock=False):
    return tx.one("SELECT * FROM points_accounts WHERE customer_id = %s" + (" FOR UPDATE" if lock else ""),
                  (customer_id,))


def change_points(tx, customer_id, kind, points, reference, actor, reason=None):
    """Add (or, negative, take) points and write the ledger line; False if already done once."""
    account = tx.one("UPDATE points_accounts SET balance = balance + %s WHERE customer_id = %s "
                     "RETURNING balance", (points, customer_id))
    inserted = tx.execute("INSERT INTO points_ledger (customer_id, kind, points, balance_after, reference, "
                          "actor, reason) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                          (customer_id, kind, points, account["balance"], reference, json.dumps(actor), reason))
    return inserted == 1


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


def settle_reservation(tx, reservation, status):
    """Commit (spend) or release reserved points."""
    tx.execute("UPDATE points_accounts SET reserved = reserved - %s WHERE customer_id = %s",
               (reservation["points"], reservation["customer_id"]))
    set_reservation_status(tx, reservation["id"], status)


def set_reservation_status(tx, reservation_id, status):
    tx.execute("UPDATE points_reservations SET status = %s, settled_at = now() WHERE id = %s",
               (status, reservation_id))


def expired_reservations(tx, limit=100):
    return tx.all("SELECT * FROM points_reservations WHERE status = 'reserved' AND expires_at < now() "
                  "ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED", (limit,))


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
