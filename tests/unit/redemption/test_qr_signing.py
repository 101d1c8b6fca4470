import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

import pytest

from plumbing.errors import ValidationFailed
from services.redemption.codes import generate_code
from services.redemption.contract.codes import check_symbol, format_code
from services.redemption.qr_signing import looks_like_signed_payload, sign_payload, verify_payload

KEY = b"current-key-0123456789abcdef"
OLD_KEY = b"previous-key-0123456789abcdef"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def refused(text, key=KEY, now=NOW):
    with pytest.raises(ValidationFailed) as caught:
        verify_payload(text, key, now=now)
    assert list(caught.value.fields) == ["qr_payload"]
    return caught.value.code


def spec_signature(key, message):
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_signed_payload_round_trips_to_the_code():
    code = generate_code()
    payload = sign_payload(code, KEY)
    assert verify_payload(payload, KEY) == code


def test_payload_has_the_documented_format_and_signature():
    code = generate_code()
    payload = sign_payload(format_code(code).lower(), KEY)
    assert re.fullmatch(r"VW1\.%s\.0\.[A-Za-z0-9_-]{22}" % code, payload)
    assert payload.rsplit(".", 1)[1] == spec_signature(KEY, f"VW1.{code}.0")


def test_short_lived_payload_expires():
    code = generate_code()
    payload = sign_payload(code, KEY, expires_at=NOW + timedelta(minutes=5))
    assert payload.split(".")[2] == str(int((NOW + timedelta(minutes=5)).timestamp()))
    assert verify_payload(payload, KEY, now=NOW + timedelta(minutes=4, seconds=59)) == code
    assert refused(payload, now=NOW + timedelta(minutes=5, seconds=1)) == "qr_expired"


def test_payload_without_expiry_never_expires():
    payload = sign_payload(generate_code(), KEY)
    assert verify_payload(payload, KEY, now=NOW + timedelta(days=3650))


def test_expiry_in_another_timezone_is_the_same_instant():
    paris = timezone(timedelta(hours=1))
    payload = sign_payload(generate_code(), KEY, expires_at=datetime(2025, 3, 1, 13, 5, tzinfo=paris))
    assert verify_payload(payload, KEY, now=NOW + timedelta(minutes=5))
    assert refused(payload, now=NOW + timedelta(minutes=6)) == "qr_expired"


def test_edited_or_foreign_payloads_are_forged():
    code, other = generate_code(), generate_code()
    payload = sign_payload(code, KEY, expires_at=NOW + timedelta(minutes=5))
    prefix, _, expires, sig = payload.split(".")
    flipped = sig[:5] + ("A" if sig[5] != "A" else "B") + sig[6:]
    assert refused(f"{prefix}.{code}.{expires}.{flipped}") == "qr_forged"
    assert refused(f"{prefix}.{other}.{expires}.{sig}") == "qr_forged"  # swapped voucher
    assert refused(f"{prefix}.{code}.0.{sig}") == "qr_forged"  # expiry removed
    assert refused(payload, key=b"some-other-key") == "qr_forged"


def test_forgery_is_reported_before_expiry():
    payload = sign_payload(generate_code(), b"attacker", expires_at=NOW - timedelta(hours=1))
    assert refused(payload) == "qr_forged"


@pytest.mark.parametrize("text", [
    None, "", "hello", "VW1.", "VW1...", "https://example.com/voucher",
    "VW2.ABCDEFGHJKMNPQR7.0.AAAAAAAAAAAAAAAAAAAAAA",
    "VW1.ABCD-EFGH-JKMN-PQR7.0.AAAAAAAAAAAAAAAAAAAAAA",
    "VW1.%s.0.AAAA",  # signature too short
    "VW1.%s.0.AAAAAAAAAAAAAAAAAAAAAA.extra",
    "VW1.%s.-5.AAAAAAAAAAAAAAAAAAAAAA",
    "VW1.%s.0.AAAAAAAAAAAAAAAAAAAAAA" + "A" * 200,
])
def test_unparseable_payloads_are_malformed(text):
    if isinstance(text, str) and "%s" in text:
        text = text % generate_code()
    assert refused(text) == "qr_malformed"


def test_code_with_a_bad_check_symbol_is_malformed_even_if_signed():
    body = generate_code()[:15]
    wrong = next(s for s in "0123456789" if s != check_symbol(body))
    message = f"VW1.{body}{wrong}.0"
    assert refused(f"{message}.{spec_signature(KEY, message)}") == "qr_malformed"


def test_trailing_newline_from_a_scanner_is_accepted():
    code = generate_code()
    assert verify_payload(sign_payload(code, KEY) + "\r\n", KEY) == code


def test_qr_printed_before_a_key_rotation_still_verifies():
    code = generate_code()
    old_payload = sign_payload(code, OLD_KEY)
    assert verify_payload(old_payload, [KEY, OLD_KEY]) == code

    new_payload = sign_payload(code, [KEY, OLD_KEY])
    assert verify_payload(new_payload, KEY) == code
    assert refused(new_payload, key=OLD_KEY) == "qr_forged"
    assert refused(old_payload, key=[KEY]) == "qr_forged"  # once the old key is retired


def test_str_and_bytes_keys_are_the_same_key():
    code = generate_code()
    assert verify_payload(sign_payload(code, KEY.decode()), KEY) == code


@pytest.mark.parametrize("key", [b"", "", [], [KEY, b""]])
def test_missing_key_is_a_configuration_error(key):
    with pytest.raises(ValueError):
        sign_payload(generate_code(), key)
    with pytest.raises(ValueError):
        verify_payload(sign_payload(generate_code(), KEY), key)


def test_naive_or_epoch_expiry_is_refused():
    with pytest.raises(ValueError):
        sign_payload(generate_code(), KEY, expires_at=datetime(2025, 3, 1, 12, 0))
    with pytest.raises(ValueError):  # would otherwise read as "0", i.e. never expires
        sign_payload(generate_code(), KEY, expires_at=datetime(1970, 1, 1, tzinfo=timezone.utc))


def test_looks_like_signed_payload_routes_scans():
    code = generate_code()
    assert looks_like_signed_payload(sign_payload(code, KEY))
    assert looks_like_signed_payload("VW1.garbage")  # ours, then refused by verify_payload
    assert not looks_like_signed_payload(code)
    assert not looks_like_signed_payload(format_code(code))
    assert not looks_like_signed_payload("https://example.com")
    assert not looks_like_signed_payload(None)
