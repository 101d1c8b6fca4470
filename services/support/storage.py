"""SQL for tickets, their threads, the audit log, the desk's settings, agents, canned responses,
attachments and chat (schema ``support``)."""
import json

import psycopg2.errors

from plumbing.pagination import fetch_page
from services.support.domain import FIRST_NUMBER

JSON_COLUMNS = ("raised_by", "refs", "requester", "issue_items", "pauses", "resolution", "assignee")
OPEN = ("open", "processing")


def _json(row):
    return {key: json.dumps(value) if key in JSON_COLUMNS else value for key, value in row.items()}


def next_number(tx, merchant_id):
    return tx.scalar("INSERT INTO ticket_counters (merchant_id, last_number) VALUES (%s, %s) "
                     "ON CONFLICT (merchant_id) DO UPDATE SET last_number = ticket_counters.last_number + 1 "
                     "RETURNING last_number", (merchant_id, FIRST_NUMBER))


TICKET_INSERT = ("id", "merchant_id", "number", "reference", "subject", "description", "category", "sub_category",
                 "priority", "status", "source", "store_id", "raised_by", "requester", "customer_id", "refs",
                 "source_event_id", "created_at", "ack_due_at", "resolution_due_at", "delivery_type", "order_id",
                 "issue_items", "currency", "duplicate_of", "partner_client_id")


def insert_ticket(tx, ticket):
    """Insert a ticket; False when its source event already made one."""
    row = _json({column: ticket.get(column) for column in TICKET_INSERT})
    return tx.execute(
        "INSERT INTO tickets (%s) VALUES (%s) ON CONFLICT (source_event_id) DO NOTHING"
        % (", ".join(TICKET_INSERT), ", ".join("%%(%s)s" % c for c in TICKET_INSERT)), row) == 1


def update_ticket(tx, ticket_id, changes):
    """Write ``changes`` (column -> value) to a ticket; the caller holds its row lock."""
    columns = sorted(changes)
    if not columns:  # nothing of the ticket itself changed (a message that moves no state)
        tx.execute("UPDATE tickets SET updated_at = now() WHERE id = %s", (ticket_id,))
        return
    tx.execute("UPDATE tickets SET %s, updated_at = now() WHERE id = %%(_id)s"
               % ", ".join("%s = %%(%s)s" % (c, c) for c in columns), dict(_json(changes), _id=ticket_id))


def audit(tx, ticket_id, actor, action, details=None):
    tx.execute("INSERT INTO audit_log (ticket_id, actor, action, details) VALUES (%s, %s, %s, %s)",
               (ticket_id, json.dumps(actor), action, json.dumps(details or {}, default=str)))


def add_message(tx, message):
    return tx.execute(
        "INSERT INTO ticket_messages (id, ticket_id, thread, author, body, attachment_ids, source_mail_id) VALUES "
        "(%(id)s, %(ticket_id)s, %(thread)s, %(author)s, %(body)s, %(attachment_ids)s, %(source_mail_id)s) "
        "ON CONFLICT (source_mail_id) DO NOTHING",
        dict(message, author=json.dumps(message["author"]),
             attachment_ids=json.dumps(message.get("attachment_ids") or []),
             source_mail_id=message.get("source_mail_id"))) == 1


def ticket_by_reference(tx, merchant_id, reference, lock=False):
    return tx.one("SELECT * FROM tickets WHERE merchant_id = %s AND reference = %s"
                  + (" FOR UPDATE" if lock else ""), (merchant_id, reference))


def ticket_by_id(tx, ticket_id, lock=False):
    return tx.one("SELECT * FROM tickets WHERE id = %s" + (" FOR UPDATE" if lock else ""), (ticket_id,))


def messages(tx, ticket_id, threads):
    return tx.all("SELECT id, thread, author, body, attachment_ids, created_at FROM ticket_messages "
                  "WHERE ticket_id = %s AND thread = ANY(%s) ORDER BY created_at, id", (ticket_id, list(threads)))


def audit_trail(tx, ticket_id):
    return tx.all("SELECT actor, action, details, at FROM audit_log WHERE ticket_id = %s ORDER BY id",
                  (ticket_id,))


