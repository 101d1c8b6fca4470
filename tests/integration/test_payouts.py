"""Who decides where a merchant is paid, through the gateway with every service running: the owner
sets the address, only the platform confirms it after an out-of-band check (a code emailed to the
merchant's registered contact through a real SMTP server, or a call), a changed address holds
payouts while it cools off, the owners hear of it all, and batch references are the merchant's own.
"""
import re
import uuid

import pytest

from tests.integration.conftest import PASSWORD, active_campaign, ok, wait_for
from tests.mailbox import Mailbox, text_of

COOLING_OFF_SECONDS = 12
ACCOUNT = "/api/v1/settlements/payout-account"


@pytest.fixture(scope="module")
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def system_config(mailbox):
    return {"notification": {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": mailbox.port,
                             "SMTP_FROM": "VowRewards <payouts@vowrewards.test>"},
            "settlement": {"PAYOUT_COOLING_OFF_HOURS": COOLING_OFF_SECONDS / 3600.0}}


@pytest.fixture(scope="module")
def platform_finance(platform_login):
    return platform_login("platform_finance")


def error_code(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def a_call(merchant_id, address):
    return {"merchant_id": merchant_id, "wallet_address": address, "method": "call_note",
            "call_note": {"person": "The owner", "phone_number": "+27 21 555 0100",
                          "read_back": "ends in " + address[-4:], "notes": "called the number on file"}}


def unique_email():
    return "owner-%s@shop.example" % uuid.uuid4().hex[:8]


def redeem(system, m, value=2500, platform_finance=None):
    """A voucher redeemed at the merchant's till, in its ledger; returns the period it fell in. With
    ``platform_finance``, the voucher is under an agreement it grants: the platform owes it."""
    owner, till, finance = m["tokens"]["owner"], m["tokens"]["store_user"], m["tokens"]["finance"]
    campaign = {}
    if platform_finance:
        agreement = ok(system.post("/api/v1/funding-agreements", platform_finance, json={
            "merchant_id": m["merchant"]["id"], "funder_kind": "platform", "currency": "ZAR", "budget": 100000,
            "max_voucher_value": 10000}), 201)
        campaign = {"campaign_id": active_campaign(system, owner, name="Platform week",
                                                   funding_agreement_id=agreement["id"])["id"]}
    voucher = ok(system.post("/api/v1/vouchers", owner, json=dict({
        "kind": "discount_fixed", "currency": "ZAR", "value": value}, **campaign)), 201)
    redemption = ok(system.post("/api/v1/redemptions", till, json={
        "code": voucher["display_code"], "channel": "pos"}), 201)
    wait_for(lambda: [e for e in ok(system.get("/api/v1/settlements/entries", finance))["items"]
                      if e["redemption_id"] == redemption["id"]])
    return redemption["created_at"][:7]


def inbox_kinds(system, token):
    return {message["kind"] for message in ok(system.get("/api/v1/notifications", token))["items"]}


def test_the_sock_puppet_sequence_ends_refused(system, onboard):
    m = onboard()
    owner, merchant_id = m["tokens"]["owner"], m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]
    ok(system.put(ACCOUNT, owner, json={"wallet_address": address}))

    # the owner creates a finance user of its own and signs in as it...
    puppet = "puppet-" + uuid.uuid4().hex[:8]
    ok(system.post("/api/v1/merchants/%s/users" % merchant_id, owner,
                   json={"username": puppet, "password": PASSWORD, "role": "finance"}), 201)
    puppet_token = system.login(puppet)
    # ...which may not confirm the owner's address, in the old form or the new
    assert error_code(system.post(ACCOUNT + "/confirmation", puppet_token, json={"wallet_address": address}),
                      403) == "role_not_allowed"
    assert error_code(system.post(ACCOUNT + "/confirmation", puppet_token, json=a_call(merchant_id, address)),
                      403) == "role_not_allowed"
    # nor may the owner, the merchant's own finance user, or anyone of the merchant ask for a code
    for token in (owner, m["tokens"]["finance"]):
        assert error_code(system.post(ACCOUNT + "/confirmation", token, json=a_call(merchant_id, address)),
                          403) == "role_not_allowed"
        assert error_code(system.post(ACCOUNT + "/verification", token, json={}), 403) == "role_not_allowed"

    account = ok(system.get(ACCOUNT, owner))
    assert (account["status"], account["payable"]) == ("unconfirmed", False)
    assert [h["action"] for h in ok(system.get(ACCOUNT + "/history", owner))["items"]] == ["set"]


