"""The redemption panel through the gateway: every way to present a voucher, every
kind of voucher, reversals, batches, records, and bad input that changes nothing."""
import csv
import io
import uuid

import pytest
from PIL import Image

from gateway import images
from services.redemption.contract.schemas import PresentationSchema
from tests.integration.conftest import ok, wait_for


@pytest.fixture(scope="module")
def shop(onboard):
    return onboard()


def issue(system, shop, **fields):
    body = {"kind": "discount_fixed", "currency": "ZAR", "value": 1000}
    body.update(fields)
    return ok(system.post("/api/v1/vouchers", shop["tokens"]["owner"], json=body), 201)


def redeem(system, shop, token=None, headers=None, **body):
    body.setdefault("channel", "pos")
    return system.post("/api/v1/redemptions", token or shop["tokens"]["store_user"], json=body,
                       headers=headers)


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def photograph(png_bytes, angle=7, jpeg_quality=85):
    """Print the image on a grey card, tilt it and save it as a phone would (JPEG)."""
    symbol = Image.open(io.BytesIO(png_bytes)).convert("L")
    card = Image.new("L", (symbol.width + 160, symbol.height + 160), 200)
    card.paste(symbol, (80, 80))
    card = card.rotate(angle, expand=True, fillcolor=200).resize(
        (int(card.width * 1.3), int(card.height * 1.3)))
    out = io.BytesIO()
    card.convert("RGB").save(out, format="JPEG", quality=jpeg_quality)
    return out.getvalue()


def voucher_state(system, shop, code):
    return ok(system.get("/api/v1/vouchers/" + code, shop["tokens"]["owner"]))


