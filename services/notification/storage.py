"""SQL for inbox messages and read marks (schema ``notification``)."""
import json

from plumbing.pagination import fetch_page

VISIBLE = "((m.merchant_id = %s AND m.audience_role = %s) OR m.user_id = %s)"


def insert_message(tx, message):
    tx.execute("INSERT INTO inbox_messages (id, merchant_id, audience_role, user_id, kind, title, body, refs) "
               "VALUES (%(id)s, %(merchant_id)s, %(audience_role)s, %(user_id)s, %(kind)s, %(title)s, "
               "%(body)s, %(refs)s)", dict(message, refs=json.dumps(message.get("refs") or {})))


def inbox(tx, identity, filters, dump):
    scope = (identity.merchant_id, identity.role, identity.user_id)
    where, params = [VISIBLE], list(scope)
    if filters.get("unread_only"):
        where.append("r.message_id IS NULL")
    return fetch_page(tx, "SELECT m.*, r.message_id IS NOT NULL AS read FROM inbox_messages m "
                      "LEFT JOIN inbox_reads r ON r.message_id = m.id AND r.user_id = %s", where,
                      [identity.user_id] + params, filters, dump, time_column="m.created_at", id_column="m.id")


def unread_count(tx, identity):
    return tx.scalar("SELECT count(*) FROM inbox_messages m LEFT JOIN inbox_reads r ON r.message_id = m.id "
                     "AND r.user_id = %s WHERE " + VISIBLE + " AND r.message_id IS NULL",
                     (identity.user_id, identity.merchant_id, identity.role, identity.user_id))


def visible_message(tx, identity, message_id):
    return tx.one("SELECT m.id FROM inbox_messages m WHERE m.id = %s AND " + VISIBLE,
                  (message_id, identity.merchant_id, identity.role, identity.user_id))


def mark_read(tx, message_id, user_id):
    tx.execute("INSERT INTO inbox_reads (message_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
               (message_id, user_id))


def mark_all_read(tx, identity):
    return tx.execute("INSERT INTO inbox_reads (message_id, user_id) SELECT m.id, %s FROM inbox_messages m "
                      "WHERE " + VISIBLE + " ON CONFLICT DO NOTHING",
                      (identity.user_id, identity.merchant_id, identity.role, identity.user_id))


# -- email deliveries: each claim and outcome commits on its own (see email.py) ----------------
def claim_delivery(tx, delivery):
    """``("send", id)`` for a new or failed delivery, ``("sent", id)`` for one already sent,
    ``("unknown", id)`` for one whose earlier try stopped mid-send (it is not sent again)."""
    row = tx.one("INSERT INTO email_deliveries (id, event_id, kind, merchant_id, recipient, subject, status) "
                 "VALUES (%(id)s, %(event_id)s, %(kind)s, %(merchant_id)s, %(recipient)s, %(subject)s, 'sending') "
                 "ON CONFLICT (event_id, kind) DO NOTHING RETURNING id", delivery)
    if row is not None:
        return "send", str(row["id"])
    row = tx.one("SELECT id, status FROM email_deliveries WHERE event_id = %s AND kind = %s FOR UPDATE",
                 (delivery["event_id"], delivery["kind"]))
    if row["status"] == "sent":
        return "sent", str(row["id"])
    if row["status"] == "failed":
        tx.execute("UPDATE email_deliveries SET status = 'sending', attempts = attempts + 1, updated_at = now() "
                   "WHERE id = %s", (row["id"],))
        return "send", str(row["id"])
    tx.execute("UPDATE email_deliveries SET status = 'unknown', updated_at = now() WHERE id = %s", (row["id"],))
    return "unknown", str(row["id"])


def finish_delivery(tx, delivery_id, status, error=None):
    tx.execute("UPDATE email_deliveries SET status = %s, last_error = %s, updated_at = now(), "
               "sent_at = CASE WHEN %s = 'sent' THEN now() END WHERE id = %s",
               (status, error, status, delivery_id))