def open_duplicate(tx, merchant_id, customer_id, order_id, category):
    """An open ticket of the same customer about the same order and category."""
    if not (customer_id and order_id):
        return None
    return tx.one("SELECT reference FROM tickets WHERE merchant_id = %s AND customer_id = %s AND order_id = %s "
                  "AND category = %s AND status IN ('open', 'processing') AND merged_into IS NULL "
                  "ORDER BY created_at LIMIT 1", (merchant_id, customer_id, order_id, category))


# -- lists ----------------------------------------------------------------------------------------
VIEW_BY = {
    "open": "status = 'open'", "processing": "status = 'processing'", "resolved": "status = 'resolved'",
    "closed": "status = 'closed'", "lsp_pending": "lsp_status = 'pending'",
    "lsp_processing": "lsp_status = 'processing'", "lsp_resolved": "lsp_status = 'resolved'",
}


def ticket_conditions(filters, identity_user_id=None):
    """SQL conditions and params for the panel's filters (``TicketFilterSchema``)."""
    where, params = [], []
    status = filters.get("status")
    if status == "overdue" or filters.get("overdue"):
        where.append("overdue AND status IN ('open', 'processing')")
    if status and status != "overdue":
        where.append("status = %s")
        params.append(status)
    if filters.get("view_by"):
        where.append(VIEW_BY[filters["view_by"]])
    for column in ("priority", "category", "store_id", "customer_id"):
        if filters.get(column):
            where.append("%s = %%s" % column)
            params.append(filters[column])
    if filters.get("assigned_to"):
        where.append("assignee_id = %s")
        params.append(filters["assigned_to"])
    if filters.get("unassigned"):
        where.append("assignee_id IS NULL AND status IN ('open', 'processing')")
    if filters.get("unacknowledged"):
        where.append("acknowledged_at IS NULL AND status = 'open' AND NOT overdue")
    if filters.get("mine"):
        where.append("assignee_id = %s")
        params.append(identity_user_id)
    if filters.get("submitted_by_me"):
        where.append("raised_by->>'user_id' = %s")
        params.append(identity_user_id)
    if filters.get("q"):
        where.append("(subject ILIKE %s OR reference = upper(%s) OR order_id = %s)")
        params.extend(["%" + filters["q"].replace("%", r"\%").replace("_", r"\_") + "%", filters["q"], filters["q"]])
    return where, params


def list_tickets(tx, where, params, filters, dump):
    return fetch_page(tx, "SELECT * FROM tickets", where, params, filters, dump)


def status_counts(tx, merchant_id, store_id=None):
    row = tx.one(
        "SELECT count(*) FILTER (WHERE status = 'open') AS open, "
        "count(*) FILTER (WHERE status = 'processing') AS processing, "
        "count(*) FILTER (WHERE status = 'resolved') AS resolved, "
        "count(*) FILTER (WHERE status = 'closed') AS closed, "
        "count(*) FILTER (WHERE overdue AND status IN ('open', 'processing')) AS overdue, "
        "count(*) FILTER (WHERE lsp_status = 'pending') AS lsp_pending, "
        "count(*) FILTER (WHERE lsp_status = 'processing') AS lsp_processing, "
        "count(*) FILTER (WHERE lsp_status = 'resolved') AS lsp_resolved "
        "FROM tickets WHERE merchant_id = %s AND (%s::uuid IS NULL OR store_id = %s::uuid)",
        (merchant_id, store_id, store_id))
    return dict(row)


# -- the desk's settings and agents ------------------------------------------------------------------
def settings(tx, merchant_id, lock=False):
    row = tx.one("SELECT settings, assignment_mode FROM desk_settings WHERE merchant_id = %s"
                 + (" FOR UPDATE" if lock else ""), (merchant_id,))
    return (dict(row["settings"], assignment_mode=row["assignment_mode"]) if row else
            {"assignment_mode": "off"})


