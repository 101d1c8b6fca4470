"""Customers, purchases (the portal's Transactions), points earned by the campaigns' rules, tiers,
segments and issuance to them, through the gateway against the real services."""
from datetime import datetime, timedelta, timezone

from tests.integration.conftest import active_campaign, ok, wait_for


def error_of(response, status):
    assert response.status_code == status, "%s %s -> %s %s" % (
        response.request.method, response.request.url, response.status_code, response.text)
    return response.json()["error"]


def customer(system, token, **fields):
    return ok(system.post("/api/v1/customers", token, json=dict({"name": "Naledi Khumalo"}, **fields)), 201)


def purchase(system, token, status=201, **fields):
    body = {"amount": 25000, "currency": "ZAR", "receipt_id": "R-%s" % datetime.now().strftime("%H%M%S%f")}
    body.update(fields)
    return ok(system.post("/api/v1/purchases", token, json=body), status)


def test_customers_are_found_by_phone_email_or_member_id_and_updated(system, onboard):
    shop, other = onboard(), onboard()
    owner, till = shop["tokens"]["owner"], shop["tokens"]["store_user"]
    naledi = customer(system, till, phone="+27 82 555-0101", email="Naledi@Example.com", tags=["vip"],
                      email_consent=True)
    assert (naledi["phone"], naledi["tier"], naledi["member_id"][0]) == ("+27825550101", "member", "M")
    for query in ("phone=%2B27825550101", "email=naledi@example.com", "member_id=" + naledi["member_id"], "tag=vip"):
        assert [c["id"] for c in ok(system.get("/api/v1/customers?" + query, owner))["items"]] == [naledi["id"]]
    assert ok(system.get("/api/v1/customers?phone=%2B27825550101", other["tokens"]["owner"]))["items"] == []
    updated = ok(system.request("PATCH", "/api/v1/customers/" + naledi["id"], owner,
                                json={"tags": ["vip", "lapsed"], "email_consent": False}))
    assert (updated["tags"], updated["email_consent"]) == (["vip", "lapsed"], False)
    contact = ok(system.get("/api/v1/customers/%s/contact" % naledi["id"], shop["tokens"]["support_agent"]))
    assert contact == {"customer_id": naledi["id"], "merchant_id": shop["merchant"]["id"], "name": "Naledi Khumalo",
                       "email": "Naledi@Example.com", "phone": "+27825550101", "email_consent": False}
    assert error_of(system.get("/api/v1/customers/%s/contact" % naledi["id"], other["tokens"]["owner"]), 404)
    bad = system.post("/api/v1/customers", owner, json={"name": "X", "phone": "call me", "email": "nope",
                                                          "tags": ["#!"]})
    assert set(error_of(bad, 422)["fields"]) >= {"phone", "email", "tags.0"}
    taken = system.post("/api/v1/customers", owner, json={"name": "Y", "member_id": naledi["member_id"]})
    assert error_of(taken, 409)["fields"] == {"member_id": ["Already taken."]}


