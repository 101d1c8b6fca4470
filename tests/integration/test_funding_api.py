"""Money and trust through the gateway: the owner who tried to print money, refused.

Issue 6, items 1 and 4, as an attacker ran them: a campaign "funded by the platform" with no
budget, a voucher of 10^15 under it, and points credited a billion at a time by a till. Each
sequence must now end refused, and platform money must reach a merchant only through an
agreement the platform granted, never past its budget.
"""
import uuid

import eventlet
import pytest
import requests

from tests.integration.conftest import ok, wait_for


@pytest.fixture(scope="module")
def finance(platform_login):
    """Platform finance: grants funding, sets limits, approves large vouchers."""
    return platform_login("platform_finance")


def error_of(response, status):
    assert response.status_code == status, "%s %s -> %s %s" % (
        response.request.method, response.request.url, response.status_code, response.text)
    return response.json()["error"]


def all_at_once(system, token, path, bodies):
    """POST every body to ``path`` concurrently, each from its own HTTP client."""
    start = eventlet.event.Event()

    def client(body):
        session = requests.Session()
        start.wait()
        return session.post(system.url(path), json=body, timeout=60, headers={"Authorization": "Bearer " + token})

    pool = eventlet.GreenPool(len(bodies))
    results = [pool.spawn(client, body) for body in bodies]
    eventlet.sleep(0.1)
    start.send()
    return [result.wait() for result in results]


def grant(system, finance, shop, **fields):
    body = {"merchant_id": shop["merchant"]["id"], "funder_kind": "platform", "currency": "ZAR",
            "budget": 5500, "max_voucher_value": 1000}
    body.update(fields)
    return ok(system.post("/api/v1/funding-agreements", finance, json=body), 201)


def agreement_of(system, token, agreement):
    return ok(system.get("/api/v1/funding-agreements/" + agreement["id"], token))


# -- item 1: platform-funded money on demand --------------------------------------------------------
def test_an_owner_cannot_fund_its_own_campaign_with_platform_or_partner_money(system, onboard):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    platform = system.post("/api/v1/campaigns", owner, json={"name": "Money printer", "currency": "ZAR",
                                                             "funding": "platform"})
    assert error_of(platform, 403)["code"] == "funding_agreement_required"
    partner = system.post("/api/v1/campaigns", owner, json={"name": "Money printer", "currency": "ZAR",
                                                            "funding": "partner", "funder_name": "Anyone at all"})
    assert "funder_name" in error_of(partner, 422)["fields"]
    assert ok(system.get("/api/v1/campaigns", owner))["items"] == []


def test_only_the_platform_grants_funding_agreements(system, onboard, finance):
    shop = onboard()
    body = {"merchant_id": shop["merchant"]["id"], "funder_kind": "platform", "currency": "ZAR",
            "budget": 10 ** 15, "max_voucher_value": 10 ** 15}
    for role in ("owner", "finance"):
        refused = system.post("/api/v1/funding-agreements", shop["tokens"][role], json=body)
        assert error_of(refused, 403)["code"] == "role_not_allowed"
    nobody = system.post("/api/v1/funding-agreements", finance, json=dict(body, merchant_id=str(uuid.uuid4())))
    assert error_of(nobody, 404)["code"] == "merchant_not_found"
    agreement = grant(system, finance, shop)
    assert (agreement["merchant_id"], agreement["created_by"]["role"]) == (shop["merchant"]["id"], "platform_finance")
    listed = ok(system.get("/api/v1/funding-agreements", shop["tokens"]["owner"]))["items"]
    assert [a["id"] for a in listed] == [agreement["id"]]
    ended = system.post("/api/v1/funding-agreements/%s/end" % agreement["id"], shop["tokens"]["owner"],
                        json={"reason": "mine to end"})
    assert error_of(ended, 403)["code"] == "role_not_allowed"


