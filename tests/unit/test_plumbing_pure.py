"""The shared plumbing's pure parts: tokens, errors, money fields, validation, cursors."""
import time

import pytest
from marshmallow import Schema

from plumbing.auth import ADMIN, OWNER, Identity, TokenSigner, TokenVerifier, generate_keypair
from plumbing.errors import AppError, BadRequest, Conflict, Forbidden, Unauthenticated, ValidationFailed
from plumbing.fields import Currency, Id, Money
from plumbing.pagination import decode_cursor, encode_cursor, keyset
from plumbing.validation import flatten_messages, load, require_id

PRIVATE, PUBLIC = generate_keypair()


def test_a_signed_token_round_trips_the_identity():
    token, claims = TokenSigner(PRIVATE).sign("u1", "till-3", "store_user", merchant_id="m1", store_id="s1")
    identity = TokenVerifier(PUBLIC).verify(token)
    assert (identity.user_id, identity.role, identity.merchant_id, identity.store_id) == ("u1", "store_user", "m1", "s1")
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize("tamper", ["expired", "other_key", "edited", "garbage", "missing"])
def test_tokens_that_must_be_refused(tamper):
    signer = TokenSigner(PRIVATE)
    token, _ = signer.sign("u1", "owner", OWNER, merchant_id="m1")
    if tamper == "expired":
        token, _ = signer.sign("u1", "owner", OWNER, merchant_id="m1", now=time.time() - 3600)
    elif tamper == "other_key":
        token, _ = TokenSigner(generate_keypair()[0]).sign("u1", "owner", ADMIN)
    elif tamper == "edited":
        header, payload, signature = token.split(".")
        token = ".".join([header, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature])
    elif tamper == "garbage":
        token = "not-a-token"
    else:
        token = None
    with pytest.raises(Unauthenticated) as raised:
        TokenVerifier(PUBLIC).verify(token)
    expected = {"expired": "token_expired", "missing": "token_missing"}.get(tamper, "token_invalid")
    assert raised.value.code == expected


M1, M2 = "0b5d7e1a-9c3f-4f6a-8a2b-1c4d5e6f7a8b", "6f1c2f8e-2f7a-4a8e-9d59-3e6a4a1b2c3d"


def test_merchant_scope():
    owner = Identity("u", "o", OWNER, merchant_id=M1)
    assert owner.merchant_scope() == M1 and owner.merchant_scope(M1) == M1
    with pytest.raises(Forbidden):
        owner.merchant_scope(M2)
    admin = Identity("a", "a", ADMIN)
    assert admin.merchant_scope(M2) == M2
    with pytest.raises(Forbidden) as raised:
        admin.merchant_scope()
    assert raised.value.code == "merchant_required"
    with pytest.raises(ValidationFailed) as raised:
        admin.merchant_scope("not-a-merchant")  # a 422 naming the field, never a database error
    assert list(raised.value.fields) == ["merchant_id"]
    with pytest.raises(Forbidden):
        owner.require(ADMIN)


def test_errors_carry_code_message_fields_and_status():
    error = Conflict("already redeemed", code="voucher_already_redeemed")
    assert error.status == 409 and error.as_dict() == {"code": "voucher_already_redeemed",
                                                       "message": "already redeemed", "fields": {}}
    assert BadRequest("x").code == "bad_request"
    # they survive nameko's serialisation as their own type
    from nameko.exceptions import deserialize, serialize
    back = deserialize(serialize(ValidationFailed("bad", fields={"a": ["no"]})))
    assert isinstance(back, ValidationFailed) and back.fields == {"a": ["no"]}


def test_errors_crossing_services_cannot_be_subclassed_elsewhere():
    with pytest.raises(TypeError):
        type("Mine", (AppError,), {"__module__": "somewhere.else"})


class PriceSchema(Schema):
    amount = Money(required=True)
    currency = Currency(required=True)
    id = Id(load_default=None)


@pytest.mark.parametrize("amount", [10.5, 10.0, "100", True, -1, None, 10 ** 16])
def test_money_is_a_whole_non_negative_number_of_minor_units(amount):
    with pytest.raises(ValidationFailed) as raised:
        load(PriceSchema(), {"amount": amount, "currency": "EUR"})
    assert "amount" in raised.value.fields


def test_money_and_currency_accepted():
    assert load(PriceSchema(), {"amount": 1050, "currency": "ZAR"}) == {"amount": 1050, "currency": "ZAR", "id": None}
    with pytest.raises(ValidationFailed) as raised:
        load(PriceSchema(), {"amount": 1, "currency": "XYZ"})
    assert list(raised.value.fields) == ["currency"]


def test_validation_names_every_bad_field_flat():
    assert flatten_messages({"a": {"b": ["bad"]}, "c": ["worse"]}) == {"a.b": ["bad"], "c": ["worse"]}
    with pytest.raises(ValidationFailed) as raised:
        load(PriceSchema(), {"amount": "x", "currency": "x", "extra": 1})
    assert set(raised.value.fields) == {"amount", "currency", "extra"}
    with pytest.raises(ValidationFailed):
        require_id("not-a-uuid")


def test_cursors_round_trip_and_refuse_forgeries():
    position = {"t": "2026-11-22T12:00:00+00:00", "i": "6f1c2f8e-2f7a-4a8e-9d59-3e6a4a1b2c3d"}
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    condition, params = keyset(cursor)
    assert params == (position["t"], position["i"]) and "<" in condition
    forged = [{"x": 1}, {"t": "x", "i": position["i"]}, {"t": position["t"], "i": "y"}, {"t": None, "i": None},
              {"t": "2026-11-22T12:00:00", "i": position["i"]}]
    for bad in ["%%%", "bm90LWpzb24", encode_cursor([1, 2])] + [encode_cursor(f) for f in forged]:
        with pytest.raises(BadRequest) as raised:
            keyset(bad)
        assert raised.value.code == "invalid_cursor"
