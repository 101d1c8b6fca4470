"""``python -m services.campaign``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from services.catalog import service_classes

if __name__ == "__main__":
    raise SystemExit(main("campaign", "services.campaign.service:CampaignService", service_classes))