def test_platform_finance_confirms_after_a_call_and_the_owners_hear_of_it(system, onboard, platform_finance):
    m = onboard()
    owner, finance, merchant_id = m["tokens"]["owner"], m["tokens"]["finance"], m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]
    ok(system.put(ACCOUNT, owner, json={"wallet_address": address}))
    call = a_call(merchant_id, address)

    assert error_code(system.post(ACCOUNT + "/confirmation", platform_finance,
                                  json=dict(call, merchant_id=None)), 403) == "merchant_required"
    assert error_code(system.post(ACCOUNT + "/confirmation", platform_finance,
                                  json=dict(call, call_note=None)), 422) == "validation_failed"
    confirmed = ok(system.post(ACCOUNT + "/confirmation", platform_finance, json=call))
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_by"]["role"] == "platform_finance"
    assert confirmed["confirmation"] == {"method": "call_note", "call_note": call["call_note"]}
    assert confirmed["payable"] is False and confirmed["payable_from"] == confirmed["cooling_off_until"]
    assert error_code(system.post(ACCOUNT + "/confirmation", platform_finance, json=call), 409) == \
        "payout_account_confirmed"

    history = ok(system.get(ACCOUNT + "/history", finance))["items"]
    assert [(h["action"], h["actor"]["role"]) for h in history] == [("confirmed", "platform_finance"),
                                                                    ("set", "owner")]
    assert history[0]["details"]["call_note"]["phone_number"] == "+27 21 555 0100"
    assert ok(system.get(ACCOUNT + "/history?merchant_id=%s" % merchant_id, platform_finance))["items"] == history

    wait_for(lambda: {"payout_account_set", "payout_account_confirmed"} <= inbox_kinds(system, owner))
    assert not {"payout_account_set", "payout_account_confirmed"} & inbox_kinds(system, finance)


def test_the_emailed_code_reaches_the_registered_contact_and_confirms(system, onboard, platform_finance, mailbox):
    contact = unique_email()
    m = onboard(contact_email=contact)
    owner, merchant_id = m["tokens"]["owner"], m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]

    # the contact is the merchant's record, never something a client sends
    assert error_code(system.put(ACCOUNT, owner, json={"wallet_address": address,
                                                       "contact_email": "me@evil.example"}), 422) == \
        "validation_failed"
    ok(system.put(ACCOUNT, owner, json={"wallet_address": address}))
    [notice] = wait_for(lambda: mailbox.to(contact))
    assert notice["Subject"].endswith("payout wallet address of %s was set" % m["merchant"]["name"])

    assert error_code(system.post(ACCOUNT + "/verification", platform_finance, json={
        "merchant_id": merchant_id, "contact_email": "me@evil.example"}), 422) == "validation_failed"
    requested = ok(system.post(ACCOUNT + "/verification", platform_finance, json={"merchant_id": merchant_id}), 201)
    assert requested["sent_to"] == "o***@shop.example" and requested["method"] == "email_code"
    assert "code" not in requested

    email = wait_for(lambda: [msg for msg in mailbox.to(contact) if "verification code" in msg["Subject"]])[0]
    body = text_of(email)
    assert address in body
    code = re.search(r"^    (\d{4} \d{4})$", body, re.M).group(1)
    wrong = "%08d" % ((int(code.replace(" ", "")) + 1) % 10 ** 8)

    by_code = {"merchant_id": merchant_id, "wallet_address": address, "method": "email_code"}
    refused = system.post(ACCOUNT + "/confirmation", platform_finance, json=dict(by_code, code=wrong))
    assert error_code(refused, 422) == "verification_code_wrong"
    assert refused.json()["error"]["message"] == "Wrong code: 4 tries left"
    [failed] = [h for h in ok(system.get(ACCOUNT + "/history", owner))["items"] if h["action"] == "verification_failed"]
    assert (failed["details"]["attempts"], failed["actor"]["role"]) == (1, "platform_finance")

    confirmed = ok(system.post(ACCOUNT + "/confirmation", platform_finance, json=dict(by_code, code=code)))
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmation"]["method"] == "email_code"
    assert [h["action"] for h in ok(system.get(ACCOUNT + "/history", owner))["items"]] == [
        "confirmed", "verification_failed", "verification_requested", "set"]
    assert len(mailbox.to(contact)) == 2  # the change notice and the code, each once


