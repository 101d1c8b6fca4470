"""``python -m services.campaign``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet

if __name__ == "__main__":
    raise SystemExit(main("campaign", "services.campaign.service:CampaignService"))