def test_issuing_under_an_agreement_never_passes_its_budget(system, onboard, finance, db_query):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    agreement = grant(system, finance, shop)  # 5500, at most 1000 a voucher
    campaign = ok(system.post("/api/v1/campaigns", owner, json={
        "name": "Platform week", "currency": "ZAR", "funding_agreement_id": agreement["id"]}), 201)
    assert (campaign["funding"], campaign["funding_agreement_id"]) == ("platform", agreement["id"])
    ok(system.post("/api/v1/campaigns/%s/activation" % campaign["id"], owner))
    voucher = {"kind": "stored_value", "currency": "ZAR", "value": 1000, "campaign_id": campaign["id"]}

    too_big = system.post("/api/v1/vouchers", owner, json=dict(voucher, value=10 ** 15))
    assert error_of(too_big, 422)["code"] == "voucher_value_above_agreement_max"
    uncapped = system.post("/api/v1/vouchers", owner, json=dict(voucher, kind="discount_percent", value=None,
                                                                percent_bp=5000))
    assert error_of(uncapped, 422)["code"] == "percentage_cap_required"

    responses = all_at_once(system, owner, "/api/v1/vouchers", [voucher] * 10)
    assert sorted(r.status_code for r in responses) == [201] * 5 + [409] * 5
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"agreement_budget_exceeded"}
    issued = [r.json() for r in responses if r.status_code == 201]
    assert {v["funding_agreement_id"] for v in issued} == {agreement["id"]}
    assert db_query("SELECT count(*) FROM redemption.vouchers WHERE funding_agreement_id = %s",
                    (agreement["id"],)) == [(5,)]
    now = agreement_of(system, owner, agreement)
    assert (now["committed"], now["remaining"]) == (5000, 500)

    batch = dict(voucher, count=6, value=100)
    assert error_of(system.post("/api/v1/vouchers/batches", owner, json=batch), 409)["code"] \
        == "agreement_budget_exceeded"
    ok(system.post("/api/v1/vouchers/batches", owner, json=dict(batch, count=5)), 202)
    assert agreement_of(system, owner, agreement)["remaining"] == 0

    # what is redeemed is booked against the agreement, not a campaign the merchant made up
    record = ok(system.post("/api/v1/redemptions", shop["tokens"]["store_user"],
                            json={"code": issued[0]["code"], "channel": "pos"}), 201)
    entries = wait_for(lambda: ok(system.get("/api/v1/settlements/entries?redemption_id=%s" % record["id"],
                                             shop["tokens"]["finance"]))["items"])
    # the platform pays for it under its agreement, and owes the redeeming store (no commission here)
    assert ("platform_funding:%s" % agreement["id"], 1000) in [(p["account"], p["amount"]) for p in entries[0]["postings"]]
    assert entries[0]["payable"] == 1000

    # a cancelled voucher gives its unused value back to the agreement, once
    ok(system.post("/api/v1/vouchers/%s/cancellation" % issued[1]["code"], owner, json={"reason": "misprinted"}))
    assert wait_for(lambda: agreement_of(system, owner, agreement)["remaining"] == 1000)
    ok(system.post("/api/v1/vouchers", owner, json=voucher), 201)
    assert error_of(system.post("/api/v1/vouchers", owner, json=voucher), 409)["code"] == "agreement_budget_exceeded"


def test_a_suspended_agreement_funds_no_new_vouchers(system, onboard, finance):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    agreement = grant(system, finance, shop, funder_kind="partner", funder_name="Acme Rewards")
    campaign = ok(system.post("/api/v1/campaigns", owner, json={
        "name": "Acme week", "currency": "ZAR", "funding_agreement_id": agreement["id"]}), 201)
    assert (campaign["funding"], campaign["funder_name"]) == ("partner", "Acme Rewards")
    ok(system.post("/api/v1/campaigns/%s/activation" % campaign["id"], owner))
    ok(system.post("/api/v1/funding-agreements/%s/suspension" % agreement["id"], finance,
                   json={"reason": "partner has not paid"}))
    refused = system.post("/api/v1/vouchers", owner, json={"kind": "discount_fixed", "currency": "ZAR",
                                                           "value": 500, "campaign_id": campaign["id"]})
    assert error_of(refused, 409)["code"] == "agreement_not_active"
    history = agreement_of(system, owner, agreement)["history"]
    assert [(h["action"], h["actor"]["role"], h["reason"]) for h in history] == [
        ("created", "platform_finance", None), ("suspend", "platform_finance", "partner has not paid")]


