"""The headline chain through the gateway, with every service running:

platform-funded voucher issued -> redeemed at a till (a second redeem refused) ->
ledger entry from the event (owed by the platform, less its commission) -> batch
closed -> exception (wallet unconfirmed) -> Critical ticket with the batch,
merchant and amount -> finance inbox -> ticket resolved -> exception resolved.
"""
import pytest

from tests.integration.conftest import active_campaign, ok, wait_for


@pytest.fixture(scope="module")
def system_config():
    # payouts follow the platform's confirmation at once here (the cooling-off is tested in test_payouts)
    return {"settlement": {"PAYOUT_COOLING_OFF_HOURS": 0}}


def platform_campaign(system, platform_login, m, commission_bp=500):
    """A campaign under a funding agreement the platform granted the merchant (5 % commission)."""
    agreement = ok(system.post("/api/v1/funding-agreements", platform_login("platform_finance"), json={
        "merchant_id": m["merchant"]["id"], "funder_kind": "platform", "currency": "ZAR", "budget": 100000,
        "max_voucher_value": 10000, "commission_bp": commission_bp}), 201)
    return active_campaign(system, m["tokens"]["owner"], name="Platform week", funding_agreement_id=agreement["id"])


def test_the_headline_chain(system, onboard, platform_login):
    m = onboard()
    owner, till, finance = m["tokens"]["owner"], m["tokens"]["store_user"], m["tokens"]["finance"]
    agent = m["tokens"]["support_agent"]
    ok(system.put("/api/v1/settlements/payout-account", owner,
                  json={"wallet_address": "wallet-" + m["merchant"]["id"][:8]}))
    campaign = platform_campaign(system, platform_login, m)

    voucher = ok(system.post("/api/v1/vouchers", owner, json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 2500, "campaign_id": campaign["id"]}), 201)
    assert voucher["status"] == "active"

    redemption = ok(system.post("/api/v1/redemptions", till, json={
        "code": voucher["display_code"], "channel": "pos", "receipt_remarks": "till 2"}), 201)
    assert redemption["amount"] == 2500
    assert redemption["store_id"] == m["store_id"]
    assert redemption["processed_by"]["role"] == "store_user"
    assert redemption["voucher_status"] == "redeemed"

    again = system.post("/api/v1/redemptions", till, json={"code": voucher["display_code"], "channel": "pos"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "voucher_already_redeemed"

    entries = wait_for(lambda: ok(system.get("/api/v1/settlements/entries", finance))["items"])
    assert [(e["redemption_id"], e["amount"], e["kind"]) for e in entries] == \
        [(redemption["id"], 2500, "redemption")]
    assert (entries[0]["counterparty"], entries[0]["fee"], entries[0]["payable"]) == ("platform", 125, 2375)
    assert sum(p["amount"] for p in entries[0]["postings"]) == 0  # double entry balances

    batch = ok(system.post("/api/v1/settlements/batches", finance, json={"period": redemption["created_at"][:7]}), 201)
    assert batch["reference"].startswith("SET-" + redemption["created_at"][:7] + "-")
    assert (batch["total"], batch["fees"], batch["payout_amount"], batch["status"]) == (2500, 125, 2375, "closed")
    assert batch["reconciliation"]["matched"] is True  # against redemption's own records, over RPC
    assert batch["exception"]["kind"] == "payout_account_unconfirmed"

    tickets = wait_for(lambda: ok(system.get("/api/v1/support/tickets?priority=critical", agent))["items"])
    ticket = tickets[0]
    assert ticket["priority"] == "critical" and ticket["category"] == "settlement"
    assert ticket["reference"].startswith("SUP-")
    assert ticket["refs"]["batch_reference"] == batch["reference"]
    assert ticket["refs"]["merchant_id"] == m["merchant"]["id"]
    assert ticket["refs"]["amount"] == 2375 and ticket["refs"]["currency"] == "ZAR"

    # finance hears of the closed batch and of the critical ticket (routing table)
    inbox = wait_for(lambda: {m["kind"]: m for m in ok(system.get("/api/v1/notifications", finance))["items"]
                              if m["kind"] in ("ticket_created", "batch_closed")}.values()
                     if len(ok(system.get("/api/v1/notifications", finance))["items"]) >= 2 else None)
    told = {m["kind"]: m for m in inbox}
    assert ticket["reference"] in told["ticket_created"]["body"] and "ZAR 23.75" in told["ticket_created"]["body"]
    assert batch["reference"] in told["batch_closed"]["body"]
    assert ok(system.get("/api/v1/notifications", finance))["unread_count"] == 2

    ok(system.post("/api/v1/support/tickets/%s/resolution" % ticket["reference"], agent, json={
        "action": "no_action", "resolution": "Owner confirmed the wallet address by phone"}))
    exceptions = wait_for(lambda: [e for e in ok(system.get("/api/v1/settlements/exceptions", finance))["items"]
                                   if e["status"] == "resolved"])
    assert exceptions[0]["ticket_reference"] == ticket["reference"]
    assert exceptions[0]["resolution"]["action"] == "no_action"


def test_a_confirmed_wallet_settles_without_an_exception(system, onboard, platform_login):
    m = onboard()
    owner, till, finance = m["tokens"]["owner"], m["tokens"]["store_user"], m["tokens"]["finance"]
    platform_finance = platform_login("platform_finance")
    address = "wallet-" + m["merchant"]["id"][:8]
    ok(system.put("/api/v1/settlements/payout-account", owner, json={"wallet_address": address}))
    # the platform confirms, after a call to the merchant (never the merchant's own finance user)
    call = {"merchant_id": m["merchant"]["id"], "method": "call_note",
            "call_note": {"person": "The owner", "phone_number": "+27 21 555 0100", "read_back": address}}
    mistyped = system.post("/api/v1/settlements/payout-account/confirmation", platform_finance,
                           json=dict(call, wallet_address=address + "X"))
    assert mistyped.status_code == 422 and mistyped.json()["error"]["code"] == "wallet_address_mismatch"
    confirmed = ok(system.post("/api/v1/settlements/payout-account/confirmation", platform_finance,
                               json=dict(call, wallet_address=address)))
    assert confirmed["status"] == "confirmed"

    voucher = ok(system.post("/api/v1/vouchers", owner, json={
        "kind": "stored_value", "currency": "ZAR", "value": 10000}), 201)
    for amount in (3000, 2000):
        ok(system.post("/api/v1/redemptions", till, json={
            "code": voucher["code"], "channel": "kiosk", "amount": amount}), 201)
    wait_for(lambda: len(ok(system.get("/api/v1/settlements/entries", finance))["items"]) == 2)
    batch = ok(system.post("/api/v1/settlements/batches", finance,
                           json={"period": voucher["created_at"][:7]}), 201)
    # the merchant's own voucher: recorded, and nobody owes the merchant for it (nothing is paid)
    assert (batch["status"], batch["total"], batch["payout_amount"], batch["exception"]) == ("paid", 5000, 0, None)
    nothing = system.post("/api/v1/settlements/batches", finance, json={"period": voucher["created_at"][:7]})
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_settle"