# -- presenting a voucher -----------------------------------------------------------------
def test_typed_code_with_dashes_spaces_and_lower_case(system, shop):
    voucher = issue(system, shop)
    typed = " " + voucher["display_code"].lower().replace("-", " ") + " "
    checked = ok(system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"], json={"code": typed}))
    assert checked["ok"] is True and checked["method"] == "code"
    assert checked["redeemable"]["max_amount"] == 1000
    record = ok(redeem(system, shop, code=typed), 201)
    assert record["method"] == "code" and record["amount"] == 1000


def test_signed_qr_code_scanned_at_the_till(system, shop):
    voucher = issue(system, shop)
    png = system.get("/api/v1/vouchers/%s/qr.png" % voucher["code"], shop["tokens"]["owner"])
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    payload = images.decode_image(png.content)[0]["text"]
    assert payload.startswith("VW1." + voucher["code"])
    record = ok(redeem(system, shop, qr_payload=payload), 201)
    assert record["method"] == "qr" and record["voucher_id"] == voucher["id"]


def test_a_forged_or_edited_qr_is_refused(system, shop):
    voucher = issue(system, shop)
    payload = images.decode_image(system.get("/api/v1/vouchers/%s/qr.png" % voucher["code"],
                                             shop["tokens"]["owner"]).content)[0]["text"]
    other = issue(system, shop)
    edited = payload.replace(voucher["code"], other["code"])
    assert error_of(redeem(system, shop, qr_payload=edited), 422)["code"] == "qr_forged"
    assert voucher_state(system, shop, other["code"])["status"] == "active"


def test_short_lived_qr_for_screens(system, shop):
    voucher = issue(system, shop)
    svg = system.get("/api/v1/vouchers/%s/qr.svg?ttl=300" % voucher["code"], shop["tokens"]["owner"])
    assert svg.status_code == 200 and b"<svg" in svg.content
    assert svg.headers["Cache-Control"] == "private, no-store"
    payload = images.decode_image(system.get("/api/v1/vouchers/%s/qr.png?ttl=300" % voucher["code"],
                                             shop["tokens"]["owner"]).content)[0]["text"]
    assert payload.split(".")[2] != "0"  # carries its expiry
    assert ok(redeem(system, shop, qr_payload=payload), 201)["method"] == "qr"


def test_barcode_scanned_as_text(system, shop):
    voucher = issue(system, shop)
    svg = system.get("/api/v1/vouchers/%s/barcode.svg" % voucher["code"], shop["tokens"]["owner"])
    assert svg.status_code == 200 and b"<svg" in svg.content
    png = system.get("/api/v1/vouchers/%s/barcode.png" % voucher["code"], shop["tokens"]["owner"])
    scanned = images.decode_image(png.content)[0]
    assert scanned["format"] == "code128"
    record = ok(redeem(system, shop, scanned_text=scanned["text"] + "\r\n"), 201)
    assert record["method"] == "barcode"


@pytest.mark.parametrize("kind", ["qr", "barcode"])
def test_photo_of_the_code_uploaded_from_the_till(system, shop, kind):
    voucher = issue(system, shop, kind="stored_value", value=5000)
    image = system.get("/api/v1/vouchers/%s/%s.png" % (voucher["code"], kind), shop["tokens"]["owner"]).content
    photo = photograph(image, angle=7 if kind == "qr" else 3)
    till = shop["tokens"]["store_user"]
    checked = ok(system.post("/api/v1/redemptions/validation", till,
                             files={"image": ("till-photo.jpg", photo, "image/jpeg")}))
    assert checked["ok"] and checked["method"] == "image" and checked["voucher"]["id"] == voucher["id"]
    record = ok(system.post("/api/v1/redemptions", till, data={"channel": "pos", "amount": "1200"},
                            files={"image": ("till-photo.jpg", photo, "image/jpeg")}), 201)
    assert record["method"] == "image" and record["amount"] == 1200 and record["voucher_balance"] == 3800


def test_a_presentation_is_validated_once_by_the_redemption_service(system, shop, monkeypatch):
    # the gateway loaded the same schema before the service did; now it passes the body on as
    # sent (with the key, and a photo's texts beside it) and only the service reads it
    loads = []
    load = PresentationSchema.load  # Redeem, PhotoRedeem and PhotoPresentation are presentations too

    def counted(schema, data, **kwargs):
        loads.append(type(schema).__name__)
        return load(schema, data, **kwargs)
    monkeypatch.setattr(PresentationSchema, "load", counted)
    till = shop["tokens"]["store_user"]
    voucher = issue(system, shop, kind="stored_value", value=5000)
    ok(system.post("/api/v1/redemptions/validation", till, json={"code": voucher["code"]}))
    assert loads == ["PresentationSchema"]
    del loads[:]
    ok(redeem(system, shop, code=voucher["code"], amount=100, headers={"Idempotency-Key": uuid.uuid4().hex}), 201)
    assert loads == ["RedeemSchema"]
    del loads[:]
    barcode = system.get("/api/v1/vouchers/%s/barcode.png" % voucher["code"], shop["tokens"]["owner"]).content
    photo = photograph(barcode, angle=3)
    ok(system.post("/api/v1/redemptions", till, data={"channel": "pos", "amount": "100"},
                   files={"image": ("till-photo.jpg", photo, "image/jpeg")}), 201)
    assert loads == ["PhotoRedeemSchema"]
    # what the gateway no longer looks at is still refused, by the service, as before
    del loads[:]
    refused = redeem(system, shop, code=voucher["code"], image_texts=[voucher["code"]])
    assert error_of(refused, 422)["fields"] == {"image_texts": ["Unknown field."]} and loads == ["RedeemSchema"]


def test_partner_code_registered_then_scanned(system, shop):
    voucher = issue(system, shop)
    partner_code = "ACME-%s" % uuid.uuid4().hex[:10]
    registered = ok(system.post("/api/v1/vouchers/%s/external-codes" % voucher["code"], shop["tokens"]["owner"],
                                json={"format": "qr", "value": partner_code, "issuer": "Acme Rewards"}), 201)
    assert registered["external_codes"][0]["issuer"] == "Acme Rewards"
    again = system.post("/api/v1/vouchers/%s/external-codes" % voucher["code"], shop["tokens"]["owner"],
                        json={"format": "qr", "value": partner_code, "issuer": "Acme Rewards"})
    assert error_of(again, 409)["code"] == "external_code_taken"
    record = ok(redeem(system, shop, scanned_text=partner_code), 201)
    assert record["method"] == "external_qr" and record["voucher_id"] == voucher["id"]


def test_code_plus_pin(system, shop):
    voucher = issue(system, shop, pin="482913")
    assert voucher["has_pin"] is True and "pin" not in voucher
    assert error_of(redeem(system, shop, code=voucher["code"]), 422)["code"] == "pin_required"
    assert error_of(redeem(system, shop, code=voucher["code"], pin="111111"), 422)["code"] == "wrong_pin"
    record = ok(redeem(system, shop, code=voucher["code"], pin="482913"), 201)
    assert record["method"] == "pin"


def test_repeated_wrong_pins_lock_the_voucher_and_raise_an_alert(system, onboard, db_query):
    shop = onboard()
    voucher = issue(system, shop, pin="482913")

    def as_if_a_minute_passed():
        db_query("UPDATE redemption.failed_attempts SET last_failure_at = now() - interval '1 minute' "
                   "WHERE merchant_id = %s", (shop["merchant"]["id"],))

    for pin in ("000001", "000002", "000003"):
        assert error_of(redeem(system, shop, code=voucher["code"], pin=pin), 422)["code"] == "wrong_pin"
    throttled = redeem(system, shop, code=voucher["code"], pin="000004")
    assert error_of(throttled, 429)["code"] == "too_many_attempts"  # the till must wait a moment
    for pin in ("000005", "000006"):  # the fifth failure locks the voucher
        as_if_a_minute_passed()
        assert error_of(redeem(system, shop, code=voucher["code"], pin=pin), 422)["code"] == "wrong_pin"
    as_if_a_minute_passed()
    locked = redeem(system, shop, code=voucher["code"], pin="482913")
    assert error_of(locked, 423)["code"] == "voucher_locked"  # even with the right PIN, for a while
    assert db_query("SELECT count(*) FROM redemption.outbox WHERE event_type = 'redemption_lockout' "
                      "AND payload->>'scope_id' = %s", (voucher["id"],)) == [(1,)]
    alerts = wait_for(lambda: [m for m in ok(system.get("/api/v1/notifications", shop["tokens"]["owner"]))["items"]
                               if m["kind"] == "redemption_lockout"])
    assert alerts[0]["refs"]["scope"] == "voucher" and "5 failed" in alerts[0]["body"]


def test_unknown_codes_from_one_user_are_throttled_then_locked(system, onboard, db_query):
    shop = onboard()
    from services.redemption.codes import generate_code
    statuses = []
    for _ in range(6):
        statuses.append(redeem(system, shop, code=generate_code()).status_code)
        db_query("UPDATE redemption.failed_attempts SET last_failure_at = now() - interval '2 minutes' "
                   "WHERE merchant_id = %s", (shop["merchant"]["id"],))
    assert statuses == [404] * 6
    for _ in range(4):
        statuses.append(redeem(system, shop, code=generate_code()).status_code)
        db_query("UPDATE redemption.failed_attempts SET last_failure_at = now() - interval '2 minutes' "
                   "WHERE merchant_id = %s", (shop["merchant"]["id"],))
    assert statuses[-1] == 404
    valid = issue(system, shop)
    assert error_of(redeem(system, shop, code=valid["code"]), 423)["code"] == "user_locked"


# -- kinds ------------------------------------------------------------------------------------
def test_stored_value_partial_redemptions_until_empty(system, shop):
    voucher = issue(system, shop, kind="stored_value", value=5000)
    till = shop["tokens"]["store_user"]
    preview = ok(system.post("/api/v1/redemptions/validation", till, json={"code": voucher["code"], "amount": 3000}))
    assert preview["ok"] and preview["would_redeem"] == {"amount": 3000, "points": 0, "points_value": 0,
                                                         "balance_after": 2000}
    first = ok(redeem(system, shop, code=voucher["code"], amount=3000), 201)
    assert first["voucher_status"] == "partially_redeemed" and first["voucher_balance"] == 2000
    too_much = redeem(system, shop, code=voucher["code"], amount=2500)
    assert error_of(too_much, 409)["code"] == "insufficient_balance"
    checked = ok(system.post("/api/v1/redemptions/validation", till, json={"code": voucher["code"], "amount": 2500}))
    assert checked["ok"] is False and checked["reason"]["code"] == "insufficient_balance"
    last = ok(redeem(system, shop, code=voucher["code"]), 201)  # the rest
    assert last["amount"] == 2000 and last["voucher_status"] == "redeemed"
    history = [h["to_status"] for h in voucher_state(system, shop, voucher["code"])["history"]]
    assert history == ["active", "partially_redeemed", "redeemed"]


def test_percentage_voucher_with_a_cap(system, shop):
    voucher = issue(system, shop, kind="discount_percent", value=None, percent_bp=1500, cap=2000)
    needs_purchase = redeem(system, shop, code=voucher["code"])
    assert error_of(needs_purchase, 422)["code"] == "purchase_amount_required"
    checked = ok(system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                             json={"code": voucher["code"], "purchase_amount": 30000}))
    assert checked["redeemable"]["discount"] == 2000  # 15% of 300.00 is 45.00, capped at 20.00
    assert ok(redeem(system, shop, code=voucher["code"], purchase_amount=8000), 201)["amount"] == 1200


