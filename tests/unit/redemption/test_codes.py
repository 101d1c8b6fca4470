import re

import pytest

from plumbing.errors import ValidationFailed
from services.redemption.codes import generate_code, generate_codes
from services.redemption.contract.codes import ALPHABET, check_symbol, format_code, is_valid_code, normalize_code

SAMPLE = generate_codes(40)


def error_of(text):
    with pytest.raises(ValidationFailed) as caught:
        normalize_code(text)
    return caught.value


def reference_check_symbol(body):
    """Luhn mod N as published (Wikipedia), written independently of the module."""
    factor, total = 2, 0
    for symbol in reversed(body):
        addend = factor * ALPHABET.index(symbol)
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def test_generated_code_is_16_crockford_symbols_that_validate():
    code = generate_code()
    assert re.fullmatch("[0-9A-HJKMNP-TV-Z]{16}", code)
    assert normalize_code(code) == code
    assert is_valid_code(code)


def test_check_symbol_is_standard_luhn_mod_32():
    # Other clients (tills, apps) can check codes offline with any Luhn mod N implementation.
    assert check_symbol("000000000000000") == "0"
    assert check_symbol("ABCDEFGHJKMNPQR") == reference_check_symbol("ABCDEFGHJKMNPQR")
    for code in SAMPLE:
        assert code[-1] == reference_check_symbol(code[:-1])


def test_every_symbol_turns_up_in_every_random_position():
    codes = generate_codes(2000)
    for position in range(15):
        assert {code[position] for code in codes} == set(ALPHABET)


def test_generate_codes_gives_distinct_valid_codes():
    codes = generate_codes(500)
    assert len(codes) == len(set(codes)) == 500
    assert all(is_valid_code(code) for code in codes)
    assert generate_codes(0) == []


def test_format_groups_in_fours_and_reads_back():
    code = generate_code()
    shown = format_code(code)
    assert re.fullmatch(r"\w{4}-\w{4}-\w{4}-\w{4}", shown)
    assert shown.replace("-", "") == code
    assert normalize_code(shown) == code


def test_normalize_forgives_case_spaces_dashes_and_lookalikes():
    body = "01ABCDEFGHJKMNP"
    code = body + check_symbol(body)
    typed = "oI ab-cdef  ghjk\u2013mnp" + code[-1].lower() + "\n"
    assert normalize_code(typed) == code
    assert normalize_code("OL" + code[2:]) == code
    assert format_code(typed) == "01AB-CDEF-GHJK-MNP" + code[-1]


@pytest.mark.parametrize("text", [
    "", "   ", None, 1234, "ABCD-EFGH-JKMN-PQR",  # too short
    "ABCD-EFGH-JKMN-PQR77",  # too long
    "ABCD-EFGH-JKMN-PQRU",  # U is not in the alphabet
    "ABCD-EFGH-JKMN-PQR*",
    "ABCD-EFGH-JKMN-PQRß",  # would become "SS" if upper-cased first
])
def test_malformed_codes_are_refused_with_code_field(text):
    error = error_of(text)
    assert error.code == "code_malformed"
    assert list(error.fields) == ["code"]
    assert not is_valid_code(text)


def test_malformed_message_names_the_bad_characters():
    assert "U" in error_of("ABCD-EFGH-JKMN-PQRU").message


def test_wrong_check_symbol_is_reported_as_a_typo():
    code = generate_code()
    wrong = code[:-1] + next(s for s in ALPHABET if s != code[-1])
    error = error_of(wrong)
    assert error.code == "code_check_failed"
    assert "typo" in error.message
    assert error.fields == {"code": [error.message]}


def test_every_single_mistyped_symbol_is_caught():
    for code in SAMPLE:
        for position in range(16):
            for symbol in ALPHABET:
                if symbol != code[position]:
                    typo = code[:position] + symbol + code[position + 1:]
                    assert error_of(typo).code == "code_check_failed", typo


def test_every_swap_of_adjacent_symbols_is_caught():
    for code in SAMPLE + generate_codes(2000):
        for i in range(15):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
                assert not is_valid_code(swapped), (code, swapped)


def test_luhn_mod_32_alone_misses_0_Z_swaps_so_we_never_issue_them_adjacent():
    body = "0Z" + "A" * 13
    valid = body + check_symbol(body)
    assert is_valid_code(valid) and is_valid_code("Z0" + valid[2:])  # the algorithm's blind spot
    for code in generate_codes(5000):
        assert "0Z" not in code and "Z0" not in code