def test_vouchers_above_the_ceiling_need_the_platforms_approval(system, onboard, finance):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    merchant_limits = "/api/v1/merchant-limits/" + shop["merchant"]["id"]
    stored = {"kind": "stored_value", "currency": "ZAR"}
    # the voucher of the report, merchant-funded this time: above the default ceiling
    assert error_of(system.post("/api/v1/vouchers", owner, json=dict(stored, value=10 ** 15)), 403)["code"] \
        == "platform_approval_required"

    raised = system.put(merchant_limits, owner, json={"voucher_value_ceiling": 10 ** 15, "reason": "trust me"})
    assert error_of(raised, 403)["code"] == "role_not_allowed"
    ok(system.put(merchant_limits, finance, json={"voucher_value_ceiling": 10000, "reason": "new merchant"}))
    assert ok(system.get(merchant_limits, owner))["voucher_value_ceiling"] == 10000
    ok(system.post("/api/v1/vouchers", owner, json=dict(stored, value=10000)), 201)
    assert error_of(system.post("/api/v1/vouchers", owner, json=dict(stored, value=10001)), 403)["code"] \
        == "platform_approval_required"

    approval = ok(system.post("/api/v1/issuance-approvals", owner, json={
        "currency": "ZAR", "value": 20000, "count": 1, "reason": "corporate gift card"}), 201)
    assert approval["status"] == "pending"
    self_approved = system.post("/api/v1/issuance-approvals/%s/approval" % approval["id"], owner,
                                json={"note": "looks fine to me"})
    assert error_of(self_approved, 403)["code"] == "role_not_allowed"
    large = dict(stored, value=20000, approval_id=approval["id"])
    assert error_of(system.post("/api/v1/vouchers", owner, json=large), 403)["code"] == "approval_pending"
    ok(system.post("/api/v1/issuance-approvals/%s/approval" % approval["id"], finance,
                   json={"note": "confirmed with the owner by phone"}))
    ok(system.post("/api/v1/vouchers", owner, json=large), 201)
    assert error_of(system.post("/api/v1/vouchers", owner, json=large), 409)["code"] == "approval_used_up"
    assert ok(system.get("/api/v1/issuance-approvals/" + approval["id"], owner))["status"] == "used"


# -- item 4: points from nothing -------------------------------------------------------------------
def test_points_come_only_from_an_owners_audited_adjustment(system, onboard, finance):
    shop = onboard()
    owner, till = shop["tokens"]["owner"], shop["tokens"]["store_user"]
    customer = ok(system.post("/api/v1/customers", till, json={"name": "Lerato"}), 201)
    points = "/api/v1/customers/%s/points" % customer["id"]

    for body in ({"points": 10 ** 9}, {"points": 10 ** 9, "reference": "x", "reason": "because"}):
        assert error_of(system.post(points, till, json=body), 403)["code"] == "role_not_allowed"
    by_finance = system.post(points, shop["tokens"]["finance"], json={"points": 10, "reference": "y",
                                                                      "reason": "because"})
    assert error_of(by_finance, 403)["code"] == "role_not_allowed"
    unreferenced = system.post(points, owner, json={"points": 500})
    assert {"reference", "reason"} <= set(error_of(unreferenced, 422)["fields"])
    billion = system.post(points, owner, json={"points": 10 ** 9, "reference": "big", "reason": "because"})
    assert error_of(billion, 409)["code"] == "points_daily_limit_exceeded"

    credited = ok(system.post(points, owner, json={"points": 500, "reference": "ORD-1001",
                                                   "reason": "order arrived late"}))
    assert credited["balance"] == 500
    again = system.post(points, owner, json={"points": 500, "reference": "ORD-1001", "reason": "order arrived late"})
    assert error_of(again, 409)["code"] == "reference_already_used"

    ok(system.put("/api/v1/merchant-limits/" + shop["merchant"]["id"], finance,
                  json={"daily_points_credit_limit": 1000, "reason": "pilot merchant"}))
    over = system.post(points, owner, json={"points": 501, "reference": "ORD-1002", "reason": "another late order"})
    assert error_of(over, 409)["code"] == "points_daily_limit_exceeded"
    ok(system.post(points, owner, json={"points": 500, "reference": "ORD-1002", "reason": "another late order"}))

    line = ok(system.get("/api/v1/customers/" + customer["id"], owner))["points"]["recent"][-1]
    assert (line["kind"], line["points"], line["reference"], line["reason"], line["actor"]["role"]) == (
        "adjust", 500, "ORD-1001", "order arrived late", "owner")
    assert ok(system.get("/api/v1/customers/" + customer["id"], owner))["points"]["balance"] == 1000
