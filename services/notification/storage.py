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