def test_expired_not_yet_valid_and_wrong_store(system, shop):
    expired = issue(system, shop, valid_from="2025-01-01T00:00:00Z", valid_until="2025-02-01T00:00:00Z")
    assert error_of(redeem(system, shop, code=expired["code"]), 409)["code"] == "voucher_expired"
    later = issue(system, shop, valid_from="2030-01-01T00:00:00Z")
    assert error_of(redeem(system, shop, code=later["code"]), 409)["code"] == "voucher_not_yet_valid"
    elsewhere = issue(system, shop, store_ids=[shop["stores"]["Canal Walk Kiosk"]])
    checked = ok(system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                             json={"code": elsewhere["code"]}))
    assert checked["ok"] is False and checked["reason"]["code"] == "wrong_store"
    assert error_of(redeem(system, shop, code=elsewhere["code"]), 403)["code"] == "wrong_store"
    owner_there = ok(redeem(system, shop, token=shop["tokens"]["owner"], code=elsewhere["code"],
                            store_id=shop["stores"]["Canal Walk Kiosk"]), 201)
    assert owner_there["store_id"] == shop["stores"]["Canal Walk Kiosk"]


def test_per_customer_limit(system, shop):
    customer = ok(system.post("/api/v1/customers", shop["tokens"]["owner"], json={"name": "Thandi"}), 201)
    voucher = issue(system, shop, uses_allowed=3, per_customer_limit=1)
    assert error_of(redeem(system, shop, code=voucher["code"]), 422)["code"] == "customer_required"
    ok(redeem(system, shop, code=voucher["code"], customer_id=customer["id"]), 201)
    limited = redeem(system, shop, code=voucher["code"], customer_id=customer["id"])
    assert error_of(limited, 409)["code"] == "limit_reached"
    other = ok(system.post("/api/v1/customers", shop["tokens"]["owner"], json={"name": "Kagiso"}), 201)
    assert ok(redeem(system, shop, code=voucher["code"], customer_id=other["id"]), 201)["voucher_status"] \
        == "partially_redeemed"


