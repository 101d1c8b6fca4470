"""SQL for vouchers and redemptions (schema ``redemption``)."""
import json

from plumbing.pagination import keyset, page

VOUCHER_COLUMNS = (
    "id, code, merchant_id, store_ids, campaign_id, batch_id, funding, customer_id, kind, currency, "
    "face_value, balance, percent_bp, cap, min_purchase, hybrid, point_value, uses_allowed, uses, "
    "per_customer_limit, valid_from, valid_until, status, pin_hash, locked_until, created_at"
)

REDEMPTION_COLUMNS = (
    "r.id, r.reference, r.voucher_id, v.code AS voucher_code, r.merchant_id, r.store_id, "
    "r.processed_by, r.channel, r.method, r.customer_id, r.amount, r.points, r.points_value, "
    "r.purchase_amount, r.currency, r.receipt_remarks, r.status, r.created_at, r.idempotency_key, "
    "r.request_hash, r.points_reservation_id, r.reversed_at, r.reversed_by, r.reversal_reason, "
    "v.status AS voucher_status, v.balance AS voucher_balance, v.campaign_id, v.funding"
)


def insert_voucher(tx, voucher):
    tx.execute(
        "INSERT INTO vouchers (id, code, merchant_id, store_ids, campaign_id, batch_id, funding, "
        "customer_id, kind, currency, face_value, balance, percent_bp, cap, min_purchase, hybrid, "
        "point_value, uses_allowed, uses, per_customer_limit, valid_from, valid_until, status, "
        "pin_hash, created_by) VALUES (%(id)s, %(code)s, %(merchant_id)s, %(store_ids)s::uuid[], "
        "%(campaign_id)s, %(batch_id)s, %(funding)s, %(customer_id)s, %(kind)s, %(currency)s, "
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


def voucher_history(tx, voucher_id):
    return tx.all("SELECT from_status, to_status, actor, reason, at FROM voucher_history "
                  "WHERE voucher_id = %s ORDER BY id", (voucher_id,))


def apply_plan(tx, voucher_id, plan):
    tx.execute("UPDATE vouchers SET balance = %s, uses = %s, status = %s, updated_at = now() "
               "WHERE id = %s", (plan.balance, plan.uses, plan.status, voucher_id))


def redemption_by_key(tx, merchant_id, idempotency_key):
    return tx.one("SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v "
                  "ON v.id = r.voucher_id WHERE r.merchant_id = %s AND r.idempotency_key = %s",
                  (merchant_id, idempotency_key))


def redemption_by_id(tx, redemption_id, lock=False):
    return tx.one("SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v "
                  "ON v.id = r.voucher_id WHERE r.id = %s" + (" FOR UPDATE OF r" if lock else ""),
                  (redemption_id,))


def insert_redemption(tx, redemption):
    tx.execute(
        "INSERT INTO redemptions (id, reference, voucher_id, merchant_id, store_id, user_id, "
        "processed_by, channel, method, customer_id, amount, points, points_value, purchase_amount, "
        "currency, receipt_remarks, points_reservation_id, idempotency_key, request_hash, created_at) "
        "VALUES (%(id)s, %(reference)s, %(voucher_id)s, %(merchant_id)s, %(store_id)s, %(user_id)s, "
        "%(processed_by)s, %(channel)s, %(method)s, %(customer_id)s, %(amount)s, %(points)s, "
        "%(points_value)s, %(purchase_amount)s, %(currency)s, %(receipt_remarks)s, "
        "%(points_reservation_id)s, %(idempotency_key)s, %(request_hash)s, %(created_at)s)",
        dict(redemption, processed_by=json.dumps(redemption["processed_by"])))


def customer_redemptions(tx, scope_column, scope_id, customer_id):
    """How many live redemptions this customer has in a campaign (or issue batch)."""
    return tx.scalar(
        "SELECT count(*) FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id "
        "WHERE v." + scope_column + " = %s AND r.customer_id = %s AND r.status = 'completed'",
        (scope_id, customer_id))


def list_redemptions(tx, merchant_id, filters, dump):
    where = ["r.merchant_id = %s"]
    params = [merchant_id]
    for column in ("store_id", "user_id", "channel", "status"):
        if filters.get(column):
            where.append("r.%s = %%s" % column)
            params.append(filters[column])
    if filters.get("since"):
        where.append("r.created_at >= %s")
        params.append(filters["since"])
    if filters.get("until"):
        where.append("r.created_at < %s")
        params.append(filters["until"])
    condition, cursor_params = keyset(filters.get("cursor"), "r.created_at", "r.id")
    where.append(condition)
    params.extend(cursor_params)
    limit = filters.get("limit", 50)
    rows = tx.all("SELECT " + REDEMPTION_COLUMNS + " FROM redemptions r JOIN vouchers v "
                  "ON v.id = r.voucher_id WHERE " + " AND ".join(where)
                  + " ORDER BY r.created_at DESC, r.id DESC LIMIT %s", params + [limit + 1])
    return page(rows, limit, dump)
