"""CSV exports: redemption records for the portal, and the codes of an issue batch."""
import csv
import io

from plumbing.spreadsheets import safe_cell as _safe, text_of as _text
from services.redemption.contract.codes import format_code, mask_code

REDEMPTION_COLUMNS = ("reference", "created_at", "status", "store_id", "processed_by", "channel", "method",
                      "voucher_code", "amount", "points", "points_value", "purchase_amount", "currency",
                      "customer_id", "receipt_remarks", "reversed_at", "reversal_reason")
CODE_COLUMNS = ("code", "display_code", "qr_payload", "kind", "value", "percent_bp", "currency", "valid_until")


def redemptions_csv(rows, masked=False):
    """Redemption records; ``masked``: voucher codes show only their last four."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REDEMPTION_COLUMNS)
    show = mask_code if masked else format_code
    for row in rows:
        values = dict(row, voucher_code=show(row["voucher_code"]),
                      processed_by=(row["processed_by"] or {}).get("username"))
        writer.writerow([_safe(values.get(column)) for column in REDEMPTION_COLUMNS])
    return out.getvalue()


def codes_csv(rows, sign):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CODE_COLUMNS)
    for row in rows:
        writer.writerow([row["code"], format_code(row["code"]), sign(row["code"]), row["kind"],
                         _text(row["face_value"]), _text(row["percent_bp"]), row["currency"].strip(),
                         _text(row["valid_until"])])
    return out.getvalue()
