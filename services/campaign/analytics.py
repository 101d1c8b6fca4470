"""Campaign analytics from this service's own data and the events it consumes, pre-aggregated as
things happen so an answer reads a handful of rows however many purchases there are.

* ``campaign_daily`` (campaign, store, day): vouchers issued, redemptions and their discount
  (from issuance and ``voucher_redeemed`` / ``redemption_reversed``);
* ``campaign_customer_stats`` (campaign, customer, store; the nil store: all of them): purchases
  and revenue of a customer during the campaign, which says when they became a repeat buyer;
* ``campaign_store_summary`` (campaign, store, redeemer or not): buyers, repeat buyers, purchases
  and revenue, moved from "others" to "redeemers" when a customer first redeems a voucher of it;
* ``campaign_daily_sales`` (campaign, store, day): purchases and revenue, for the daily series.

A purchase counts for a campaign while it is active or paused, within its window and at its
stores. ``rebuild`` recomputes all of it from the purchases (a backfill), set-based.

Per store (or merchant-wide) across campaigns, over any date range (``read_store``):

* ``merchant_redeemers``: customers who redeemed a voucher of any of the merchant's campaigns;
* ``store_sales`` (merchant, store or the nil store, currency, day, buyer, prev_day, prev2_day):
  purchases and revenue, where ``prev_day`` and ``prev2_day`` are the days of the customer's
  previous two purchases in that store and currency. A customer's first purchase in a range is the
  one whose ``prev_day`` is before the range, their second the one with ``prev_day`` in it and
  ``prev2_day`` before it: so buyers and repeat buyers of any range are sums of rows, never a
  scan of the purchases. ``rebuild_store_sales`` recomputes it (the migration's backfill).
"""
from datetime import timedelta

from plumbing.auth import MERCHANT_STAFF, STORE_USER
from plumbing.errors import Forbidden, ValidationFailed
from plumbing.fields import utcnow
from plumbing.validation import load
from services.campaign import domain, storage
from services.campaign.campaigns import campaign_of
from services.campaign.contract.schemas import (MAX_ANALYTICS_DAYS, AnalyticsQuery, StoreAnalyticsQuery,
                                                StoreAnalyticsSchema)

NO_STORE = storage.NO_STORE


def count_purchase(tx, purchase, now):
    """Add a purchase to the figures of every campaign of its merchant it counts for, and to its
    store's (the customer's row is locked: their purchases are counted one at a time)."""
    day = now.date()
    if purchase["customer_id"] is None:
        _add_sales(tx, "p.id = %(id)s", {"id": purchase["id"]})
    else:  # the customer's earlier purchases say which of theirs this is; only this one is added
        _add_sales(tx, "p.customer_id = %(customer)s AND p.currency = %(currency)s",
                   {"customer": purchase["customer_id"], "currency": purchase["currency"], "id": purchase["id"]},
                   only="id = %(id)s")
    for campaign in tx.all(
            "SELECT id, store_ids::text[] AS store_ids FROM campaigns WHERE merchant_id = %s "
            "AND status IN ('active', 'paused') AND valid_from <= %s AND (valid_until IS NULL OR valid_until > %s)",
            (purchase["merchant_id"], now, now)):
        if campaign["store_ids"] and str(purchase["store_id"]) not in campaign["store_ids"]:
            continue
        redeemer = purchase["customer_id"] is not None and tx.scalar(
            "SELECT count(*) FROM campaign_redeemers WHERE campaign_id = %s AND customer_id = %s",
            (campaign["id"], purchase["customer_id"])) == 1
        for store_id in (purchase["store_id"], NO_STORE):
            tx.execute("INSERT INTO campaign_daily_sales (campaign_id, store_id, day, purchases, revenue) VALUES "
                       "(%s, %s, %s, 1, %s) ON CONFLICT (campaign_id, store_id, day) DO UPDATE SET "
                       "purchases = campaign_daily_sales.purchases + 1, "
                       "revenue = campaign_daily_sales.revenue + EXCLUDED.revenue",
                       (campaign["id"], store_id, day, purchase["amount"]))
            if purchase["customer_id"] is None:
                continue
            count = tx.scalar(
                "INSERT INTO campaign_customer_stats (campaign_id, customer_id, store_id, purchases, revenue) VALUES "
                "(%s, %s, %s, 1, %s) ON CONFLICT (campaign_id, customer_id, store_id) DO UPDATE SET "
                "purchases = campaign_customer_stats.purchases + 1, "
                "revenue = campaign_customer_stats.revenue + EXCLUDED.revenue RETURNING purchases",
                (campaign["id"], purchase["customer_id"], store_id, purchase["amount"]))
            _add_summary(tx, campaign["id"], store_id, redeemer, int(count == 1), int(count == 2), 1,
                         purchase["amount"])


