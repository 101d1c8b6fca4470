"""The voucher code format: 16 Crockford Base32 symbols, the last one a check symbol.

A code is 15 random symbols (75 bits, drawn by the redemption service:
``services/redemption/codes.py``) plus a Luhn mod N check symbol (N = 32),
shown as ``ABCD-EFGH-JKMN-PQR7``. Crockford's alphabet leaves out I, L, O and
U so a code survives being read aloud or typed, and the check symbol lets us
tell a typo from an unknown code before any lookup.

Luhn mod N catches every single mistyped symbol and every swap of two
adjacent symbols except one pair: the first and last symbols of the alphabet
(``0`` and ``Z``), just as decimal Luhn misses ``09`` <-> ``90``. We never
issue a code in which those two stand next to each other, so every adjacent
swap of an issued code is caught (``BLIND_PAIRS``).
"""
from plumbing.errors import ValidationFailed

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
N = len(ALPHABET)
RANDOM_LENGTH = 15
CODE_LENGTH = RANDOM_LENGTH + 1
GROUP = 4

_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
# Crockford: letters people type for digits they see.
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
# Separators people (and autocorrect) put in when copying a grouped code.
_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2212"
# The one adjacent swap Luhn mod 32 cannot see (see module docstring).
BLIND_PAIRS = (ALPHABET[0] + ALPHABET[-1], ALPHABET[-1] + ALPHABET[0])


def _luhn_sum(values, double_first):
    """Luhn mod N sum, walking right to left and doubling every other value."""
    total, double = 0, double_first
    for value in reversed(values):
        if double:
            value *= 2
            value = value // N + value % N
        total += value
        double = not double
    return total % N


def check_symbol(body):
    """The check symbol for ``body``, a string of Crockford symbols."""
    values = [_VALUE[symbol] for symbol in body]
    return ALPHABET[(N - _luhn_sum(values, double_first=True)) % N]


def _check_passes(code):
    return _luhn_sum([_VALUE[symbol] for symbol in code], double_first=False) == 0


def normalize_code(text):
    """The 16-symbol form of a code as a person typed it, or ValidationFailed.

    Ignores spaces and dashes, accepts lower case and reads I/L as 1 and O as 0.
    """
    if not isinstance(text, str):
        _malformed("Enter the voucher code")
    compact = "".join(text.split())
    for separator in _SEPARATORS:
        compact = compact.replace(separator, "")
    if not compact:
        _malformed("Enter the voucher code")
    # Checked before upper-casing: "ß".upper() is "SS", "ı".upper() is "I".
    if not compact.isascii():
        _malformed("A voucher code has only letters and digits")
    compact = compact.upper().translate(_LOOKALIKES)
    bad = sorted({symbol for symbol in compact if symbol not in _VALUE})
    if bad:
        _malformed("A voucher code never contains " + ", ".join(bad))
    if len(compact) != CODE_LENGTH:
        _malformed(f"A voucher code has {CODE_LENGTH} letters and digits, this has {len(compact)}")
    if not _check_passes(compact):
        message = "This code has a typo: check it and type it again"
        raise ValidationFailed(message, code="code_check_failed", fields={"code": [message]})
    return compact


def format_code(code):
    """The code grouped in fours for reading aloud: ``ABCD-EFGH-JKMN-PQR7``."""
    code = normalize_code(code)
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def is_valid_code(text):
    """True when ``text`` is one of our codes as typed (format and check symbol)."""
    try:
        normalize_code(text)
    except ValidationFailed:
        return False
    return True


def _malformed(message):
    raise ValidationFailed(message, code="code_malformed", fields={"code": [message]})


MASK_SYMBOL = "\u2022"
SHOWN_WHEN_MASKED = 4


def mask_code(code):
    """The code as shown to those who may not redeem it: ``••••-••••-••••-PQR7``.

    The last four tell vouchers apart on a call or a statement; the other twelve
    symbols (60 random bits) stay secret.
    """
    code = normalize_code(code)
    hidden = len(code) - SHOWN_WHEN_MASKED
    masked = MASK_SYMBOL * hidden + code[hidden:]
    return "-".join(masked[i:i + GROUP] for i in range(0, len(masked), GROUP))


def mask_text(text):
    """Any other bearer text (a partner's code): all but its last four symbols hidden."""
    text = text or ""
    shown = text[-SHOWN_WHEN_MASKED:] if len(text) > SHOWN_WHEN_MASKED * 2 else ""
    return MASK_SYMBOL * max(len(text) - len(shown), SHOWN_WHEN_MASKED) + shown
