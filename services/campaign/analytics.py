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
"""
from datetime import timedelta

from plumbing.auth import MERCHANT_STAFF
from plumbing.fields import utcnow
from plumbing.validation import load
from services.campaign import domain, storage
from services.campaign.campaigns import campaign_of
from services.campaign.contract.schemas import AnalyticsQuery

NO_STORE = storage.NO_STORE


def count_purchase(tx, purchase, now):
    """Add a purchase to the figures of every campaign of its merchant it counts for."""
    day = now.date()
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


def count_redeemer(tx, campaign_id, customer_id, at):
    """A customer's first redemption of a campaign's voucher makes them one of its redeemers: their
    figures so far move over (the customer's row is locked, as a purchase of theirs locks it)."""
    if storage.customer_by_id(tx, customer_id, lock=True) is None:
        return
    if tx.execute("INSERT INTO campaign_redeemers (campaign_id, customer_id, first_redeemed_at) VALUES (%s, %s, %s) "
                  "ON CONFLICT DO NOTHING", (campaign_id, customer_id, at)) != 1:
        return
    for row in tx.all("SELECT store_id, purchases, revenue FROM campaign_customer_stats WHERE campaign_id = %s "
                      "AND customer_id = %s", (campaign_id, customer_id)):
        figures = (int(row["purchases"] >= 1), int(row["purchases"] >= 2), row["purchases"], row["revenue"])
        _add_summary(tx, campaign_id, row["store_id"], False, *(-f for f in figures))
        _add_summary(tx, campaign_id, row["store_id"], True, *figures)


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