def _add_summary(tx, campaign_id, store_id, redeemer, buyers, repeat_buyers, purchases, revenue):
    tx.execute("INSERT INTO campaign_store_summary (campaign_id, store_id, redeemer, buyers, repeat_buyers, purchases, "
               "revenue) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (campaign_id, store_id, redeemer) DO UPDATE "
               "SET buyers = campaign_store_summary.buyers + EXCLUDED.buyers, "
               "repeat_buyers = campaign_store_summary.repeat_buyers + EXCLUDED.repeat_buyers, "
               "purchases = campaign_store_summary.purchases + EXCLUDED.purchases, "
               "revenue = campaign_store_summary.revenue + EXCLUDED.revenue",
               (campaign_id, store_id, redeemer, buyers, repeat_buyers, purchases, revenue))


def count_redeemer(tx, campaign, customer_id, at):
    """A customer's first redemption of a campaign's voucher makes them one of its redeemers: their
    figures so far move over (the customer's row is locked, as a purchase of theirs locks it); and
    their first of any of the merchant's campaigns makes them one of the merchant's."""
    if storage.customer_by_id(tx, customer_id, lock=True) is None:
        return
    campaign_id = campaign["id"]
    if tx.execute("INSERT INTO merchant_redeemers (merchant_id, customer_id, first_redeemed_at) VALUES (%s, %s, %s) "
                  "ON CONFLICT DO NOTHING", (campaign["merchant_id"], customer_id, at)) == 1:
        # every purchase of theirs moves from the others' rows to the redeemers'
        where = "p.merchant_id = %(merchant)s AND p.customer_id = %(customer)s"
        params = {"merchant": campaign["merchant_id"], "customer": customer_id}
        _add_sales(tx, where, params, buyer="other", sign=-1)
        _add_sales(tx, where, params, buyer="redeemer")
    if tx.execute("INSERT INTO campaign_redeemers (campaign_id, customer_id, first_redeemed_at) VALUES (%s, %s, %s) "
                  "ON CONFLICT DO NOTHING", (campaign_id, customer_id, at)) != 1:
        return
    for row in tx.all("SELECT store_id, purchases, revenue FROM campaign_customer_stats WHERE campaign_id = %s "
                      "AND customer_id = %s", (campaign_id, customer_id)):
        figures = (int(row["purchases"] >= 1), int(row["purchases"] >= 2), row["purchases"], row["revenue"])
        _add_summary(tx, campaign_id, row["store_id"], False, *(-f for f in figures))
        _add_summary(tx, campaign_id, row["store_id"], True, *figures)


SALES = """
    WITH p AS (
        SELECT p.id, p.merchant_id, p.store_id, p.currency, p.amount, (p.created_at AT TIME ZONE 'UTC')::date AS day,
               coalesce(%(buyer)s, CASE WHEN p.customer_id IS NULL THEN 'anonymous' WHEN r.customer_id IS NULL
                                        THEN 'other' ELSE 'redeemer' END) AS buyer,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 1) OVER at_store AS s1,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 2) OVER at_store AS s2,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 1) OVER anywhere AS m1,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 2) OVER anywhere AS m2
        FROM purchases p LEFT JOIN merchant_redeemers r ON r.merchant_id = p.merchant_id
             AND r.customer_id = p.customer_id
        WHERE {where}
        WINDOW at_store AS (PARTITION BY p.customer_id, p.store_id, p.currency ORDER BY p.created_at, p.id),
               anywhere AS (PARTITION BY p.customer_id, p.currency ORDER BY p.created_at, p.id))
    INSERT INTO store_sales (merchant_id, store_id, currency, day, buyer, prev_day, prev2_day, purchases, revenue)
    SELECT merchant_id, store_id, currency, day, buyer, prev_day, prev2_day, %(sign)s * count(*),
           %(sign)s * sum(amount) FROM (
        SELECT id, merchant_id, store_id, currency, amount, day, buyer,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(s1, '-infinity') END AS prev_day,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(s2, '-infinity') END AS prev2_day FROM p
        UNION ALL
        SELECT id, merchant_id, %(all)s, currency, amount, day, buyer,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(m1, '-infinity') END,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(m2, '-infinity') END FROM p) x
    WHERE {only}
    GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (merchant_id, store_id, currency, day, buyer, prev_day, prev2_day) DO UPDATE SET
        purchases = store_sales.purchases + EXCLUDED.purchases, revenue = store_sales.revenue + EXCLUDED.revenue"""