def test_a_purchase_counts_once_earns_points_and_moves_the_tier(system, onboard):
    shop = onboard()
    owner, till = shop["tokens"]["owner"], shop["tokens"]["store_user"]
    points = ok(system.post("/api/v1/campaigns", owner, json={
        "name": "Double points", "currency": "ZAR", "goal": "repeat_purchase",
        "reward": {"type": "points", "points_per_unit": 1, "multiplier_pct": 200}}), 201)
    ok(system.post("/api/v1/campaigns/%s/activation" % points["id"], owner))
    thandi = customer(system, till, name="Thandi")

    first = purchase(system, till, customer_id=thandi["id"], amount=25050, receipt_id="R-1",
                     items=[{"sku": "MILK", "name": "Milk 2L", "quantity": 2, "amount": 5050},
                            {"name": "Bread", "amount": 20000}])
    assert (first["store_id"], first["points_earned"], first["replayed"]) == (shop["store_id"], 500, False)
    replay = purchase(system, till, 201, customer_id=thandi["id"], amount=25050, receipt_id="R-1",
                      items=[{"sku": "MILK", "name": "Milk 2L", "quantity": 2, "amount": 5050},
                             {"name": "Bread", "amount": 20000}])
    assert (replay["id"], replay["replayed"]) == (first["id"], True)
    conflict = system.post("/api/v1/purchases", till, json={"amount": 1, "currency": "ZAR", "receipt_id": "R-1",
                                                             "customer_id": thandi["id"]})
    assert error_of(conflict, 409)["code"] == "receipt_conflict"
    # the same receipt number at another store is another purchase
    kiosk = shop["stores"]["Canal Walk Kiosk"]
    assert error_of(system.post("/api/v1/purchases", till, json={
        "amount": 100, "currency": "ZAR", "receipt_id": "R-1", "store_id": kiosk}), 403)["code"] == "store_forbidden"
    other_store = purchase(system, owner, customer_id=thandi["id"], amount=100000, receipt_id="R-1", store_id=kiosk)
    assert other_store["points_earned"] == 2200  # 1000 units x 1 x 2, +10%: this purchase made them silver
    page = ok(system.get("/api/v1/customers/" + thandi["id"], owner))
    assert (page["visits"], page["total_spend"], page["tier"]) == (2, 125050, "silver")
    assert page["points"]["balance"] == 2700 and [p["receipt_id"] for p in page["purchases"]] == ["R-1", "R-1"]
    assert page["vouchers"] == []
    third = purchase(system, till, customer_id=thandi["id"], amount=10000, receipt_id="R-3")
    assert third["points_earned"] == 220  # silver: 10% more
    history = ok(system.get("/api/v1/customers/%s/points?limit=2" % thandi["id"], owner))
    assert [(line["kind"], line["points"]) for line in history["items"]] == [("earn", 220), ("earn", 2200)]
    assert history["next"] and history["expiring"][0]["points"] == 500
    rest = ok(system.get("/api/v1/customers/%s/points?cursor=%s" % (thandi["id"], history["next"]), owner))
    assert [line["reference"] for line in rest["items"]] == ["purchase:" + first["id"]]

    # a customer-less purchase (anonymous) is recorded too; a bad one is a clear 4xx
    assert purchase(system, till, receipt_id="R-anon")["customer_id"] is None
    bad = system.post("/api/v1/purchases", till, json={"amount": 0, "currency": "ZAR", "receipt_id": " bad"})
    assert set(error_of(bad, 422)["fields"]) >= {"amount", "receipt_id"}
    assert error_of(system.post("/api/v1/purchases", shop["tokens"]["finance"], json={
        "amount": 5, "currency": "ZAR", "receipt_id": "R-9"}), 403)["code"] == "role_not_allowed"
    listed = ok(system.get("/api/v1/purchases", till))["items"]
    assert {p["store_id"] for p in listed} == {shop["store_id"]}
    assert len(ok(system.get("/api/v1/customers/%s/purchases" % thandi["id"], owner))["items"]) == 3


