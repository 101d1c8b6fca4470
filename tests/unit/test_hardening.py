"""The pure parts of issue 6's hardening: input checks, identity fields, bounded errors,
CSV cells, who the client is behind proxies, and the sign-in back-off policy."""
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import Schema

from gateway.http import app_error_response, client_address, error_body, parse_networks
from gateway.throttle import POLICIES, check, scopes_for, wait_seconds
from plumbing.errors import ServiceUnavailable, TooManyRequests, ValidationFailed
from plumbing.fields import AwareDateTime, Name, Username
from plumbing.spreadsheets import safe_cell
from plumbing.validation import MAX_ERROR_FIELDS, bounded_fields, check_structure, load
from services.redemption.codes import generate_code
from services.redemption.exports import redemptions_csv

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


# -- what no schema thinks of --------------------------------------------------------------
@pytest.mark.parametrize("data, field", [
    ({"name": "a\x00b"}, "name"),
    ({"items": [{"note": "ok"}, {"note": "\ud800"}]}, "items.1.note"),
    ({"a\x00": 1}, "_schema"),
    ({"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "deep" + ".0" * 31),
])
def test_text_no_column_can_hold_and_absurd_nesting_are_refused(data, field):
    with pytest.raises(ValidationFailed) as raised:
        check_structure(data)
    assert list(raised.value.fields) == [field]


def test_ordinary_input_passes_and_load_checks_it_first():
    check_structure({"name": "Zoë 🙂", "tags": [1, 2.5, None, True], "nested": {"a": {"b": "c"}}})

    class Note(Schema):
        text = Name()
    with pytest.raises(ValidationFailed) as raised:
        load(Note, {"text": "x\x00"})
    assert raised.value.code == "invalid_text"


def test_error_details_are_bounded():
    fields = {"field_%d" % n: ["Unknown field."] for n in range(5000)}
    fields["x" * 1000] = ["m" * 10_000] * 50
    bounded = bounded_fields(fields)
    assert len(bounded) == MAX_ERROR_FIELDS + 1 and bounded["_more"] == ["4981 more fields are not valid."]
    body = error_body("validation_failed", "y" * 100_000, {"x" * 1000: ["m" * 10_000] * 50})
    assert len(body["error"]["message"]) <= 500
    (name, messages), = body["error"]["fields"].items()
    assert len(name) <= 100 and len(messages) <= 3 and all(len(m) <= 200 for m in messages)


# -- identity fields -----------------------------------------------------------------------------
class Person(Schema):
    username = Username()
    name = Name()


@pytest.mark.parametrize("field, value", [
    ("username", "owner\n"), ("username", "owner\r"), ("username", "ow ner"), ("username", "-owner"),
    ("username", "o"), ("name", "Ann\u202eeeL"), ("name", "Ann\u200bLee"), ("name", "Ann\u200dLee"),
    ("name", "\ufeffAnn"), ("name", "Ann\u2066Lee\u2069"), ("name", "Ann\nLee"), ("name", "Ann\u2028Lee"),
    ("name", "\u3164"), ("name", "   "), ("name", "Ann\u00adLee"),
])
def test_identity_fields_refuse_hidden_and_reordering_characters(field, value):
    errors = Person().validate({field: value})
    assert field in errors, value


def test_identity_fields_are_nfkc_normalised():
    loaded = Person().load({"username": "ｏｗｎｅｒ-１", "name": "  Ｃａｎａｌ\u00a0 Walk   Kiosk "})
    assert loaded == {"username": "owner-1", "name": "Canal Walk Kiosk"}


@pytest.mark.parametrize("text, expected", [
    ("2026-05-01T14:00:00+14:00", datetime(2026, 5, 1, 0, 0, tzinfo=timezone.utc)),
    ("2026-05-01T00:00:00-12:00", datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)),
    ("2026-05-01T00:00:00+16:00", None),
    ("2026-05-01T00:00:00-23:59", None),
    ("9999-12-31T23:59:59-05:00", None),
])
def test_date_times_are_utc_with_offsets_real_clocks_use(text, expected):
    field = AwareDateTime()
    if expected is None:
        with pytest.raises(Exception):
            field.deserialize(text)
    else:
        value = field.deserialize(text)
        assert value == expected and value.utcoffset() == timedelta(0)


# -- CSV cells ------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", " =1",
                                   "＝1+1", "＋1", "－1", "＠SUM(A1)", "\u3000=1", "\u00a0=1"])
