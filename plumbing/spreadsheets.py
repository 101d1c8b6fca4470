"""CSV cells a spreadsheet will not run: text people typed is never a formula.

Excel, LibreOffice and Google Sheets treat a cell starting with ``= + - @`` as a
formula, and skip leading tabs, line breaks and spaces before looking (some also
read the full-width ``＝ ＋ － ＠`` as their ASCII twins). Such a cell gets a leading
apostrophe, which every spreadsheet shows as plain text. Numbers and dates are
ours, not typed, and pass through unchanged.
"""
import unicodedata

FORMULA_STARTS = frozenset("=+-@")
SKIPPED_BEFORE_FORMULA = frozenset("\t\r\n \u00a0\u3000")


def text_of(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def risky(text):
    """True when a spreadsheet could read ``text`` as (the start of) a formula."""
    if not text:
        return False
    first = text[0]
    return first in SKIPPED_BEFORE_FORMULA or unicodedata.normalize("NFKC", first) in FORMULA_STARTS


def safe_cell(value):
    """The CSV cell for ``value``: text that could be a formula is prefixed with an apostrophe."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = text_of(value)
    return "'" + text if risky(text) else text