def test_hybrid_voucher_and_points(system, shop):
    owner = shop["tokens"]["owner"]
    customer = ok(system.post("/api/v1/customers", owner, json={"name": "Sipho", "external_ref": uuid.uuid4().hex}), 201)
    ok(system.post("/api/v1/customers/%s/points" % customer["id"], owner,
                   json={"points": 500, "reference": "welcome-" + uuid.uuid4().hex, "reason": "welcome bonus"}))
    voucher = issue(system, shop, kind="stored_value", value=3000, hybrid=True, point_value=2,
                    customer_id=customer["id"])
    too_many = redeem(system, shop, code=voucher["code"], purchase_amount=5000, points=600)
    assert error_of(too_many, 409)["code"] == "insufficient_points"
    record = ok(redeem(system, shop, code=voucher["code"], purchase_amount=5000, points=400,
                       headers={"Idempotency-Key": uuid.uuid4().hex}), 201)
    assert (record["amount"], record["points"], record["points_value"]) == (3000, 400, 800)
    assert record["customer_id"] == customer["id"]
    points = wait_for(lambda: (lambda p: p if p["reserved"] == 0 else None)(
        ok(system.get("/api/v1/customers/%s" % customer["id"], owner))["points"]))
    assert (points["balance"], points["available"]) == (100, 100)  # committed once, from the event
    ledger = ok(system.get("/api/v1/customers/%s" % customer["id"], owner))["points"]["recent"]
    assert [(line["kind"], line["points"]) for line in ledger] == [("spend", -400), ("adjust", 500)]


# -- money moves once ----------------------------------------------------------------------------
def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(system, shop):
    voucher = issue(system, shop, kind="stored_value", value=5000)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = ok(redeem(system, shop, code=voucher["code"], amount=1500, headers=key), 201)
    again = ok(redeem(system, shop, code=voucher["code"], amount=1500, headers=key), 201)
    assert again["id"] == first["id"] and again["reference"] == first["reference"]
    assert voucher_state(system, shop, voucher["code"])["balance"] == 3500
    other = redeem(system, shop, code=voucher["code"], amount=999, headers=key)
    assert error_of(other, 422)["code"] == "idempotency_key_reused"


