"""The operator's ledger check: every merchant's hash chain walked from its first entry."""
import argparse
import json

from plumbing import config as cfg
from plumbing.db import ConnectionPool
from services.settlement import ledger, storage


def verify_ledger(argv, database_url=None, out=print):
    parser = argparse.ArgumentParser(prog="python -m services.settlement verify-ledger")
    parser.add_argument("--merchant", action="append", help="only this merchant (repeatable)")
    args = parser.parse_args(argv)
    pool = ConnectionPool(database_url or cfg.service_database_url("settlement"), size=1, schema="settlement")
    broken = 0
    try:
        for merchant_id in args.merchant or pool.run(storage.ledger_merchants):
            result = pool.run(lambda tx: ledger.verify(tx, merchant_id))  # read only
            broken += not result["valid"]
            out(json.dumps(result, default=str, sort_keys=True))
    finally:
        pool.close()
    out("%s: %d merchant ledger(s) broken" % ("FAILED" if broken else "ok", broken))
    return 1 if broken else 0