def _add_sales(tx, where, params, only="true", buyer=None, sign=1):
    """Add (``sign`` -1: take away) the ``store_sales`` rows of the purchases ``where`` selects (of
    those, only the ones ``only`` keeps), as ``buyer`` when given, else as the customer is now."""
    tx.execute(SALES.format(where=where, only=only), dict(params, buyer=buyer, sign=sign, all=NO_STORE))


def rebuild_store_sales(tx, merchant_id):
    """Recompute a merchant's ``store_sales`` from its purchases (set-based)."""
    tx.execute("DELETE FROM store_sales WHERE merchant_id = %s", (merchant_id,))
    _add_sales(tx, "p.merchant_id = %(merchant)s", {"merchant": merchant_id})


def rebuild(tx, campaign_id):
    """Recompute a campaign's purchase figures from the purchases in its window and stores."""
    for table in ("campaign_customer_stats", "campaign_store_summary", "campaign_daily_sales"):
        tx.execute("DELETE FROM %s WHERE campaign_id = %%s" % table, (campaign_id,))
    window = ("FROM purchases p JOIN campaigns c ON c.id = %(c)s WHERE p.merchant_id = c.merchant_id "
              "AND p.created_at >= c.valid_from AND (c.valid_until IS NULL OR p.created_at < c.valid_until) "
              "AND (c.store_ids IS NULL OR p.store_id = ANY(c.store_ids))")
    tx.execute("INSERT INTO campaign_customer_stats (campaign_id, customer_id, store_id, purchases, revenue) "
               "SELECT %(c)s, p.customer_id, coalesce(p.store_id, %(none)s), count(*), sum(p.amount) " + window +
               " AND p.customer_id IS NOT NULL GROUP BY GROUPING SETS ((p.customer_id, p.store_id), (p.customer_id))",
               {"c": campaign_id, "none": NO_STORE})
    day = "(p.created_at AT TIME ZONE 'UTC')::date"
    tx.execute("INSERT INTO campaign_daily_sales (campaign_id, store_id, day, purchases, revenue) "
               "SELECT %(c)s, coalesce(p.store_id, %(none)s), " + day + ", count(*), sum(p.amount) " + window +
               " GROUP BY GROUPING SETS ((p.store_id, " + day + "), (" + day + "))",
               {"c": campaign_id, "none": NO_STORE})
    tx.execute("INSERT INTO campaign_store_summary (campaign_id, store_id, redeemer, buyers, repeat_buyers, purchases, "
               "revenue) SELECT %(c)s, s.store_id, r.customer_id IS NOT NULL, count(*), "
               "count(*) FILTER (WHERE s.purchases >= 2), sum(s.purchases), sum(s.revenue) "
               "FROM campaign_customer_stats s LEFT JOIN campaign_redeemers r ON r.campaign_id = s.campaign_id "
               "AND r.customer_id = s.customer_id WHERE s.campaign_id = %(c)s GROUP BY s.store_id, 3",
               {"c": campaign_id})


def _rate(part, whole):
    return round(part / whole, 4) if whole else None


def _group(rows):
    buyers = sum(r["buyers"] for r in rows)
    return {"customers": buyers, "purchases": sum(r["purchases"] for r in rows),
            "revenue": sum(r["revenue"] for r in rows),
            "repeat_purchase_rate": _rate(sum(r["repeat_buyers"] for r in rows), buyers)}