def test_an_expired_code_is_refused_and_a_merchant_without_a_contact_is_called(system, onboard, platform_finance,
                                                                               mailbox, db_query):
    contact = unique_email()
    m = onboard(contact_email=contact)
    merchant_id = m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]
    ok(system.put(ACCOUNT, m["tokens"]["owner"], json={"wallet_address": address}))
    ok(system.post(ACCOUNT + "/verification", platform_finance, json={"merchant_id": merchant_id}), 201)
    email = wait_for(lambda: [msg for msg in mailbox.to(contact) if "verification code" in msg["Subject"]])[0]
    code = re.search(r"^    (\d{4} \d{4})$", text_of(email), re.M).group(1)
    db_query("UPDATE settlement.payout_verifications SET expires_at = now() - interval '1 second' "
             "WHERE merchant_id = %s", (merchant_id,))  # the clock moved past its expiry
    assert error_code(system.post(ACCOUNT + "/confirmation", platform_finance, json={
        "merchant_id": merchant_id, "wallet_address": address, "method": "email_code", "code": code}), 409) == \
        "verification_code_expired"
    assert ok(system.get(ACCOUNT, m["tokens"]["owner"]))["status"] == "unconfirmed"

    silent = onboard()  # no registered contact email: nowhere to send a code
    ok(system.put(ACCOUNT, silent["tokens"]["owner"], json={"wallet_address": "wallet-silent-0001"}))
    assert error_code(system.post(ACCOUNT + "/verification", platform_finance,
                                  json={"merchant_id": silent["merchant"]["id"]}), 409) == "contact_email_missing"
    assert error_code(system.post(ACCOUNT + "/verification", platform_finance,
                                  json={"merchant_id": str(uuid.uuid4())}), 404) == "merchant_not_found"


def test_a_batch_closed_during_the_cooling_off_is_held_and_payable_only_after(system, onboard, platform_finance):
    m = onboard()
    owner, finance, merchant_id = m["tokens"]["owner"], m["tokens"]["finance"], m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]
    period = redeem(system, m, platform_finance=platform_finance)
    ok(system.put(ACCOUNT, owner, json={"wallet_address": address}))
    confirmed = ok(system.post(ACCOUNT + "/confirmation", platform_finance, json=a_call(merchant_id, address)))

    batch = ok(system.post("/api/v1/settlements/batches", finance, json={"period": period}), 201)
    # the rule under test needs the close to fall inside the cooling-off; it always does unless
    # this machine took more than COOLING_OFF_SECONDS for the three requests above
    assert batch["closed_at"] < confirmed["cooling_off_until"], "too slow to close inside the cooling-off"
    assert batch["status"] == "closed" and batch["exception"]["kind"] == "payout_account_unconfirmed"
    assert "cooling-off" in batch["exception"]["message"]
    release = "/api/v1/settlements/batches/%s/release" % batch["reference"]
    held = system.post(release, finance)
    assert error_code(held, 409) == "payout_account_not_ready" and "cooling-off" in held.json()["error"]["message"]

    def release_once_cooled_off():
        response = system.post(release, finance)
        if response.status_code == 409 and response.json()["error"]["code"] == "payout_account_not_ready":
            return None  # still cooling off
        return ok(response)

    released = wait_for(release_once_cooled_off, timeout=COOLING_OFF_SECONDS + 30, interval=0.5)
    assert released["status"] == "payout_pending" and released["released_by"]["role"] == "finance"
    assert released["released_at"] >= confirmed["cooling_off_until"]
    shown = ok(system.get("/api/v1/settlements/batches/%s" % batch["reference"], finance))
    assert shown["status"] in ("payout_pending", "paid")  # the payout timer may have paid it already
    assert error_code(system.post(release, finance), 409) == "batch_not_held"


