"""``python -m services.settlement``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg

if __name__ == "__main__":
    raise SystemExit(main("settlement", "services.settlement.service:SettlementService",
                          PAYOUT_COOLING_OFF_HOURS=cfg.env_float("PAYOUT_COOLING_OFF_HOURS", 72),
                          PAYOUT_CODE_MINUTES=cfg.env_float("PAYOUT_CODE_MINUTES", 30),
                          PAYOUT_CODE_TRIES=cfg.env_int("PAYOUT_CODE_TRIES", 5)))
