"""Drawing new voucher codes (the format is the contract's: ``contract/codes.py``)."""
import secrets

from services.redemption.contract.codes import ALPHABET, BLIND_PAIRS, RANDOM_LENGTH, check_symbol


def generate_code():
    """A new random code, normalized (16 symbols, no dashes)."""
    while True:
        body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
        code = body + check_symbol(body)
        # Rejects about 3% of draws; costs well under 0.1 bit of the 75.
        if not any(pair in code for pair in BLIND_PAIRS):
            return code


def generate_codes(n):
    """``n`` new codes, no two alike."""
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative integer")
    codes = {}  # a dict keeps the order and makes duplicates (practically never) cheap to skip
    while len(codes) < n:
        codes[generate_code()] = None
    return list(codes)