def figures(campaign, summary, daily, sales, forecast):
    """The analytics answer from the pre-aggregated rows (pure: tested against a hand-computed fixture)."""
    def store_part(store_id):
        rows = [r for r in summary if str(r["store_id"]) == store_id]
        redeemers = _group([r for r in rows if r["redeemer"]])
        others = _group([r for r in rows if not r["redeemer"]])
        return {"redeemers": redeemers, "non_redeemers": others,
                "repeat_purchase_rate": {"redeemers": redeemers["repeat_purchase_rate"],
                                         "non_redeemers": others["repeat_purchase_rate"]}}

    stores = sorted({str(r["store_id"]) for r in summary + daily + sales} - {NO_STORE})
    by_day = {}
    for row in daily:
        line = by_day.setdefault(row["day"], {"issued": 0, "redeemed": 0, "discount_cost": 0, "purchases": 0,
                                              "revenue": 0})
        line["issued"] += row["issued"]
        line["redeemed"] += row["redeemed"]
        line["discount_cost"] += row["discount"]
    for row in sales:
        if str(row["store_id"]) == NO_STORE:
            line = by_day.setdefault(row["day"], {"issued": 0, "redeemed": 0, "discount_cost": 0, "purchases": 0,
                                                  "revenue": 0})
            line["purchases"] += row["purchases"]
            line["revenue"] += row["revenue"]
    store_lines = []
    for store_id in stores:
        redeemed = [r for r in daily if str(r["store_id"]) == store_id]
        sold = [r for r in sales if str(r["store_id"]) == store_id]
        store_lines.append(dict(
            store_part(store_id), store_id=store_id, redeemed=sum(r["redeemed"] for r in redeemed),
            discount_cost=sum(r["discount"] for r in redeemed), purchases=sum(r["purchases"] for r in sold),
            revenue=sum(r["revenue"] for r in sold)))
    overall = store_part(NO_STORE)
    return dict(
        overall, campaign_id=str(campaign["id"]), currency=campaign["currency"].strip(), status=campaign["status"],
        issued=campaign["issued_count"], redeemed=campaign["redeemed_count"],
        redemption_rate=_rate(campaign["redeemed_count"], campaign["issued_count"]),
        discount_cost=campaign["spent"], budget=campaign["budget"], committed=campaign["committed"],
        budget_used=_rate(campaign["spent"], campaign["budget"]),
        forecast={"exhausted_at": forecast["exhausted_at"].isoformat() if forecast["exhausted_at"] else None,
                  "pace_per_day": forecast["pace_per_day"]},
        stores=store_lines,
        daily=[dict(line, day=day.isoformat()) for day, line in sorted(by_day.items())])


def read(svc, campaign_id, query):
    identity = svc.caller.require(*MERCHANT_STAFF)
    query = load(AnalyticsQuery, query or {})
    campaign = campaign_of(svc, identity, campaign_id, query["merchant_id"])
    now = utcnow()
    summary = svc.db.all("SELECT store_id, redeemer, buyers, repeat_buyers, purchases, revenue "
                         "FROM campaign_store_summary WHERE campaign_id = %s", (campaign["id"],))
    daily = svc.db.all("SELECT store_id, day, issued, redeemed, discount FROM campaign_daily WHERE campaign_id = %s",
                       (campaign["id"],))
    sales = svc.db.all("SELECT store_id, day, purchases, revenue FROM campaign_daily_sales WHERE campaign_id = %s",
                       (campaign["id"],))
    spend = {}
    for row in daily:
        if row["day"] >= now.date() - timedelta(days=domain.FORECAST_DAYS):
            spend[row["day"]] = spend.get(row["day"], 0) + row["discount"]
    answer = figures(campaign, summary, daily, sales, domain.forecast(campaign, spend, now))
    if query["store_id"]:
        answer["stores"] = [s for s in answer["stores"] if s["store_id"] == query["store_id"]]
    return answer


# -- per store (or merchant-wide) across campaigns ---------------------------------------------------
def store_figures(sales, daily):
    """A store's (or merchant's) answer over a range (pure: tested against a hand-computed fixture).

    ``sales``: per day and buyer (``redeemer``, ``other``, ``anonymous``), purchases and revenue, and
    ``buyers`` / ``repeat_buyers``: the purchases that were a customer's first / second in the range.
    ``daily``: per day, vouchers issued, redeemed and the discount.

    The repeat-purchase rate is judged per customer over the whole range, whatever the campaign:
    of the customers who bought there in the range, the share who bought there twice or more.
    A customer is a redeemer when they have redeemed a voucher of any of the merchant's campaigns
    (anywhere, at any time, as a campaign's own figures count them): all their purchases in the
    range count as a redeemer's. A customer counts once however many campaigns reached them, so
    the figures are not the sum of the campaigns' (whose windows overlap and share customers).
    """
    def group(buyer):
        rows = [r for r in sales if r["buyer"] == buyer]
        buyers = sum(r["buyers"] for r in rows)
        return {"customers": buyers, "purchases": sum(r["purchases"] for r in rows),
                "revenue": sum(r["revenue"] for r in rows),
                "repeat_purchase_rate": _rate(sum(r["repeat_buyers"] for r in rows), buyers)}

    by_day = {}
    for row in daily:
        by_day[row["day"]] = {"issued": row["issued"], "redeemed": row["redeemed"], "discount_cost": row["discount"],
                              "purchases": 0, "revenue": 0}
    for row in sales:
        line = by_day.setdefault(row["day"], {"issued": 0, "redeemed": 0, "discount_cost": 0, "purchases": 0,
                                              "revenue": 0})
        line["purchases"] += row["purchases"]
        line["revenue"] += row["revenue"]
    issued, redeemed = sum(r["issued"] for r in daily), sum(r["redeemed"] for r in daily)
    redeemers, others = group("redeemer"), group("other")
    return {"issued": issued, "redeemed": redeemed, "redemption_rate": _rate(redeemed, issued),
            "discount_cost": sum(r["discount"] for r in daily), "purchases": sum(r["purchases"] for r in sales),
            "revenue": sum(r["revenue"] for r in sales), "redeemers": redeemers, "non_redeemers": others,
            "repeat_purchase_rate": {"redeemers": redeemers["repeat_purchase_rate"],
                                     "non_redeemers": others["repeat_purchase_rate"]},
            "daily": [dict(line, day=day) for day, line in sorted(by_day.items())]}