def test_reversal_restores_the_voucher_and_settlement_adjusts(system, shop):
    voucher = issue(system, shop, kind="stored_value", value=4000)
    record = ok(redeem(system, shop, code=voucher["code"], amount=2500), 201)
    assert error_of(system.post("/api/v1/redemptions/%s/reversal" % record["id"], shop["tokens"]["store_user"],
                                json={"reason": "wrong customer"}), 403)["code"] == "role_not_allowed"
    reversed_ = ok(system.post("/api/v1/redemptions/%s/reversal" % record["id"], shop["tokens"]["owner"],
                               json={"reason": "customer changed their mind"}))
    assert reversed_["status"] == "reversed" and reversed_["voucher_balance"] == 4000
    assert reversed_["voucher_status"] == "active"
    again = system.post("/api/v1/redemptions/%s/reversal" % record["id"], shop["tokens"]["owner"],
                        json={"reason": "twice"})
    assert error_of(again, 409)["code"] == "already_reversed"
    finance = shop["tokens"]["finance"]
    kinds = wait_for(lambda: sorted(e["kind"] for e in ok(system.get(
        "/api/v1/settlements/entries?redemption_id=%s" % record["id"], finance))["items"]) == ["redemption", "reversal"]
        and True)
    assert kinds


# -- batches ------------------------------------------------------------------------------------
def test_batch_issue_is_a_job_to_poll_and_export(system, shop):
    owner = shop["tokens"]["owner"]
    response = system.post("/api/v1/vouchers/batches", owner, json={
        "count": 2500, "kind": "discount_fixed", "currency": "ZAR", "value": 500,
        "valid_until": "2030-01-01T00:00:00Z", "per_customer_limit": 1})
    job = ok(response, 202)
    assert response.headers["Location"] == "/api/v1/vouchers/batches/" + job["id"]
    assert job["status"] in ("queued", "running") and job["requested"] == 2500
    done = wait_for(lambda: (lambda j: j if j["status"] == "completed" else None)(
        ok(system.get("/api/v1/vouchers/batches/" + job["id"], owner))), timeout=60)
    assert done["issued"] == 2500
    exported = system.get("/api/v1/vouchers/batches/%s/codes.csv" % job["id"], owner)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2500 and len({row["code"] for row in rows}) == 2500
    listed = ok(system.get("/api/v1/vouchers?batch_id=%s&limit=5" % job["id"], owner))
    assert len(listed["items"]) == 5 and listed["next"]
    # the per-customer limit holds across the whole batch
    customer = ok(system.post("/api/v1/customers", owner, json={"name": "Lerato"}), 201)
    ok(redeem(system, shop, qr_payload=rows[0]["qr_payload"], customer_id=customer["id"]), 201)
    limited = redeem(system, shop, code=rows[1]["code"], customer_id=customer["id"])
    assert error_of(limited, 409)["code"] == "limit_reached"


# -- records ------------------------------------------------------------------------------------
def test_records_filters_totals_and_csv(system, onboard):
    shop = onboard()
    for amount in (100, 200, 300):
        voucher = issue(system, shop, kind="stored_value", value=1000)
        ok(redeem(system, shop, code=voucher["code"], amount=amount,
                  channel="kiosk" if amount == 300 else "pos", receipt_remarks="=HYPERLINK(\"x\")"), 201)
    owner = shop["tokens"]["owner"]
    page = ok(system.get("/api/v1/redemptions?limit=2", owner))
    assert len(page["items"]) == 2 and page["next"]
    rest = ok(system.get("/api/v1/redemptions?limit=2&cursor=" + page["next"], owner))
    assert len(rest["items"]) == 1 and rest["next"] is None
    kiosk = ok(system.get("/api/v1/redemptions?channel=kiosk", owner))["items"]
    assert [r["amount"] for r in kiosk] == [300]
    totals = ok(system.get("/api/v1/redemptions/totals", owner))["items"]
    assert [(t["store_id"], t["redemptions"], t["amount"]) for t in totals] == [(shop["store_id"], 3, 600)]
    exported = system.get("/api/v1/redemptions/export.csv?channel=pos", owner)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(int(r["amount"]) for r in rows) == [100, 200]
    assert rows[0]["receipt_remarks"].startswith("'=")  # never a live spreadsheet formula


