"""Settlement in full through the gateway, every service running: who is owed what per funding
model (the commission read from the campaign service), reconciliation against redemption's records
over RPC, payouts by the development provider, statements, balances and the ledger check; the
reconciliation mismatch and unknown account exceptions produced for real."""
import csv
import io

import pytest

from tests.integration.conftest import active_campaign, ok, wait_for

B = "/api/v1/settlements"


@pytest.fixture(scope="module")
def system_config():
    return {"settlement": {"PAYOUT_COOLING_OFF_HOURS": 0}}


@pytest.fixture(scope="module")
def platform_finance(platform_login):
    return platform_login("platform_finance")


def agreement(system, platform_finance, m, funder_kind="platform", commission_bp=500):
    body = {"merchant_id": m["merchant"]["id"], "funder_kind": funder_kind, "currency": "ZAR", "budget": 1000000,
            "max_voucher_value": 50000, "commission_bp": commission_bp}
    if funder_kind == "partner":
        body["funder_name"] = "Acme Partners"
    return ok(system.post("/api/v1/funding-agreements", platform_finance, json=body), 201)


def voucher_under(system, m, granted, value):
    campaign = active_campaign(system, m["tokens"]["owner"], name="Funded week", funding_agreement_id=granted["id"])
    return ok(system.post("/api/v1/vouchers", m["tokens"]["owner"], json={
        "kind": "stored_value", "currency": "ZAR", "value": value, "campaign_id": campaign["id"]}), 201)


def redeem(system, till, voucher, amount):
    return ok(system.post("/api/v1/redemptions", till, json={
        "code": voucher["code"], "channel": "pos", "amount": amount}), 201)


def confirm_wallet(system, m, platform_finance):
    address = "wallet-" + m["merchant"]["id"][:8]
    ok(system.put(B + "/payout-account", m["tokens"]["owner"], json={"wallet_address": address}))
    ok(system.post(B + "/payout-account/confirmation", platform_finance, json={
        "merchant_id": m["merchant"]["id"], "wallet_address": address, "method": "call_note",
        "call_note": {"person": "The owner", "phone_number": "+27 21 555 0100", "read_back": address}}))
    return address


def entries_of(system, finance, count):
    return wait_for(lambda: (lambda items: items if len(items) >= count else None)(
        ok(system.get(B + "/entries", finance))["items"]))


def test_funded_redemptions_are_owed_netted_reconciled_and_paid_once(system, onboard, platform_finance):
    m = onboard()
    finance, till = m["tokens"]["finance"], m["tokens"]["store_user"]
    confirm_wallet(system, m, platform_finance)
    platform = voucher_under(system, m, agreement(system, platform_finance, m, commission_bp=500), 20000)
    partner = voucher_under(system, m, agreement(system, platform_finance, m, "partner", commission_bp=0), 8000)
    own = ok(system.post("/api/v1/vouchers", m["tokens"]["owner"], json={
        "kind": "stored_value", "currency": "ZAR", "value": 3000}), 201)
    first = redeem(system, till, platform, 10000)
    redeem(system, till, platform, 4000)
    redeem(system, till, partner, 8000)
    redeem(system, till, own, 3000)
    ok(system.post("/api/v1/redemptions/%s/reversal" % first["id"], m["tokens"]["owner"],
                   json={"reason": "customer returned the goods"}))
    entries_of(system, finance, 5)

    batch = ok(system.post(B + "/batches", finance, json={"period": first["created_at"][:7]}), 201)
    assert batch["reconciliation"]["matched"] is True
    lines = {l["counterparty"]: l for l in batch["lines"]}
    assert (lines["platform"]["redemptions"], lines["platform"]["reversals"]) == (2, 1)
    assert (lines["platform"]["gross"], lines["platform"]["fee"], lines["platform"]["payable"]) == (4000, 200, 3800)
    assert (lines["partner"]["gross"], lines["partner"]["payable"]) == (8000, 8000)
    assert (lines["merchant"]["gross"], lines["merchant"]["payable"]) == (3000, 0)
    assert (batch["payout_amount"], batch["status"]) == (11800, "payout_pending")

    paid = wait_for(lambda: (lambda b: b if b["status"] == "paid" else None)(
        ok(system.get(B + "/batches/" + batch["reference"], finance))), timeout=20)
    assert paid["provider_reference"].startswith("DEVPAY-")
    statement = ok(system.get(B + "/batches/%s/statement.json" % batch["reference"], m["tokens"]["owner"]))
    [payout] = statement["payouts"]
    assert (payout["amount"], payout["status"], payout["attempt"]) == (11800, "paid", 1)
    response = system.get(B + "/batches/%s/statement.csv" % batch["reference"], finance)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["statement", batch["reference"]]
    assert next(r for r in rows if r and r[0] == "total")[-1] == "11800"

    balances = ok(system.get(B + "/balances", finance))
    assert sum(a["balance"] for a in balances["accounts"]) == 0
    assert all(s["outstanding"] == 0 for s in balances["stores"])  # every store paid what it was owed
    before = ok(system.get(B + "/balances?at=" + first["created_at"].replace("+", "%2B"), finance))
    assert before["at"] < balances["at"]
    check = ok(system.get(B + "/ledger/verification", finance))
    assert check["valid"] is True and check["entries_checked"] == 6  # five bookings and the payout
    assert ok(system.get(B + "/entries?batch=" + batch["reference"], finance))["items"]
    refused = system.get(B + "/entries?status=open", finance)
    assert refused.status_code == 422 and "status" in refused.json()["error"]["fields"]
    for role in ("store_user", "support_agent"):
        assert system.get(B + "/balances", m["tokens"][role]).status_code == 403
    across = system.get(B + "/balances", platform_finance)
    assert across.status_code == 403 and across.json()["error"]["code"] == "merchant_required"
    assert ok(system.get(B + "/balances?merchant_id=" + m["merchant"]["id"], platform_finance))["accounts"]


