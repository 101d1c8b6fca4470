"""Voucher codes are bearer instruments: only the roles that issue them (owners, platform admins)
read them whole; support agents, finance, platform staff and tills read the last four, in voucher
reads and lists, redemption reads, lists and the CSV export, and only issuers fetch QR codes,
barcodes and batch exports. A till is still told the code it was just shown."""
import csv
import io
import re
import uuid

import pytest

from tests.integration.conftest import ok, wait_for

MASKED = re.compile(r"^\u2022{4}-\u2022{4}-\u2022{4}-[0-9A-Z]{4}$")


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def masked_form(code):
    return "\u2022\u2022\u2022\u2022-" * 3 + code[-4:]


@pytest.fixture(scope="module")
def shop(onboard):
    return onboard()


@pytest.fixture(scope="module")
def readers(shop):
    """Who reads vouchers and records without issuing them."""
    return {role: shop["tokens"][role] for role in ("support_agent", "finance", "store_user")}


def issue(system, shop, **fields):
    body = dict({"kind": "stored_value", "currency": "ZAR", "value": 5000}, **fields)
    return ok(system.post("/api/v1/vouchers", shop["tokens"]["owner"], json=body), 201)


def test_issuers_read_whole_codes_everyone_else_the_last_four(system, shop, readers):
    voucher = issue(system, shop)
    partner = "ACME-" + uuid.uuid4().hex[:14].upper()  # 18 symbols: never one of our 16-symbol codes
    ok(system.post("/api/v1/vouchers/%s/external-codes" % voucher["code"], shop["tokens"]["owner"],
                   json={"format": "qr", "value": partner, "issuer": "Acme"}), 201)
    merchant = "?merchant_id=" + shop["merchant"]["id"]
    for token, query in ((shop["tokens"]["owner"], ""), (shop["admin"], merchant)):
        whole = ok(system.get("/api/v1/vouchers/%s%s" % (voucher["code"], query), token))
        assert (whole["code"], whole["display_code"], whole["code_masked"]) == \
            (voucher["code"], voucher["display_code"], False)
        assert whole["external_codes"][0]["value"] == partner
    for role, token in readers.items():
        seen = ok(system.get("/api/v1/vouchers/" + voucher["code"], token))
        assert seen["code"] == seen["display_code"] == masked_form(voucher["code"]), role
        assert MASKED.match(seen["code"]) and seen["code_masked"] is True
        assert partner not in str(seen) and seen["external_codes"][0]["value"].endswith(partner[-4:])
    listed = lambda token, query="": ok(system.get("/api/v1/vouchers?limit=200" + query, token))["items"]  # noqa: E731
    assert voucher["code"] in [v["code"] for v in listed(shop["tokens"]["owner"])]
    assert voucher["code"] in [v["code"] for v in listed(shop["admin"], "&merchant_id=" + shop["merchant"]["id"])]
    for role in ("support_agent", "finance"):
        items = listed(readers[role])
        assert items and all(MASKED.match(v["code"]) and v["code_masked"] for v in items), role
        assert voucher["code"] not in str(items)


def test_only_issuers_fetch_qr_codes_and_barcodes(system, shop, readers, platform_login):
    voucher = issue(system, shop)
    images = ("qr.png", "qr.svg", "barcode.svg", "barcode.png")
    for image in images:
        assert system.get("/api/v1/vouchers/%s/%s" % (voucher["code"], image),
                          shop["tokens"]["owner"]).status_code == 200, image
        assert system.get("/api/v1/vouchers/%s/%s?merchant_id=%s" % (voucher["code"], image, shop["merchant"]["id"]),
                          shop["admin"]).status_code == 200, image
        for role, token in readers.items():
            refused = system.get("/api/v1/vouchers/%s/%s" % (voucher["code"], image), token)
            assert error_of(refused, 403)["code"] == "role_not_allowed", (image, role)
        support = system.get("/api/v1/vouchers/%s/%s?merchant_id=%s" % (voucher["code"], image, shop["merchant"]["id"]),
                             platform_login("platform_support"))
        assert error_of(support, 403)["code"] == "role_not_allowed"