# -- bad input changes nothing ------------------------------------------------------------------
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(system, shop, onboard, db_query):
    voucher = issue(system, shop, kind="stored_value", value=1000)
    before = voucher_state(system, shop, voucher["code"])
    till = shop["tokens"]["store_user"]
    cases = [
        ({"code": "ABCD-EFGH"}, 422, "code_malformed"),
        ({"code": voucher["code"][:-1] + ("0" if voucher["code"][-1] != "0" else "1")}, 422, "code_check_failed"),
        ({"code": voucher["code"], "amount": -5}, 422, "validation_failed"),
        ({"code": voucher["code"], "amount": 10.5}, 422, "validation_failed"),
        ({"code": voucher["code"], "amount": "100"}, 422, "validation_failed"),
        ({"code": voucher["code"], "channel": "fax"}, 422, "validation_failed"),
        ({"code": voucher["code"], "qr_payload": "VW1.x"}, 422, "validation_failed"),
    ]
    for body, status, code in cases:
        body.setdefault("channel", "pos")
        response = system.post("/api/v1/redemptions", till, json=body)
        assert error_of(response, status)["code"] == code, body
    not_json = system.post("/api/v1/redemptions", till, data="code=x", headers={"Content-Type": "text/plain"})
    assert error_of(not_json, 415)["code"] == "unsupported_media_type"
    huge = system.post("/api/v1/redemptions/validation", till,
                       files={"image": ("big.png", b"\x89PNG" + b"0" * (6 * 1024 * 1024), "image/png")})
    assert huge.status_code == 413
    text = system.post("/api/v1/redemptions/validation", till, files={"image": ("a.png", b"hello", "image/png")})
    assert error_of(text, 422)["code"] == "image_not_an_image"
    blank = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(blank, format="PNG")
    nothing = system.post("/api/v1/redemptions/validation", till,
                          files={"image": ("blank.png", blank.getvalue(), "image/png")})
    assert error_of(nothing, 422)["code"] == "image_no_code_found"
    no_image = system.post("/api/v1/redemptions/validation", till, files={"other": ("a.txt", b"x", "text/plain")})
    assert error_of(no_image, 422)["code"] == "image_required"

    someone_else = onboard()
    theirs = issue(system, someone_else)
    assert error_of(redeem(system, shop, code=theirs["code"]), 404)["code"] == "voucher_not_found"
    assert error_of(system.get("/api/v1/vouchers/" + theirs["code"], shop["tokens"]["owner"]), 404)["code"] \
        == "voucher_not_found"
    assert voucher_state(system, someone_else, theirs["code"])["status"] == "active"
    assert voucher_state(system, shop, voucher["code"]) == before
    assert db_query("SELECT count(*) FROM redemption.redemptions WHERE voucher_id = %s", (voucher["id"],)) == [(0,)]


def test_issue_validation(system, shop):
    owner = shop["tokens"]["owner"]
    cases = [
        ({"kind": "discount_fixed", "currency": "ZAR"}, "value"),
        ({"kind": "discount_fixed", "currency": "ZZZ", "value": 100}, "currency"),
        ({"kind": "discount_percent", "currency": "ZAR", "percent_bp": 20000}, "percent_bp"),
        ({"kind": "stored_value", "currency": "ZAR", "value": 0}, "value"),
        ({"kind": "stored_value", "currency": "ZAR", "value": 100, "valid_from": "2030-01-01T00:00:00Z",
          "valid_until": "2029-01-01T00:00:00Z"}, "valid_until"),
        ({"kind": "stored_value", "currency": "ZAR", "value": 100, "valid_until": "2030-01-01T00:00:00"},
         "valid_until"),
        ({"kind": "stored_value", "currency": "ZAR", "value": 100, "pin": "12"}, "pin"),
        ({"kind": "bogus", "currency": "ZAR", "value": 100}, "kind"),
    ]
    for body, field in cases:
        error = error_of(system.post("/api/v1/vouchers", owner, json=body), 422)
        assert field in error["fields"], (body, error)
    too_many = system.post("/api/v1/vouchers/batches", owner, json={
        "count": 100001, "kind": "discount_fixed", "currency": "ZAR", "value": 100})
    assert "count" in error_of(too_many, 422)["fields"]
    store_user = system.post("/api/v1/vouchers", shop["tokens"]["store_user"],
                             json={"kind": "discount_fixed", "currency": "ZAR", "value": 100})
    assert error_of(store_user, 403)["code"] == "role_not_allowed"