def save_settings(tx, merchant_id, values):
    mode = values.pop("assignment_mode", "off")
    tx.execute("INSERT INTO desk_settings (merchant_id, settings, assignment_mode) VALUES (%s, %s, %s) "
               "ON CONFLICT (merchant_id) DO UPDATE SET settings = EXCLUDED.settings, "
               "assignment_mode = EXCLUDED.assignment_mode, updated_at = now()",
               (merchant_id, json.dumps(values, default=str), mode))


def lock_assignment(tx, merchant_id):
    """The merchant's settings row, locked: assignments of one merchant are decided one at a time."""
    tx.execute("INSERT INTO desk_settings (merchant_id) VALUES (%s) ON CONFLICT DO NOTHING", (merchant_id,))
    return tx.one("SELECT assignment_mode FROM desk_settings WHERE merchant_id = %s FOR UPDATE",
                  (merchant_id,))["assignment_mode"]


def sync_agents(tx, merchant_id, people):
    """Make sure each of the directory's agents has a row (capacity and availability live here)."""
    for person in people:
        tx.execute("INSERT INTO agents (merchant_id, user_id, username) VALUES (%s, %s, %s) "
                   "ON CONFLICT (merchant_id, user_id) DO UPDATE SET username = EXCLUDED.username",
                   (merchant_id, person["user_id"], person.get("username")))


def agents(tx, merchant_id, user_ids):
    return tx.all(
        "SELECT a.user_id, a.username, a.capacity, a.available, a.last_assigned_at, "
        "(SELECT count(*) FROM tickets t WHERE t.assignee_id = a.user_id AND t.merchant_id = a.merchant_id "
        " AND t.status IN ('open', 'processing')) AS open_tickets "
        "FROM agents a WHERE a.merchant_id = %s AND a.user_id = ANY(%s::uuid[]) ORDER BY a.username, a.user_id",
        (merchant_id, list(user_ids)))


def agent(tx, merchant_id, user_id):
    return tx.one("SELECT * FROM agents WHERE merchant_id = %s AND user_id = %s", (merchant_id, user_id))


def update_agent(tx, merchant_id, user_id, changes):
    columns = sorted(k for k, v in changes.items() if v is not None)
    if columns:
        tx.execute("UPDATE agents SET %s WHERE merchant_id = %%(m)s AND user_id = %%(u)s"
                   % ", ".join("%s = %%(%s)s" % (c, c) for c in columns), dict(changes, m=merchant_id, u=user_id))


def open_count(tx, merchant_id, user_id):
    return tx.scalar("SELECT count(*) FROM tickets WHERE merchant_id = %s AND assignee_id = %s "
                     "AND status IN ('open', 'processing')", (merchant_id, user_id))


def pick_agent(tx, merchant_id, mode):
    """The agent automatic assignment gives the next ticket to: available, below capacity; the one
    longest without a ticket (round robin) or with the fewest open (least loaded). The caller holds
    the merchant's assignment lock, so the counts cannot move under it."""
    order = ("open_tickets, a.last_assigned_at NULLS FIRST, a.user_id" if mode == "least_loaded"
             else "a.last_assigned_at NULLS FIRST, a.user_id")
    return tx.one(
        "SELECT a.user_id, a.username, count(t.id) AS open_tickets FROM agents a "
        "LEFT JOIN tickets t ON t.assignee_id = a.user_id AND t.merchant_id = a.merchant_id "
        " AND t.status IN ('open', 'processing') "
        "WHERE a.merchant_id = %s AND a.available GROUP BY a.user_id, a.username, a.capacity, a.last_assigned_at "
        "HAVING count(t.id) < a.capacity ORDER BY " + order + " LIMIT 1", (merchant_id,))


def mark_assigned(tx, merchant_id, user_id):
    tx.execute("UPDATE agents SET last_assigned_at = clock_timestamp() WHERE merchant_id = %s AND user_id = %s",
               (merchant_id, user_id))


# -- canned responses ------------------------------------------------------------------------------------
def canned_responses(tx, merchant_id):
    return tx.all("SELECT id, title, body FROM canned_responses WHERE merchant_id = %s ORDER BY title",
                  (merchant_id,))


