"""Cursor pagination: every list answers ``{"items": [...], "next": cursor-or-null}``.

Lists are ordered newest first by ``(created_at, id)``; the cursor is the
opaque (base64url JSON) position of the last item, so pages stay stable while
new rows arrive.
"""
import base64
import binascii
import json
import uuid
from datetime import datetime

from plumbing.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position):
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor):
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict):
        raise invalid_cursor()
    return position


def keyset(cursor, column_time="created_at", column_id="id"):
    """SQL condition and params continuing after ``cursor`` (newest first)."""
    position = decode_cursor(cursor)
    if position is None:
        return "TRUE", ()
    try:
        moment = datetime.fromisoformat(position["t"])
        identifier = str(uuid.UUID(position["i"]))
        if moment.tzinfo is None:
            raise ValueError("naive time")
    except (KeyError, TypeError, ValueError, AttributeError):
        raise invalid_cursor()
    return "(%s, %s) < (%%s::timestamptz, %%s)" % (column_time, column_id), (moment.isoformat(), identifier)


def invalid_cursor():
    return BadRequest("The cursor is not one this list gave out", code="invalid_cursor",
                      fields={"cursor": ["Not a valid cursor."]})


def fetch_page(tx, select, where, params, filters, dump, time_column="created_at", id_column="id"):
    """One page of ``select`` (``SELECT ... FROM ...``) filtered by ``where`` (conditions, ANDed),
    newest first, continuing after ``filters["cursor"]``; ``params`` fill the placeholders in order."""
    condition, cursor_params = keyset(filters.get("cursor"), time_column, id_column)
    limit = filters.get("limit", DEFAULT_LIMIT)
    rows = tx.all("%s WHERE %s ORDER BY %s DESC, %s DESC LIMIT %%s" % (
        select, " AND ".join(list(where) + [condition]), time_column, id_column),
        list(params) + list(cursor_params) + [limit + 1])
    return page(rows, limit, dump, time_key=time_column.rpartition(".")[2], id_key=id_column.rpartition(".")[2])


def page(rows, limit, dump, time_key="created_at", id_key="id"):
    """Build a page from up to ``limit + 1`` rows fetched in keyset order."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor({"t": last[time_key].isoformat(), "i": str(last[id_key])})
    return {"items": [dump(row) for row in rows], "next": next_cursor}