def test_a_record_redemption_changed_behind_settlements_back_is_a_reconciliation_mismatch(
        system, onboard, platform_finance, db_query):
    m = onboard()
    finance, till = m["tokens"]["finance"], m["tokens"]["store_user"]
    confirm_wallet(system, m, platform_finance)
    voucher = voucher_under(system, m, agreement(system, platform_finance, m), 5000)
    redeemed = redeem(system, till, voucher, 5000)
    entries_of(system, finance, 1)
    # redemption's record now says more than the event settlement booked
    db_query("UPDATE redemption.redemptions SET amount = amount + 100 WHERE id = %s", (redeemed["id"],))
    batch = ok(system.post(B + "/batches", finance, json={"period": redeemed["created_at"][:7]}), 201)
    assert batch["status"] == "closed" and batch["exception"]["kind"] == "reconciliation_mismatch"
    [difference] = batch["exception"]["details"]["differences"]
    assert (difference["expected"]["redeemed_amount"], difference["actual"]["redeemed_amount"]) == (5100, 5000)
    ticket = wait_for(lambda: [t for t in ok(system.get("/api/v1/support/tickets?priority=critical",
                                                        m["tokens"]["support_agent"]))["items"]
                               if t["refs"].get("batch_reference") == batch["reference"]])[0]
    assert ticket["category"] == "settlement"
    ok(system.post("/api/v1/support/tickets/%s/resolution" % ticket["reference"], m["tokens"]["support_agent"],
                   json={"action": "no_action", "resolution": "Till correction confirmed with the store"}))
    paid = wait_for(lambda: (lambda b: b if b["status"] == "paid" else None)(
        ok(system.get(B + "/batches/" + batch["reference"], finance))), timeout=20)
    assert paid["payout_amount"] == 4750


def test_a_redemption_under_an_unknown_agreement_is_parked_not_paid(system, onboard, platform_finance, db_query):
    m = onboard()
    finance, till = m["tokens"]["finance"], m["tokens"]["store_user"]
    voucher = voucher_under(system, m, agreement(system, platform_finance, m), 5000)
    # a voucher from before funding agreements (or a forged row): its agreement is nobody's
    db_query("UPDATE redemption.vouchers SET funding_agreement_id = gen_random_uuid() WHERE id = %s",
             (voucher["id"],))
    redeem(system, till, voucher, 5000)
    parked = wait_for(lambda: ok(system.get(B + "/parked-entries", finance))["items"])
    assert parked[0]["kind"] == "redemption" and "not known" in parked[0]["reason"]
    [exception] = wait_for(lambda: ok(system.get(B + "/exceptions?kind=unknown_account", finance))["items"])
    assert exception["amount"] == 5000
    assert ok(system.get(B + "/entries", finance))["items"] == []  # nothing owed for it
    again = system.post(B + "/parked-entries/%s/booking" % parked[0]["id"], platform_finance)
    assert again.status_code == 409 and again.json()["error"]["code"] == "account_still_unknown"


def test_finance_sets_and_stops_the_schedule_through_the_gateway(system, onboard):
    m = onboard()
    finance, store = m["tokens"]["finance"], m["tokens"]["store_user"]
    ok(system.put(B + "/schedule", finance, json={"frequency": "monthly", "time_zone": "Africa/Johannesburg"}))
    assert system.request("DELETE", B + "/schedule", store).status_code == 403
    assert ok(system.get(B + "/schedule", finance))["frequency"] == "monthly"
    assert system.request("DELETE", B + "/schedule", finance).status_code == 204
    for response in (system.get(B + "/schedule", finance), system.request("DELETE", B + "/schedule", finance)):
        assert response.status_code == 404 and response.json()["error"]["code"] == "schedule_missing"