def test_a_rejected_address_is_shown_with_its_reason_never_paid_and_replaced(system, onboard, platform_finance):
    m = onboard()
    owner, finance, merchant_id = m["tokens"]["owner"], m["tokens"]["finance"], m["merchant"]["id"]
    address = "wallet-" + merchant_id[:12]
    period = redeem(system, m, platform_finance=platform_finance)  # the platform owes the merchant
    ok(system.put(ACCOUNT, owner, json={"wallet_address": address}))
    reason = "The owner did not recognise this address when we called the number on file"
    rejection = {"merchant_id": merchant_id, "wallet_address": address, "reason": reason}

    # only the platform rejects (as only it confirms); the address is typed again, with a reason
    for token in (owner, finance):
        assert error_code(system.post(ACCOUNT + "/rejection", token, json=rejection), 403) == "role_not_allowed"
    assert error_code(system.post(ACCOUNT + "/rejection", platform_finance,
                                  json=dict(rejection, wallet_address=address + "x")), 422) == "wallet_address_mismatch"
    missing = system.post(ACCOUNT + "/rejection", platform_finance, json=dict(rejection, reason=None))
    assert error_code(missing, 422) == "validation_failed" and "reason" in missing.json()["error"]["fields"]
    rejected = ok(system.post(ACCOUNT + "/rejection", platform_finance, json=rejection))
    assert (rejected["status"], rejected["rejection_reason"], rejected["payable"]) == ("rejected", reason, False)
    assert rejected["rejected_by"]["role"] == "platform_finance" and rejected["rejected_at"]

    # the merchant sees the state and the reason; the history records who rejected it and why
    shown = ok(system.get(ACCOUNT, owner))
    assert (shown["status"], shown["rejection_reason"]) == ("rejected", reason)
    history = ok(system.get(ACCOUNT + "/history", finance))["items"]
    assert [(h["action"], h["actor"]["role"]) for h in history] == [("rejected", "platform_finance"), ("set", "owner")]
    assert history[0]["details"] == {"reason": reason}
    wait_for(lambda: "payout_account_rejected" in inbox_kinds(system, owner))  # the owners hear of it
    [told] = [n for n in ok(system.get("/api/v1/notifications", owner))["items"] if n["kind"] == "payout_account_rejected"]
    assert reason in told["body"] and address not in told["body"]  # the address masked

    # a rejected address is never confirmed, never paid to: its batch is held, saying why
    assert error_code(system.post(ACCOUNT + "/confirmation", platform_finance, json=a_call(merchant_id, address)),
                      409) == "payout_account_rejected"
    assert error_code(system.post(ACCOUNT + "/rejection", platform_finance, json=rejection), 409) == \
        "payout_account_rejected"
    batch = ok(system.post("/api/v1/settlements/batches", finance, json={"period": period}), 201)
    assert batch["status"] == "closed" and "rejected" in batch["exception"]["message"]
    held = system.post("/api/v1/settlements/batches/%s/release" % batch["reference"], finance)
    assert error_code(held, 409) == "payout_account_not_ready" and reason in held.json()["error"]["message"]
    assert ok(system.get("/api/v1/settlements/batches/%s" % batch["reference"], finance))["status"] == "closed"

    # the owner submits another, which waits for the platform as any new address does
    again = ok(system.put(ACCOUNT, owner, json={"wallet_address": address[:-1] + "Z"}))
    assert (again["status"], again["rejection_reason"], again["rejected_by"]) == ("unconfirmed", None, None)
    confirmed = ok(system.post(ACCOUNT + "/confirmation", platform_finance,
                               json=a_call(merchant_id, address[:-1] + "Z")))
    assert confirmed["status"] == "confirmed"
    assert [h["action"] for h in ok(system.get(ACCOUNT + "/history", owner))["items"]][:2] == ["confirmed", "set"]


def test_batch_references_are_numbered_per_merchant(system, onboard):
    first, second = onboard(), onboard()
    references = []
    for m in (first, second):
        period = redeem(system, m)
        batch = ok(system.post("/api/v1/settlements/batches", m["tokens"]["finance"], json={"period": period}), 201)
        references.append((batch["reference"], period))
    assert references[0][0] == "SET-%s-001" % references[0][1]
    assert references[1][0] == "SET-%s-001" % references[1][1]
    # and each merchant sees only its own under that reference
    for m in (first, second):
        shown = ok(system.get("/api/v1/settlements/batches/%s" % references[0][0], m["tokens"]["finance"]))
        assert shown["merchant_id"] == m["merchant"]["id"]
