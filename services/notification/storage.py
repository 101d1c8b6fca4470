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


# -- the routing table's records ----------------------------------------------------------------
def insert_delivery(tx, delivery):
    """The delivery's id, or None when this (event, recipient, channel) was recorded already."""
    row = tx.one("INSERT INTO deliveries (id, event_id, event_type, merchant_id, recipient_kind, recipient_id, "
                 "channel, address, kind, payload, status, next_attempt_at, event_at, delivered_at) VALUES "
                 "(%(id)s, %(event_id)s, %(event_type)s, %(merchant_id)s, %(recipient_kind)s, %(recipient_id)s, "
                 "%(channel)s, %(address)s, %(kind)s, %(payload)s, %(status)s, %(next_attempt_at)s, "
                 "coalesce(%(event_at)s, now()), CASE WHEN %(status)s = 'delivered' THEN now() END) "
                 "ON CONFLICT (event_id, recipient_kind, recipient_id, channel) DO NOTHING RETURNING id",
                 dict(delivery, payload=json.dumps(delivery.get("payload") or {}, default=str)))
    return str(row["id"]) if row else None


def insert_inbox_message(tx, message):
    tx.execute("INSERT INTO inbox_messages (id, merchant_id, user_id, customer_id, event_id, kind, title, body, refs) "
               "VALUES (%(id)s, %(merchant_id)s, %(user_id)s, %(customer_id)s, %(event_id)s, %(kind)s, %(title)s, "
               "%(body)s, %(refs)s) RETURNING *", dict(message, refs=json.dumps(message.get("refs") or {}, default=str)))
    return tx.one("SELECT m.*, false AS read FROM inbox_messages m WHERE id = %s", (message["id"],))


def recipient_scope(recipient):
    """(SQL condition on ``m``, its params, the reader key) for an inbox's recipient."""
    kind, rid, merchant_id, role = recipient
    if kind == "customer":
        return "m.customer_id = %s", [rid], "customer:" + rid
    return ("((m.merchant_id = %s AND m.audience_role = %s AND m.customer_id IS NULL) OR m.user_id = %s)",
            [merchant_id, role, rid], rid)


def recipient_inbox(tx, recipient, filters, dump):
    where, params, reader = recipient_scope(recipient)
    conditions = [where] + (["r.message_id IS NULL"] if filters.get("unread_only") else [])
    return fetch_page(tx, "SELECT m.*, r.message_id IS NOT NULL AS read FROM inbox_messages m "
                      "LEFT JOIN inbox_reads r ON r.message_id = m.id AND r.user_id = %s", conditions,
                      [reader] + params, filters, dump, time_column="m.created_at", id_column="m.id")


def recipient_unread(tx, recipient):
    where, params, reader = recipient_scope(recipient)
    return tx.scalar("SELECT count(*) FROM inbox_messages m LEFT JOIN inbox_reads r ON r.message_id = m.id "
                     "AND r.user_id = %s WHERE " + where + " AND r.message_id IS NULL", [reader] + params)


def recipient_message(tx, recipient, message_id):
    where, params, _ = recipient_scope(recipient)
    return tx.one("SELECT m.id FROM inbox_messages m WHERE m.id = %s AND " + where, [message_id] + params)


def recipient_mark_read(tx, recipient, message_id):
    tx.execute("INSERT INTO inbox_reads (message_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
               (message_id, recipient_scope(recipient)[2]))


def recipient_mark_all_read(tx, recipient):
    where, params, reader = recipient_scope(recipient)
    tx.execute("INSERT INTO inbox_reads (message_id, user_id) SELECT m.id, %s FROM inbox_messages m WHERE "
               + where + " ON CONFLICT DO NOTHING", [reader] + params)


def messages_after(tx, recipient, after_id, limit=100):
    """What a stream missed since ``after_id`` (its Last-Event-ID), oldest first."""
    where, params, reader = recipient_scope(recipient)
    return tx.all("SELECT m.*, r.message_id IS NOT NULL AS read FROM inbox_messages m LEFT JOIN inbox_reads r "
                  "ON r.message_id = m.id AND r.user_id = %s WHERE " + where + " AND (m.created_at, m.id) > "
                  "(SELECT created_at, id FROM inbox_messages WHERE id = %s) ORDER BY m.created_at, m.id LIMIT %s",
                  [reader] + params + [after_id, limit])


