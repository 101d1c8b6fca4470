"""SQL for tickets, their threads and the audit log (schema ``support``)."""
import json

from plumbing.pagination import fetch_page
from services.support.domain import FIRST_NUMBER


def next_number(tx, merchant_id):
    return tx.scalar("INSERT INTO ticket_counters (merchant_id, last_number) VALUES (%s, %s) "
                     "ON CONFLICT (merchant_id) DO UPDATE SET last_number = ticket_counters.last_number + 1 "
                     "RETURNING last_number", (merchant_id, FIRST_NUMBER))


def insert_ticket(tx, ticket):
    """Insert a ticket; False when its source event already made one."""
    return tx.execute(
        "INSERT INTO tickets (id, merchant_id, number, reference, subject, description, category, priority, "
        "status, source, store_id, raised_by, refs, source_event_id, created_at, ack_due_at) VALUES "
        "(%(id)s, %(merchant_id)s, %(number)s, %(reference)s, %(subject)s, %(description)s, %(category)s, "
        "%(priority)s, %(status)s, %(source)s, %(store_id)s, %(raised_by)s, %(refs)s, %(source_event_id)s, "
        "%(created_at)s, %(ack_due_at)s) ON CONFLICT (source_event_id) DO NOTHING",
        dict(ticket, raised_by=json.dumps(ticket["raised_by"]), refs=json.dumps(ticket["refs"]))) == 1


def audit(tx, ticket_id, actor, action, details=None):
    tx.execute("INSERT INTO audit_log (ticket_id, actor, action, details) VALUES (%s, %s, %s, %s)",
               (ticket_id, json.dumps(actor), action, json.dumps(details or {})))


def add_message(tx, message):
    tx.execute("INSERT INTO ticket_messages (id, ticket_id, thread, author, body) VALUES "
               "(%(id)s, %(ticket_id)s, %(thread)s, %(author)s, %(body)s)",
               dict(message, author=json.dumps(message["author"])))


def ticket_by_reference(tx, merchant_id, reference, lock=False):
    return tx.one("SELECT * FROM tickets WHERE merchant_id = %s AND reference = %s"
                  + (" FOR UPDATE" if lock else ""), (merchant_id, reference))


def messages(tx, ticket_id, threads):
    return tx.all("SELECT id, thread, author, body, created_at FROM ticket_messages "
                  "WHERE ticket_id = %s AND thread = ANY(%s) ORDER BY created_at, id", (ticket_id, list(threads)))


def audit_trail(tx, ticket_id):
    return tx.all("SELECT actor, action, details, at FROM audit_log WHERE ticket_id = %s ORDER BY id",
                  (ticket_id,))


def acknowledge(tx, ticket_id):
    tx.execute("UPDATE tickets SET status = 'processing', acknowledged_at = now(), updated_at = now() "
               "WHERE id = %s", (ticket_id,))


def resolve(tx, ticket_id, resolution):
    tx.execute("UPDATE tickets SET status = 'resolved', resolved_at = now(), resolution = %s, "
               "acknowledged_at = coalesce(acknowledged_at, now()), updated_at = now() WHERE id = %s",
               (json.dumps(resolution), ticket_id))


def list_tickets(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    status = filters.get("status")
    if status == "overdue":
        where.append("status = 'open' AND acknowledged_at IS NULL AND ack_due_at < now()")
    elif status:
        where.append("status = %s")
        params.append(status)
    for column in ("priority", "category", "store_id"):
        if filters.get(column):
            where.append("%s = %%s" % column)
            params.append(filters[column])
    return fetch_page(tx, "SELECT * FROM tickets", where, params, filters, dump)
