"""A platform admin reverses a redemption for a merchant it names (support escalations, disputes),
and the redemption record and the voucher's history say the admin did it."""
from tests.integration.conftest import ok, wait_for


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def issue(system, shop, **fields):
    body = dict({"kind": "stored_value", "currency": "ZAR", "value": 5000}, **fields)
    return ok(system.post("/api/v1/vouchers", shop["tokens"]["owner"], json=body), 201)


def test_a_platform_admin_reverses_a_redemption_for_a_named_merchant(system, onboard):
    shop, other = onboard(), onboard()
    voucher = issue(system, shop, value=4000)
    record = ok(system.post("/api/v1/redemptions", shop["tokens"]["store_user"],
                            json={"code": voucher["code"], "channel": "pos", "amount": 2500}), 201)
    admin = shop["admin"]
    url = "/api/v1/redemptions/%s/reversal" % record["id"]
    unnamed = system.post(url, admin, json={"reason": "duplicate charge reported to platform support"})
    assert error_of(unnamed, 403)["code"] == "merchant_required"
    wrong = system.post(url + "?merchant_id=" + other["merchant"]["id"], admin, json={"reason": "wrong merchant"})
    assert error_of(wrong, 404)["code"] == "redemption_not_found"
    reversed_ = ok(system.post(url + "?merchant_id=" + shop["merchant"]["id"], admin,
                               json={"reason": "duplicate charge reported to platform support"}))
    assert reversed_["status"] == "reversed" and reversed_["voucher_balance"] == 4000
    assert reversed_["reversed_by"]["role"] == "admin"
    assert reversed_["reversed_by"]["acting_for_merchant"] == shop["merchant"]["id"]
    assert reversed_["reversal_reason"] == "duplicate charge reported to platform support"
    # the voucher's history says who undid it, and why (read by the owner)
    history = ok(system.get("/api/v1/vouchers/" + voucher["code"], shop["tokens"]["owner"]))["history"]
    last = history[-1]
    assert last["actor"]["role"] == "admin" and last["actor"]["acting_for_merchant"] == shop["merchant"]["id"]
    assert record["reference"] in last["reason"] and "platform admin" in last["reason"]
    # owners may not name another merchant
    foreign = system.post(url + "?merchant_id=" + shop["merchant"]["id"], other["tokens"]["owner"],
                          json={"reason": "not mine"})
    assert error_of(foreign, 403)["code"] == "merchant_forbidden"
    # and settlement adjusts as for an owner's reversal
    finance = shop["tokens"]["finance"]
    assert wait_for(lambda: sorted(e["kind"] for e in ok(system.get(
        "/api/v1/settlements/entries?redemption_id=%s" % record["id"], finance))["items"]) == ["redemption", "reversal"])