# -- preferences and presence --------------------------------------------------------------------
def disabled_channels(tx, recipient_kind, recipient_ids, kind):
    """{(recipient id, channel)} switched off for ``kind``."""
    if not recipient_ids:
        return set()
    rows = tx.all("SELECT recipient_id, channel FROM preferences WHERE recipient_kind = %s AND recipient_id = ANY(%s) "
                  "AND kind = %s AND NOT enabled", (recipient_kind, list(recipient_ids), kind))
    return {(row["recipient_id"], row["channel"]) for row in rows}


def preferences(tx, recipient_kind, recipient_id):
    return tx.all("SELECT kind, channel, enabled, updated_at FROM preferences WHERE recipient_kind = %s "
                  "AND recipient_id = %s ORDER BY kind, channel", (recipient_kind, recipient_id))


def set_preference(tx, merchant_id, recipient_kind, recipient_id, kind, channel, enabled):
    tx.execute("INSERT INTO preferences (merchant_id, recipient_kind, recipient_id, kind, channel, enabled) "
               "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (recipient_kind, recipient_id, kind, channel) "
               "DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()",
               (merchant_id, recipient_kind, recipient_id, kind, channel, enabled))


def touch_presence(tx, customer_ids):
    if customer_ids:
        tx.execute("INSERT INTO presence (customer_id, last_seen_at) SELECT unnest(%s::uuid[]), now() "
                   "ON CONFLICT (customer_id) DO UPDATE SET last_seen_at = now()", (list(customer_ids),))


def online(tx, customer_id, within_seconds):
    return bool(tx.scalar("SELECT count(*) FROM presence WHERE customer_id = %s AND "
                          "last_seen_at > now() - make_interval(secs => %s)", (customer_id, within_seconds)))


# -- deliveries: the dispatcher's queue and the owners' log ----------------------------------------
def claim_due(tx, limit):
    return tx.all("UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = now() "
                  "WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
                  "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *", (limit,))


def recover_stuck(tx, older_than_seconds=300):
    """Tries that stopped mid-send (a process died): a webhook goes again (receivers deduplicate on the
    event id); an email is marked unknown, never sent twice."""
    return tx.execute("UPDATE deliveries SET status = CASE WHEN channel = 'webhook' THEN 'pending' ELSE 'unknown' END, "
                      "next_attempt_at = now(), last_error = 'a try stopped mid-send', updated_at = now() "
                      "WHERE status = 'sending' AND updated_at < now() - make_interval(secs => %s)",
                      (older_than_seconds,))


def finish(tx, delivery_id, status, error=None, next_attempt_at=None):
    tx.execute("UPDATE deliveries SET status = %s, last_error = %s, next_attempt_at = %s, updated_at = now(), "
               "delivered_at = CASE WHEN %s = 'delivered' THEN now() ELSE delivered_at END WHERE id = %s",
               (status, error, next_attempt_at, status, delivery_id))


def retry_backlog(tx):
    return {row["channel"]: row["n"] for row in tx.all(
        "SELECT channel, count(*) AS n FROM deliveries WHERE status = 'pending' GROUP BY channel")}


