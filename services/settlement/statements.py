"""A batch's statement, as JSON and as CSV (cells a spreadsheet will not run as formulas)."""
import csv
import io

from plumbing.spreadsheets import safe_cell
from services.settlement import batches, storage
from services.settlement.contract.schemas import ExceptionSchema, PayoutSchema

LINE_COLUMNS = ("store_id", "counterparty", "agreement_id", "currency", "redemptions", "reversals", "gross",
                "funded", "fee", "payable")


def statement(svc, batch):
    return {
        "batch": batches.dump(svc, batch),
        "payouts": PayoutSchema(many=True).dump(storage.payouts_of(svc.db, batch["id"])),
        "exceptions": ExceptionSchema(many=True).dump(storage.exceptions_of_batch(svc.db, batch["id"])),
    }


def statement_csv(document):
    """One row per line (store and counterparty), then the totals; a header block says which batch."""
    batch = document["batch"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def row(*cells):
        writer.writerow([safe_cell(cell) for cell in cells])

    row("statement", batch["reference"])
    for name in ("merchant_id", "period", "period_start", "period_end", "currency", "status", "provider_reference"):
        row(name, batch.get(name))
    row()
    row(*LINE_COLUMNS)
    for line in batch["lines"]:
        row(*(line.get(name) for name in LINE_COLUMNS))
    row("total", "", "", batch["currency"], sum(l["redemptions"] for l in batch["lines"]),
        sum(l["reversals"] for l in batch["lines"]), batch["total"], batch["funded"], batch["fees"],
        batch["payout_amount"])
    for payout in document["payouts"]:
        row("payout", payout["attempt"], payout["status"], payout["amount"], payout["provider"],
            payout["provider_reference"], payout["wallet_address"])
    return out.getvalue()
