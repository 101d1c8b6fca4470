"""How voucher codes (and partners' codes) are shown to those who may not redeem them."""
from services.redemption.codes import generate_code
from services.redemption.contract.codes import mask_code, mask_text


def test_codes_are_masked_to_their_last_four():
    code = generate_code()
    masked = mask_code(code.lower())
    assert masked == "\u2022\u2022\u2022\u2022-\u2022\u2022\u2022\u2022-\u2022\u2022\u2022\u2022-" + code[-4:]
    assert code[:12] not in masked
    assert mask_text("ACME-1234567890") == "\u2022" * 11 + "7890"
    assert mask_text("SHORT12") == "\u2022" * 7  # too short to show any of it
    assert mask_text("") == "\u2022" * 4
