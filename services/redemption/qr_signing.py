"""Signed QR payloads: ``VW1.<code>.<expires>.<sig>``.

The QR on a voucher carries its code signed by the platform, so a QR someone
made or edited themselves is refused at the till. ``<expires>`` is a unix
timestamp, or ``0`` for never (screens can show short-lived QRs). ``<sig>`` is
base64url, unpadded, of the first 16 bytes of HMAC-SHA256 over everything
before it: 128 bits is plenty against forgery and keeps the QR small.

Keys rotate: verification takes a list of keys, newest first, so a QR printed
before a rotation still scans; signing always uses the newest.
"""
import base64
import hashlib
import hmac
import re
from datetime import datetime, timezone

from plumbing.errors import ValidationFailed

from services.redemption.contract.codes import ALPHABET, CODE_LENGTH, normalize_code

PREFIX = "VW1."
SIG_BYTES = 16
# Strict, so exactly one text verifies for a given code and expiry.
_PAYLOAD = re.compile(
    r"VW1\.(?P<code>[%s]{%d})\.(?P<expires>0|[1-9][0-9]{0,11})\.(?P<sig>[A-Za-z0-9_-]{22})"
    % (ALPHABET, CODE_LENGTH)
)
_MAX_LENGTH = 100  # well above a real payload; stops us regex-matching junk
_NOT_OURS = "This QR code is not a VowRewards voucher"


def sign_payload(code, key, expires_at=None):
    """The QR text for ``code``, valid until ``expires_at`` (aware datetime) or forever."""
    code = normalize_code(code)
    if expires_at is None:
        expires = 0
    else:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = int(expires_at.timestamp())
        if expires < 1:  # 0 means "never": a past date must not turn into that
            raise ValueError("expires_at must be after 1970-01-01")
    message = f"{PREFIX}{code}.{expires}"
    return f"{message}.{_signature(_keys(key)[0], message)}"


def verify_payload(text, key, now=None):
    """The code in a scanned QR text, or ValidationFailed (qr_malformed/qr_forged/qr_expired)."""
    if not isinstance(text, str) or len(text) > _MAX_LENGTH:
        _refuse("qr_malformed", _NOT_OURS)
    text = text.strip()  # scanners often add a newline
    match = _PAYLOAD.fullmatch(text)
    if match is None:
        _refuse("qr_malformed", _NOT_OURS)
    code = match["code"]
    try:
        normalize_code(code)
    except ValidationFailed:
        # We never sign such a code, so this is not one of our QRs.
        _refuse("qr_malformed", _NOT_OURS)

    message = text.rpartition(".")[0]
    if not any(hmac.compare_digest(_signature(k, message), match["sig"]) for k in _keys(key)):
        _refuse("qr_forged", "This QR code was not issued by VowRewards")

    expires = int(match["expires"])
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if expires and now.timestamp() > expires:
        _refuse("qr_expired", "This QR code has expired: ask the customer to show it again")
    return code


def looks_like_signed_payload(text):
    """True when a scanned text is meant to be one of our signed payloads."""
    return isinstance(text, str) and text.strip().startswith(PREFIX)


def _signature(key, message):
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()[:SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _keys(key):
    keys = key if isinstance(key, (list, tuple)) else [key]
    keys = [k.encode("utf-8") if isinstance(k, str) else bytes(k) for k in keys]
    # An empty key would let anyone sign: refuse a missing QR_SIGNING_KEY loudly.
    if not keys or not all(keys):
        raise ValueError("QR signing needs at least one non-empty key")
    return keys


def _refuse(code, message):
    raise ValidationFailed(message, code=code, fields={"qr_payload": [message]})