def test_batch_codes_are_exported_to_issuers_only(system, shop, readers):
    owner = shop["tokens"]["owner"]
    job = ok(system.post("/api/v1/vouchers/batches", owner, json={
        "count": 3, "kind": "discount_fixed", "currency": "ZAR", "value": 100}), 202)
    wait_for(lambda: ok(system.get("/api/v1/vouchers/batches/" + job["id"], owner))["status"] == "completed",
             timeout=30)
    rows = list(csv.DictReader(io.StringIO(system.get("/api/v1/vouchers/batches/%s/codes.csv" % job["id"],
                                                      owner).text)))
    assert len(rows) == 3 and all(row["qr_payload"].startswith("VW1." + row["code"]) for row in rows)
    for token in (readers["finance"], readers["support_agent"]):
        assert error_of(system.get("/api/v1/vouchers/batches/%s/codes.csv" % job["id"], token), 403)
    batch = ok(system.get("/api/v1/vouchers?batch_id=" + job["id"], readers["finance"]))["items"]
    assert sorted(v["code"] for v in batch) == sorted(masked_form(row["code"]) for row in rows)


def test_the_till_is_told_the_code_it_presented_but_reads_records_masked(system, shop, readers):
    till, owner = readers["store_user"], shop["tokens"]["owner"]
    voucher = issue(system, shop)
    checked = ok(system.post("/api/v1/redemptions/validation", till, json={"code": voucher["display_code"]}))
    assert checked["ok"] and checked["voucher"]["code"] == voucher["code"]  # what it typed
    record = ok(system.post("/api/v1/redemptions", till, json={"code": voucher["code"], "channel": "pos",
                                                               "amount": 1000}), 201)
    assert record["voucher_code"] == voucher["display_code"] and record["voucher_code_masked"] is False
    # a partner's code is not our code: the till is not told ours
    partner = "ACME-" + uuid.uuid4().hex[:14].upper()  # 18 symbols: never one of our 16-symbol codes
    ok(system.post("/api/v1/vouchers/%s/external-codes" % voucher["code"], owner,
                   json={"format": "qr", "value": partner, "issuer": "Acme"}), 201)
    via_partner = ok(system.post("/api/v1/redemptions/validation", till, json={"scanned_text": partner}))
    assert via_partner["ok"] and via_partner["voucher"]["code"] == masked_form(voucher["code"])
    second = ok(system.post("/api/v1/redemptions", till, json={"scanned_text": partner, "channel": "pos",
                                                               "amount": 1000}), 201)
    assert second["voucher_code"] == masked_form(voucher["code"]) and second["voucher_code_masked"] is True
    # the records, read later
    assert ok(system.get("/api/v1/redemptions/" + record["id"], till))["voucher_code"] == masked_form(voucher["code"])
    for token in readers.values():
        items = ok(system.get("/api/v1/redemptions?limit=200", token))["items"]
        assert items and all(MASKED.match(r["voucher_code"]) and r["voucher_code_masked"] for r in items)
        assert voucher["display_code"] not in str(items)
    assert ok(system.get("/api/v1/redemptions/" + record["id"], owner))["voucher_code"] == voucher["display_code"]
    admin_view = ok(system.get("/api/v1/redemptions/%s?merchant_id=%s" % (record["id"], shop["merchant"]["id"]),
                               shop["admin"]))
    assert admin_view["voucher_code"] == voucher["display_code"]


def test_the_redemptions_csv_masks_codes_for_all_but_issuers(system, shop, readers):
    voucher = issue(system, shop)
    ok(system.post("/api/v1/redemptions", readers["store_user"], json={"code": voucher["code"], "channel": "pos",
                                                                        "amount": 700}), 201)

    def exported(token, query=""):
        response = system.get("/api/v1/redemptions/export.csv" + query, token)
        assert response.status_code == 200, response.text
        return response.text, list(csv.DictReader(io.StringIO(response.text)))

    for token in (readers["store_user"], readers["finance"]):
        text, rows = exported(token)
        assert rows and all(MASKED.match(row["voucher_code"]) for row in rows)
        assert voucher["display_code"] not in text
    for token, query in ((shop["tokens"]["owner"], ""), (shop["admin"], "?merchant_id=" + shop["merchant"]["id"])):
        assert voucher["display_code"] in [row["voucher_code"] for row in exported(token, query)[1]]