def delivery_log(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    for column in ("channel", "status", "event_type"):
        if filters.get(column):
            where.append(column + " = %s")
            params.append(filters[column])
    if filters.get("endpoint_id"):
        where += ["channel = 'webhook'", "recipient_id = %s"]
        params.append(str(filters["endpoint_id"]))
    return fetch_page(tx, "SELECT * FROM deliveries", where, params, filters, dump)


def delivery(tx, delivery_id, lock=False):
    return tx.one("SELECT * FROM deliveries WHERE id = %s" + (" FOR UPDATE" if lock else ""), (delivery_id,))


# -- webhook endpoints ----------------------------------------------------------------------------
def insert_endpoint(tx, endpoint):
    tx.execute("INSERT INTO webhook_endpoints (id, merchant_id, url, events, status, created_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(url)s, %(events)s, 'active', %(created_by)s)",
               dict(endpoint, created_by=json.dumps(endpoint["created_by"])))


def insert_endpoint_secret(tx, secret_id, endpoint_id, secret):
    tx.execute("INSERT INTO webhook_secrets (id, endpoint_id, secret) VALUES (%s, %s, %s)",
               (secret_id, endpoint_id, secret))


def reseal_endpoint_secrets(tx, reseal):
    """Every stored secret sealed again by ``reseal`` (the operator's key rotation); how many."""
    rows = tx.all("SELECT id, secret FROM webhook_secrets ORDER BY id FOR UPDATE")
    for row in rows:
        tx.execute("UPDATE webhook_secrets SET secret = %s WHERE id = %s", (reseal(row["secret"]), row["id"]))
    return len(rows)


def expire_endpoint_secrets(tx, endpoint_id, at):
    tx.execute("UPDATE webhook_secrets SET expires_at = %s WHERE endpoint_id = %s AND "
               "(expires_at IS NULL OR expires_at > %s)", (at, endpoint_id, at))


def live_secrets(tx, endpoint_id):
    return [row["secret"] for row in tx.all(
        "SELECT secret FROM webhook_secrets WHERE endpoint_id = %s AND (expires_at IS NULL OR expires_at > now()) "
        "ORDER BY created_at DESC", (endpoint_id,))]


def endpoint(tx, endpoint_id, lock=False):
    return tx.one("SELECT * FROM webhook_endpoints WHERE id = %s AND status <> 'deleted'" +
                  (" FOR UPDATE" if lock else ""), (endpoint_id,))


def endpoints(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT * FROM webhook_endpoints", ["merchant_id = %s", "status <> 'deleted'"],
                      [merchant_id], filters, dump)


def subscribed_endpoints(tx, merchant_id, event_type):
    return tx.all("SELECT id, url FROM webhook_endpoints WHERE merchant_id = %s AND status = 'active' "
                  "AND %s = ANY(events)", (merchant_id, event_type))


def webhook_event_types_in_use(tx):
    """The event types some active endpoint subscribes to."""
    return [row["event_type"] for row in tx.all(
        "SELECT DISTINCT unnest(events) AS event_type FROM webhook_endpoints WHERE status = 'active'")]


def set_endpoint(tx, endpoint_id, **changes):
    sets = ", ".join("%s = %%(%s)s" % (name, name) for name in changes)
    tx.execute("UPDATE webhook_endpoints SET " + sets + ", updated_at = now() WHERE id = %(id)s",
               dict(changes, id=endpoint_id))


def endpoint_attempt(tx, endpoint_id, succeeded):
    """Count a failed attempt in a row (or reset the count); the endpoint's row after it."""
    if succeeded:
        return tx.one("UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id = %s RETURNING *",
                      (endpoint_id,))
    return tx.one("UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1 WHERE id = %s "
                  "RETURNING *", (endpoint_id,))


# -- merchants' mail and the mail they receive -------------------------------------------------------
def merchant_mail(tx, merchant_id):
    return tx.one("SELECT * FROM merchant_mail WHERE merchant_id = %s", (merchant_id,))


def ensure_merchant_mail(tx, merchant_id, default_local):
    """The merchant's mail settings, its support address made on first use (so mail to it finds it)."""
    tx.execute("INSERT INTO merchant_mail (merchant_id, support_local) VALUES (%s, %s) ON CONFLICT DO NOTHING",
               (merchant_id, default_local))
    return merchant_mail(tx, merchant_id)


def merchant_by_support_local(tx, local):
    return tx.one("SELECT * FROM merchant_mail WHERE support_local = %s", (local,))


def set_merchant_mail(tx, merchant_id, display_name, reply_to, support_local):
    return tx.one("INSERT INTO merchant_mail (merchant_id, display_name, reply_to, support_local) VALUES "
                  "(%s, %s, %s, %s) ON CONFLICT (merchant_id) DO UPDATE SET display_name = EXCLUDED.display_name, "
                  "reply_to = EXCLUDED.reply_to, support_local = EXCLUDED.support_local, updated_at = now() "
                  "RETURNING *", (merchant_id, display_name, reply_to, support_local))


def insert_inbound_mail(tx, mail):
    tx.execute("INSERT INTO inbound_mails (id, merchant_id, to_address, from_address, from_name, subject, body, "
               "message_id, ticket_reference, conversation_id, outcome) VALUES (%(id)s, %(merchant_id)s, "
               "%(to_address)s, %(from_address)s, %(from_name)s, %(subject)s, %(body)s, %(message_id)s, "
               "%(ticket_reference)s, %(conversation_id)s, %(outcome)s)", mail)