def test_a_segment_gets_the_campaigns_voucher_in_the_background_within_limits(system, onboard):
    shop = onboard()
    owner, till = shop["tokens"]["owner"], shop["tokens"]["store_user"]
    regulars = [customer(system, till, name="Regular %d" % i, tags=["regular"]) for i in range(4)]
    customer(system, till, name="Newcomer")
    segment = ok(system.post("/api/v1/segments", owner, json={"name": "Regulars", "rules": {"tags": ["regular"]}}),
                 201)
    assert segment["size"] == 4
    promo = ok(system.post("/api/v1/campaigns", owner, json={
        "name": "Thank you", "currency": "ZAR", "budget": 1500, "per_customer_limit": 1,
        "audience": {"segment_id": segment["id"]},
        "reward": {"type": "voucher", "kind": "discount_fixed", "value": 500, "valid_days": 30}}), 201)
    ok(system.post("/api/v1/campaigns/%s/activation" % promo["id"], owner))
    job = ok(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner, json={"target": "segment"}), 202)
    assert (job["requested"], job["status"]) == (4, "queued")
    done = wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
        ok(system.get("/api/v1/campaigns/%s/issuance/%s" % (promo["id"], job["id"]), owner))), timeout=30)
    assert (done["issued"], done["skipped"]) == (3, 1)  # the budget holds three of 500
    assert "campaign_budget_exceeded" in done["last_error"]
    read = ok(system.get("/api/v1/campaigns/" + promo["id"], owner))
    assert (read["committed"], read["issued_count"]) == (1500, 3)
    # one of them again: their limit is reached (and the budget is spent anyway)
    again = ok(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner,
                           json={"target": "customer", "customer_id": regulars[0]["id"]}), 202)
    finished = wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
        ok(system.get("/api/v1/campaigns/%s/issuance/%s" % (promo["id"], again["id"]), owner))), timeout=30)
    assert (finished["issued"], finished["skipped"]) == (0, 1)
    vouchers = [c for c in regulars if ok(system.get("/api/v1/customers/" + c["id"], owner))["vouchers"]]
    assert len(vouchers) == 3
    assert error_of(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner, json={"target": "codes"}),
                    422)["fields"] == {"count": ["Required for anonymous codes."]}
    assert error_of(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], till, json={
        "target": "codes", "count": 2}), 403)


def test_a_job_retried_after_a_crash_issues_its_customer_one_voucher_not_two(system, onboard, db_query):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    person = customer(system, owner, name="Once Only")
    promo = active_campaign(system, owner, name="No limit", budget=5000, reward={
        "type": "voucher", "kind": "discount_fixed", "value": 500, "valid_days": 30})

    def completed(job_id):
        return wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
            ok(system.get("/api/v1/campaigns/%s/issuance/%s" % (promo["id"], job_id), owner))), timeout=30)
    job = ok(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner,
                         json={"target": "customer", "customer_id": person["id"]}), 202)
    assert completed(job["id"])["issued"] == 1
    [[voucher_id]] = db_query("SELECT voucher_id::text FROM campaign.issuance_job_items WHERE job_id = %s", (job["id"],))
    # what a crash after redemption issued, before campaign committed, leaves: the customer pending again
    db_query("UPDATE campaign.issuance_job_items SET status = 'pending', voucher_id = NULL WHERE job_id = %s",
             (job["id"],))
    db_query("UPDATE campaign.issuance_jobs SET status = 'queued', issued = 0 WHERE id = %s", (job["id"],))
    assert completed(job["id"])["issued"] == 1
    assert db_query("SELECT voucher_id::text FROM campaign.issuance_job_items WHERE job_id = %s",
                    (job["id"],)) == [(voucher_id,)]
    assert [v["id"] for v in ok(system.get("/api/v1/customers/" + person["id"], owner))["vouchers"]] == [voucher_id]
    assert ok(system.get("/api/v1/campaigns/" + promo["id"], owner))["committed"] == 500


def test_anonymous_codes_are_a_batch_within_the_budget(system, onboard):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    promo = ok(system.post("/api/v1/campaigns", owner, json={
        "name": "Flyers", "currency": "ZAR", "max_vouchers": 50,
        "valid_until": (datetime.now(timezone.utc) + timedelta(days=10)).isoformat(),
        "reward": {"type": "voucher", "kind": "discount_percent", "percent_bp": 1000, "cap": 2000}}), 201)
    ok(system.post("/api/v1/campaigns/%s/activation" % promo["id"], owner))
    too_many = ok(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner,
                              json={"target": "codes", "count": 51}), 202)
    failed = wait_for(lambda: (lambda j: j if j["status"] == "failed" else None)(
        ok(system.get("/api/v1/campaigns/%s/issuance/%s" % (promo["id"], too_many["id"]), owner))), timeout=30)
    assert "50" in failed["last_error"]
    job = ok(system.post("/api/v1/campaigns/%s/issuance" % promo["id"], owner,
                         json={"target": "codes", "count": 40}), 202)
    done = wait_for(lambda: (lambda j: j if j["status"] == "completed" and j["issued"] == 40 else None)(
        ok(system.get("/api/v1/campaigns/%s/issuance/%s" % (promo["id"], job["id"]), owner))), timeout=60)
    assert done["redemption_job_id"]
    assert ok(system.get("/api/v1/campaigns/" + promo["id"], owner))["issued_count"] == 40


