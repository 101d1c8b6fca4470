"""``python -m services.campaign``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg
from services.campaign.domain import DEFAULT_DAILY_POINTS_CREDIT_LIMIT, DEFAULT_VOUCHER_VALUE_CEILING

if __name__ == "__main__":
    raise SystemExit(main("campaign", "services.campaign.service:CampaignService",
                          VOUCHER_VALUE_CEILING=cfg.env_int("VOUCHER_VALUE_CEILING", DEFAULT_VOUCHER_VALUE_CEILING),
                          DAILY_POINTS_CREDIT_LIMIT=cfg.env_int("DAILY_POINTS_CREDIT_LIMIT",
                                                                DEFAULT_DAILY_POINTS_CREDIT_LIMIT)))
