"""SQL for campaigns, customers and points (schema ``campaign``)."""
import json

from plumbing.pagination import fetch_page


def insert_campaign(tx, campaign):
    tx.execute("INSERT INTO campaigns (id, merchant_id, name, funding, funder_name, currency, budget, "
               "valid_from, valid_until, status, created_by) VALUES (%(id)s, %(merchant_id)s, %(name)s, "
               "%(funding)s, %(funder_name)s, %(currency)s, %(budget)s, %(valid_from)s, %(valid_until)s, "
               "%(status)s, %(created_by)s)", dict(campaign, created_by=json.dumps(campaign["created_by"])))


def campaign_by_id(tx, campaign_id, lock=False):
    return tx.one("SELECT * FROM campaigns WHERE id = %s" + (" FOR UPDATE" if lock else ""), (campaign_id,))


def add_spend(tx, campaign_id, amount):
    return tx.one("UPDATE campaigns SET spent = spent + %s WHERE id = %s RETURNING *", (amount, campaign_id))


def set_campaign_status(tx, campaign_id, status):
    tx.execute("UPDATE campaigns SET status = %s WHERE id = %s", (status, campaign_id))


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


def change_points(tx, customer_id, kind, points, reference, actor):
    """Add (or, negative, take) points and write the ledger line; False if already done once."""
    account = tx.one("UPDATE points_accounts SET balance = balance + %s WHERE customer_id = %s "
                     "RETURNING balance", (points, customer_id))
    inserted = tx.execute("INSERT INTO points_ledger (customer_id, kind, points, balance_after, reference, "
                          "actor) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                          (customer_id, kind, points, account["balance"], reference, json.dumps(actor)))
    return inserted == 1


def insert_reservation(tx, reservation):
    tx.execute("UPDATE points_accounts SET reserved = reserved + %s WHERE customer_id = %s",
               (reservation["points"], reservation["customer_id"]))
    tx.execute("INSERT INTO points_reservations (id, customer_id, merchant_id, points, status, reference, "
               "expires_at) VALUES (%(id)s, %(customer_id)s, %(merchant_id)s, %(points)s, 'reserved', "
               "%(reference)s, %(expires_at)s)", reservation)


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
    return tx.all("SELECT kind, points, balance_after, reference, created_at FROM points_ledger "
                  "WHERE customer_id = %s ORDER BY id DESC LIMIT %s", (customer_id, limit))