def add_canned_response(tx, row):
    return tx.execute("INSERT INTO canned_responses (id, merchant_id, title, body, created_by) VALUES "
                      "(%(id)s, %(merchant_id)s, %(title)s, %(body)s, %(created_by)s) ON CONFLICT DO NOTHING",
                      dict(row, created_by=json.dumps(row["created_by"]))) == 1


def update_canned_response(tx, merchant_id, response_id, data):
    """The response as changed; None: no such response of the merchant; False: the title is another's
    (the unique index decides, also when another agent takes the title at the same moment)."""
    try:
        with tx.savepoint():
            return tx.one("UPDATE canned_responses SET title = %s, body = %s WHERE merchant_id = %s AND id = %s "
                          "RETURNING id, title, body", (data["title"], data["body"], merchant_id, response_id))
    except psycopg2.errors.UniqueViolation:
        return False


def delete_canned_response(tx, merchant_id, response_id):
    return tx.execute("DELETE FROM canned_responses WHERE merchant_id = %s AND id = %s",
                      (merchant_id, response_id)) == 1


# -- the clock -------------------------------------------------------------------------------------------
def breached(tx, limit=200):
    """Open tickets past a deadline the clock watches and not yet flagged, locked (others skip them)."""
    return tx.all(
        "SELECT * FROM tickets WHERE NOT overdue AND status IN ('open', 'processing') AND waiting_on IS NULL "
        "AND ((acknowledged_at IS NULL AND ack_due_at < now()) OR next_response_due_at < now() "
        "     OR (resolved_at IS NULL AND resolution_due_at < now())) "
        "ORDER BY ack_due_at LIMIT %s FOR UPDATE SKIP LOCKED", (limit,))


# -- the dashboard ---------------------------------------------------------------------------------------
DASHBOARD_SQL = """
SELECT CASE WHEN GROUPING(store_key) = 0 THEN 's:' || store_key
            WHEN GROUPING(category) = 0 THEN 'c:' || category ELSE 'all' END AS key,
  sum(open)::bigint AS open, sum(critical)::bigint AS critical, sum(overdue)::bigint AS overdue,
  sum(responded)::bigint AS responded, sum(responded_in_time)::bigint AS responded_in_time,
  sum(late_unanswered)::bigint AS late_unanswered,
  sum(first_response_seconds) / nullif(sum(responded), 0) AS avg_first_response_seconds,
  sum(resolution_seconds) / nullif(sum(resolved), 0) AS avg_resolution_seconds,
  sum(rated)::bigint AS rated, sum(rating_sum)::float / nullif(sum(rated), 0) AS avg_rating
FROM ticket_stats WHERE merchant_id = %s AND (%s::text IS NULL OR store_key = %s::text)
GROUP BY GROUPING SETS ((), (store_key), (category))
"""


def dashboard(tx, merchant_id, store_id=None):
    """The KPIs' sums, overall, per store and per category, from the counters the trigger keeps
    (migration 0004): a few dozen rows, however many tickets."""
    return tx.all(DASHBOARD_SQL, (merchant_id, store_id, store_id))


# -- attachments -----------------------------------------------------------------------------------------
def add_attachment(tx, row):
    tx.execute("INSERT INTO attachments (id, merchant_id, ticket_id, conversation_id, filename, content_type, size, "
               "sha256, storage_key, uploaded_by) VALUES (%(id)s, %(merchant_id)s, %(ticket_id)s, "
               "%(conversation_id)s, %(filename)s, %(content_type)s, %(size)s, %(sha256)s, %(storage_key)s, "
               "%(uploaded_by)s)", dict(row, uploaded_by=json.dumps(row["uploaded_by"])))


def attachment(tx, merchant_id, attachment_id):
    return tx.one("SELECT * FROM attachments WHERE merchant_id = %s AND id = %s", (merchant_id, attachment_id))


def attachments_of(tx, ticket_id):
    return tx.all("SELECT id, filename, content_type, size, created_at FROM attachments WHERE ticket_id = %s "
                  "ORDER BY created_at, id", (ticket_id,))


