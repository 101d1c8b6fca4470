"""``python -m services.settlement`` runs the service;
``python -m services.settlement verify-ledger [--merchant ID]`` checks every merchant's hash chain
(exit status 1 if one is broken)."""
import sys

if __name__ == "__main__" and sys.argv[1:2] == ["verify-ledger"]:
    from services.settlement.cli import verify_ledger
    raise SystemExit(verify_ledger(sys.argv[2:]))

from plumbing.runner import main  # noqa: E402 - first: it patches the standard library for eventlet
from plumbing import config as cfg  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("settlement", "services.settlement.service:SettlementService",
                          PAYOUT_COOLING_OFF_HOURS=cfg.env_float("PAYOUT_COOLING_OFF_HOURS", 72),
                          PAYOUT_CODE_MINUTES=cfg.env_float("PAYOUT_CODE_MINUTES", 30),
                          PAYOUT_CODE_TRIES=cfg.env_int("PAYOUT_CODE_TRIES", 5),
                          PAYOUT_PROVIDER=cfg.env("PAYOUT_PROVIDER", "devpay")))
