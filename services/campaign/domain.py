"""Campaign and points rules."""
from datetime import timedelta

from plumbing.errors import Conflict

FUNDING = ("merchant", "platform", "partner")
# A reservation is committed by the redemption's own event within seconds; one
# still open after this long belongs to a redemption that never happened.
RESERVATION_TTL = timedelta(minutes=15)


def available(account):
    return account["balance"] - account["reserved"]


def check_can_reserve(account, points):
    if account is None or available(account) < points:
        have = 0 if account is None else available(account)
        raise Conflict("The customer has %d points available; %d were asked" % (have, points),
                       code="insufficient_points")


def campaign_status_after_spend(campaign, spent):
    if campaign.get("budget") is not None and spent >= campaign["budget"]:
        return "budget_exhausted"
    return campaign["status"]
