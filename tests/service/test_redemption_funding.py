"""What the redemption service tells the campaign service when a funded voucher is cancelled or
expires: the agreement that paid for it and the value it had left, so that value goes back."""
import pytest

from services.redemption.codes import generate_code
from services.redemption.service import RedemptionService
from tests.service.conftest import call, new_id, started


@pytest.fixture(scope="module")
def redemption(make_config):
    with started(RedemptionService, make_config("redemption")) as container:
        yield container


def voucher_row(query, merchant_id, **fields):
    row = {"id": new_id(), "code": generate_code(), "merchant_id": merchant_id,
           "campaign_id": new_id(), "batch_id": None, "funding": "platform", "funding_agreement_id": new_id(),
           "kind": "discount_fixed", "currency": "ZAR", "face_value": 1000, "balance": None, "cap": None,
           "percent_bp": None, "uses_allowed": 1, "uses": 0, "valid_until": None, "status": "active"}
    row.update(fields)
    query("INSERT INTO redemption.vouchers (id, code, merchant_id, campaign_id, batch_id, funding, "
          "funding_agreement_id, kind, currency, face_value, balance, cap, percent_bp, uses_allowed, uses, "
          "valid_from, valid_until, status, created_by) VALUES (%(id)s, %(code)s, %(merchant_id)s, %(campaign_id)s, "
          "%(batch_id)s, %(funding)s, %(funding_agreement_id)s, %(kind)s, %(currency)s, %(face_value)s, "
          "%(balance)s, %(cap)s, %(percent_bp)s, %(uses_allowed)s, %(uses)s, now() - interval '2 days', "
          "%(valid_until)s, %(status)s, '{}')", row)
    return row


def test_an_expired_voucher_names_its_agreement_and_what_it_had_left(redemption, query, emitted):
    merchant_id = new_id()
    voucher = voucher_row(query, merchant_id, uses_allowed=3, uses=1, batch_id=new_id(),
                          valid_until="2025-01-01T00:00:00Z")
    call(redemption, "expire_vouchers", {})  # what the timer runs every minute
    [payload] = emitted("redemption", "voucher_expired", voucher_id=voucher["id"])
    assert payload == {
        "voucher_id": voucher["id"], "merchant_id": merchant_id, "campaign_id": voucher["campaign_id"],
        "batch_id": voucher["batch_id"], "funding_agreement_id": voucher["funding_agreement_id"],
        "unused_balance": None, "unused_value": 2000}  # two uses of 1000 were never taken


def test_a_cancelled_voucher_names_its_agreement_and_what_it_had_left(redemption, query, emitted, as_user):
    merchant_id = new_id()
    voucher = voucher_row(query, merchant_id, kind="stored_value", face_value=5000, balance=700,
                          status="partially_redeemed", uses=2)
    call(redemption, "cancel_voucher", as_user("owner", merchant_id=merchant_id), voucher["code"],
         {"reason": "customer lost the card"})
    [payload] = emitted("redemption", "voucher_cancelled", voucher_id=voucher["id"])
    assert (payload["funding_agreement_id"], payload["campaign_id"], payload["unused_value"],
            payload["unused_balance"], payload["reason"]) == (
        voucher["funding_agreement_id"], voucher["campaign_id"], 700, 700, "customer lost the card")