def read_store(svc, query):
    """A store's figures (a store user: their own store's; no store: the whole merchant's) across
    the merchant's campaigns from ``since`` to ``until`` (UTC days, both included). Vouchers issued
    are those of the campaigns that run at the store, as issuance names no store."""
    identity = svc.caller.require(*MERCHANT_STAFF)
    query = load(StoreAnalyticsQuery, query or {})
    merchant_id = identity.merchant_scope(query["merchant_id"])
    store_id = query["store_id"]
    if identity.role == STORE_USER:
        if store_id and store_id != identity.store_id:
            raise Forbidden("You see your own store's figures only", code="store_forbidden")
        store_id = identity.store_id
    until = query["until"] or utcnow().date()
    since = query["since"] or until - timedelta(days=29)
    if until < since or (until - since).days >= MAX_ANALYTICS_DAYS:  # the schema checks them when both are given
        raise ValidationFailed("Some query parameters are not valid", code="validation_failed", fields={
            "since": ["Up to %d days, ending on or after since (until: default today)." % MAX_ANALYTICS_DAYS]})
    args = {"merchant": merchant_id, "store": store_id or NO_STORE, "any": store_id is None, "since": since,
            "until": until, "currency": query["currency"]}
    currency = query["currency"] or _currency(svc, args)
    args["currency"] = currency
    sales = svc.db.all(
        "SELECT day, buyer, sum(purchases) AS purchases, sum(revenue) AS revenue, "
        "coalesce(sum(purchases) FILTER (WHERE prev_day < %(since)s), 0) AS buyers, "
        "coalesce(sum(purchases) FILTER (WHERE prev_day >= %(since)s AND prev2_day < %(since)s), 0) AS repeat_buyers "
        "FROM store_sales WHERE merchant_id = %(merchant)s AND store_id = %(store)s AND currency = %(currency)s "
        "AND day BETWEEN %(since)s AND %(until)s GROUP BY day, buyer", args)
    daily = svc.db.all(
        "SELECT d.day, coalesce(sum(d.issued) FILTER (WHERE %(any)s OR c.store_ids IS NULL "
        "OR %(store)s = ANY(c.store_ids)), 0) AS issued, "
        "coalesce(sum(d.redeemed) FILTER (WHERE %(any)s OR d.store_id = %(store)s), 0) AS redeemed, "
        "coalesce(sum(d.discount) FILTER (WHERE %(any)s OR d.store_id = %(store)s), 0) AS discount "
        "FROM campaigns c JOIN campaign_daily d ON d.campaign_id = c.id WHERE c.merchant_id = %(merchant)s "
        "AND c.currency = %(currency)s AND d.day BETWEEN %(since)s AND %(until)s GROUP BY d.day", args)
    answer = dict(store_figures(sales, daily), merchant_id=merchant_id, store_id=store_id, currency=currency,
                  since=since, until=until)
    return StoreAnalyticsSchema().dump(answer)


def _currency(svc, args):
    """The one currency of the merchant's campaigns and this store's purchases in the range (None:
    nothing at all); more than one must be chosen."""
    found = [row["currency"].strip() for row in svc.db.all(
        "SELECT currency FROM campaigns WHERE merchant_id = %(merchant)s UNION SELECT DISTINCT currency "
        "FROM store_sales WHERE merchant_id = %(merchant)s AND store_id = %(store)s "
        "AND day BETWEEN %(since)s AND %(until)s", args)]
    if len(found) > 1:
        raise ValidationFailed("These figures are in %s: say which currency" % ", ".join(sorted(found)),
                               code="currency_required", fields={"currency": ["One of %s." % ", ".join(sorted(found))]})
    return found[0] if found else None