def test_a_cell_a_spreadsheet_could_run_is_text(typed):
    assert safe_cell(typed) == "'" + typed


def test_ordinary_cells_and_numbers_are_unchanged():
    assert [safe_cell(v) for v in ("till 3", "A=B", "", None, -5, 1050)] == ["till 3", "A=B", "", "", "-5", "1050"]


def test_redemption_exports_neutralise_every_formula_start():
    row = {"reference": "RD-1", "created_at": NOW, "status": "completed", "store_id": "s", "voucher_code": generate_code(),
           "processed_by": {"username": "＠till"}, "channel": "pos", "method": "code", "amount": 100, "points": 0,
           "points_value": 0, "purchase_amount": None, "currency": "ZAR", "customer_id": None,
           "receipt_remarks": "\t=HYPERLINK(\"http://x\")", "reversed_at": None, "reversal_reason": " -2+3"}
    text = redemptions_csv([row])
    assert "'\t=HYPERLINK" in text and "'＠till" in text and "' -2+3" in text


# -- who is calling -------------------------------------------------------------------------------
TRUSTED = parse_networks("10.0.0.0/8, 127.0.0.1")


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.5", None, "203.0.113.5"),
    ("203.0.113.5", "198.51.100.1", "203.0.113.5"),                # not from our proxy: the header is ignored
    ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
    ("127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),        # what the client wrote is left of its hop
    ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),       # two proxies of ours
    ("127.0.0.1", "10.1.2.3, 10.4.5.6", "10.1.2.3"),
    ("127.0.0.1", "junk, 198.51.100.1", "198.51.100.1"),
    ("127.0.0.1", "198.51.100.1, junk", "127.0.0.1"),
    ("::ffff:127.0.0.1", "2001:db8::1", "2001:db8::1"),
])
def test_the_client_address_believes_only_trusted_proxies(peer, forwarded, expected):
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_ipv6_clients_are_counted_per_64():
    one = dict(scopes_for("2001:db8:1:2::7", "Ann"))
    other = dict(scopes_for("2001:db8:1:2:ffff::1", "ann "))
    assert one == other and one["address"] == "2001:db8:1:2::/64"


# -- the sign-in back-off -----------------------------------------------------------------------
def counter(scope, failures, seconds_ago=0):
    return {"scope": scope, "failures": failures, "last_failure_at": NOW - timedelta(seconds=seconds_ago)}


def test_free_failures_then_a_doubling_wait_up_to_a_cap():
    pair = POLICIES["pair"]
    assert wait_seconds(counter("pair", pair.free - 1), NOW) == 0
    assert [wait_seconds(counter("pair", pair.free + n), NOW) for n in range(4)] == [1, 2, 4, 8]
    assert wait_seconds(counter("pair", 1000), NOW) == pair.cap_seconds
    assert wait_seconds(counter("account", 1000), NOW) == 60  # an outsider delays the real user a minute at most
    assert wait_seconds(counter("pair", pair.free + 3, seconds_ago=5), NOW) == 3
    assert wait_seconds(counter("pair", 1000, seconds_ago=3600), NOW) == 0  # forgotten after an hour


def test_a_try_that_must_wait_is_told_how_long_and_the_longest_wait_wins():
    with pytest.raises(TooManyRequests) as raised:
        check([counter("address", 10), counter("pair", 9), counter("account", 0)], NOW)
    assert raised.value.code == "sign_in_throttled" and raised.value.fields == {"retry_after": ["16"]}
    check([counter("address", 3), counter("pair", 2)], NOW)


def test_429_and_503_answers_say_when_to_come_back():
    assert app_error_response(TooManyRequests("x", fields={"retry_after": ["16"]})).headers["Retry-After"] == "16"
    assert app_error_response(TooManyRequests("x")).headers["Retry-After"] == "1"
    assert app_error_response(ServiceUnavailable("x", fields={"retry_after": ["1"]})).headers["Retry-After"] == "1"
    assert "Retry-After" not in app_error_response(ServiceUnavailable("x")).headers