def test_every_new_route_is_scoped_to_the_merchant_and_refuses_bad_input(system, onboard):
    shop, other = onboard(), onboard()
    owner, stranger = shop["tokens"]["owner"], other["tokens"]["owner"]
    person = customer(system, owner)
    segment = ok(system.post("/api/v1/segments", owner, json={"name": "Big spenders", "rules": {"min_spend": 1}}), 201)
    promo = ok(system.post("/api/v1/campaigns", owner, json={"name": "Scoped", "currency": "ZAR", "budget": 1000}),
               201)
    forecast = ok(system.get("/api/v1/campaigns/%s/forecast" % promo["id"], shop["tokens"]["finance"]))
    assert (forecast["exhausted_at"], forecast["remaining"], forecast["pace_per_day"]) == (None, 1000, 0)
    for method, path, body in (
            ("GET", "/api/v1/customers/" + person["id"], None),
            ("PATCH", "/api/v1/customers/" + person["id"], {"tags": ["mine"]}),
            ("GET", "/api/v1/customers/%s/contact" % person["id"], None),
            ("GET", "/api/v1/customers/%s/points" % person["id"], None),
            ("GET", "/api/v1/customers/%s/purchases" % person["id"], None),
            ("GET", "/api/v1/segments/" + segment["id"], None),
            ("GET", "/api/v1/campaigns/%s/analytics" % promo["id"], None),
            ("GET", "/api/v1/campaigns/%s/forecast" % promo["id"], None),
            ("PATCH", "/api/v1/campaigns/" + promo["id"], {"name": "Taken over"}),
            ("POST", "/api/v1/campaigns/%s/issuance" % promo["id"], {"target": "codes", "count": 1})):
        response = system.request(method, path, stranger, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    assert error_of(system.post("/api/v1/purchases", stranger, json={
        "amount": 100, "currency": "ZAR", "receipt_id": "R-x", "store_id": shop["store_id"],
        "customer_id": person["id"]}), 404)["code"] == "customer_not_found"
    assert ok(system.get("/api/v1/segments", stranger))["items"] == []
    # a store's figures across campaigns: another merchant's store is not found, a store user sees their own
    assert error_of(system.get("/api/v1/analytics?store_id=" + shop["store_id"], stranger), 404)["code"] == \
        "store_not_found"
    mine = ok(system.get("/api/v1/analytics", shop["tokens"]["store_user"]))
    assert (mine["store_id"], mine["merchant_id"], mine["purchases"]) == (shop["store_id"], shop["merchant"]["id"], 0)
    assert "until" in error_of(system.get("/api/v1/analytics?since=2026-05-02&until=2026-05-01", owner), 422)["fields"]
    for path, body, field in (
            ("/api/v1/segments", {"name": "Odd", "rules": {"min_visits": 5, "max_visits": 2}}, "rules.max_visits"),
            ("/api/v1/campaigns", {"name": "Odd", "currency": "ZAR", "reward": {"type": "points"}},
             "reward.points_per_unit"),
            ("/api/v1/campaigns", {"name": "Odd", "currency": "ZAR", "hours_from": "09:00"}, "hours_until")):
        assert field in error_of(system.post(path, owner, json=body), 422)["fields"], path