def claim_attachments(tx, merchant_id, ids, ticket_id, uploader_id):
    """Attach uploads (not yet on a ticket, uploaded by the same caller) to a ticket; how many."""
    if not ids:
        return 0
    return tx.execute("UPDATE attachments SET ticket_id = %s WHERE merchant_id = %s AND id = ANY(%s::uuid[]) "
                      "AND (ticket_id IS NULL OR ticket_id = %s) AND uploaded_by->>'user_id' = %s",
                      (ticket_id, merchant_id, list(ids), ticket_id, uploader_id))


def conversation_attachments(tx, conversation_id):
    return tx.all("SELECT id, filename, content_type, size, created_at FROM attachments WHERE conversation_id = %s "
                  "ORDER BY created_at, id", (conversation_id,))


def carry_conversation_attachments(tx, conversation_id, ticket_id):
    """The files sent in a chat's messages go with the ticket made from it (not those uploaded and
    never sent); how many."""
    return tx.execute(
        "UPDATE attachments SET ticket_id = %s WHERE conversation_id = %s AND ticket_id IS NULL AND id IN ("
        "SELECT jsonb_array_elements_text(attachment_ids)::uuid FROM conversation_messages "
        "WHERE conversation_id = %s)", (ticket_id, conversation_id, conversation_id))


def own_conversation_attachments(tx, conversation_id, ids, uploader_id):
    """How many of ``ids`` this caller uploaded to this conversation (a message may carry only those)."""
    if not ids:
        return 0
    return tx.scalar("SELECT count(*) FROM attachments WHERE conversation_id = %s AND id = ANY(%s::uuid[]) "
                     "AND uploaded_by->>'user_id' = %s", (conversation_id, list(ids), uploader_id))


# -- chat ------------------------------------------------------------------------------------------------
def add_conversation(tx, row):
    tx.execute("INSERT INTO conversations (id, merchant_id, customer_id, store_id, started_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(customer_id)s, %(store_id)s, %(started_by)s)",
               dict(row, started_by=json.dumps(row["started_by"])))


def conversation(tx, merchant_id, conversation_id, lock=False):
    return tx.one("SELECT * FROM conversations WHERE merchant_id = %s AND id = %s" + (" FOR UPDATE" if lock else ""),
                  (merchant_id, conversation_id))


def conversation_by_id(tx, conversation_id):
    return tx.one("SELECT * FROM conversations WHERE id = %s", (conversation_id,))


def add_conversation_message(tx, row):
    inserted = tx.execute(
        "INSERT INTO conversation_messages (id, conversation_id, author_kind, author, body, source_mail_id, "
        "attachment_ids) VALUES (%(id)s, %(conversation_id)s, %(author_kind)s, %(author)s, %(body)s, "
        "%(source_mail_id)s, %(attachment_ids)s) ON CONFLICT (source_mail_id) DO NOTHING",
        dict(row, author=json.dumps(row["author"]), source_mail_id=row.get("source_mail_id"),
             attachment_ids=json.dumps(row.get("attachment_ids") or []))) == 1
    if inserted:
        tx.execute("UPDATE conversations SET last_message_at = now()" +
                   (", customer_seen_at = now()" if row["author_kind"] == "customer" else "") +
                   " WHERE id = %s", (row["conversation_id"],))
    return inserted


def conversation_messages(tx, conversation_id):
    return tx.all("SELECT id, author_kind, author, body, attachment_ids, created_at FROM conversation_messages "
                  "WHERE conversation_id = %s ORDER BY created_at, id", (conversation_id,))


def list_conversations(tx, merchant_id, filters, dump, customer_id=None):
    where, params = ["merchant_id = %s"], [merchant_id]
    if customer_id or filters.get("customer_id"):
        where.append("customer_id = %s")
        params.append(customer_id or filters["customer_id"])
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    return fetch_page(tx, "SELECT * FROM conversations", where, params, filters, dump)


def link_conversation(tx, conversation_id, reference):
    tx.execute("UPDATE conversations SET ticket_reference = %s WHERE id = %s", (reference, conversation_id))
