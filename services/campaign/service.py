"""The campaign service: campaigns and their budgets, customers, and the points ledger."""
from datetime import datetime, timezone

from nameko.timer import timer

from plumbing.auth import ADMIN, FINANCE, OWNER, STORE_USER, SUPPORT_AGENT
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, NotFound
from plumbing.events import event_handler
from plumbing.fields import new_id
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.campaign import domain, storage
from services.campaign.schemas import (CampaignCreateSchema, CampaignSchema, CustomerCreateSchema,
                                       CustomerSchema, ListSchema, PointsChangeSchema, ReserveSchema)

READERS = (OWNER, FINANCE, SUPPORT_AGENT, ADMIN, STORE_USER)
SYSTEM_ACTOR = {"user_id": "service:campaign", "username": "campaign", "role": "system"}


def utcnow():
    return datetime.now(timezone.utc)


def dump_points(account):
    return {"balance": account["balance"], "reserved": account["reserved"],
            "available": domain.available(account)}


class CampaignService(ServiceBase):
    name = "campaign"

    # -- campaigns -------------------------------------------------------------------
    @rpc
    def create_campaign(self, data):
        identity = self.caller.require(OWNER, ADMIN)
        data = load(CampaignCreateSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        campaign = dict(data, id=new_id(), merchant_id=merchant_id, status="active",
                        valid_from=data.get("valid_from") or utcnow(), created_by=identity.actor())
        storage.insert_campaign(self.db, campaign)
        self.events.emit("campaign_created", {
            "campaign_id": campaign["id"], "merchant_id": merchant_id, "name": campaign["name"],
            "funding": campaign["funding"], "budget": campaign["budget"], "currency": campaign["currency"]})
        return CampaignSchema().dump(dict(campaign, spent=0, created_at=utcnow()))

    @rpc
    def get_campaign(self, campaign_id, merchant_id=None):
        identity = self.caller.require(*READERS)
        campaign = storage.campaign_by_id(self.db, require_id(campaign_id, "campaign_id"))
        if campaign is None or str(campaign["merchant_id"]) != identity.merchant_scope(merchant_id):
            raise NotFound("No campaign %s" % campaign_id, code="campaign_not_found")
        return CampaignSchema().dump(campaign)

    @rpc
    def list_campaigns(self, filters=None):
        identity = self.caller.require(*READERS)
        merchant_id, filters = self.scoped(identity, ListSchema, filters)
        return storage.list_rows(self.db, "campaigns", merchant_id, filters, CampaignSchema().dump)

    @event_handler("redemption", "voucher_redeemed",
                   when=lambda event: event.get("campaign_id") or event.get("points_reservation_id"))
    def spend_budget_and_points(self, event):
        """A redemption spends its campaign's budget and commits its points reservation."""
        if event.get("points_reservation_id"):
            self._settle(event["points_reservation_id"], "committed", event.get("reference"))
        if event.get("campaign_id") and event.get("amount"):
            campaign = storage.add_spend(self.db, event["campaign_id"], event["amount"])
            if campaign is not None:
                status = domain.campaign_status_after_spend(campaign, campaign["spent"])
                if status != campaign["status"]:
                    storage.set_campaign_status(self.db, campaign["id"], status)
                    self.events.emit("budget_exhausted", {
                        "campaign_id": str(campaign["id"]), "merchant_id": str(campaign["merchant_id"]),
                        "budget": campaign["budget"], "spent": campaign["spent"]})

    @event_handler("redemption", "redemption_reversed",
                   when=lambda event: event.get("campaign_id") or event.get("points"))
    def refund_reversed_redemption(self, event):
        if event.get("points") and event.get("customer_id"):
            storage.change_points(self.db, event["customer_id"], "refund", event["points"],
                                  "reversal:" + event["redemption_id"], SYSTEM_ACTOR)
        if event.get("campaign_id") and event.get("amount"):
            storage.add_spend(self.db, event["campaign_id"], -event["amount"])

    # -- customers and points ----------------------------------------------------------
    @rpc
    def create_customer(self, data):
        identity = self.caller.require(OWNER, STORE_USER, ADMIN)
        data = load(CustomerCreateSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        customer = dict(data, id=new_id(), merchant_id=merchant_id)
        if not storage.insert_customer(self.db, customer):
            raise Conflict("A customer with external_ref %s exists already" % data["external_ref"],
                           code="customer_exists", fields={"external_ref": ["Already taken."]})
        return self.get_customer(customer["id"], merchant_id if identity.is_platform else None)

    @rpc
    def list_customers(self, filters=None):
        identity = self.caller.require(*READERS)
        merchant_id, filters = self.scoped(identity, ListSchema, filters)
        return storage.list_rows(self.db, "customers", merchant_id, filters, CustomerSchema(exclude=("points",)).dump)

    def _customer(self, identity, customer_id, merchant_id=None):
        customer = storage.customer_by_id(self.db, require_id(customer_id, "customer_id"))
        if customer is None or str(customer["merchant_id"]) != identity.merchant_scope(merchant_id):
            raise NotFound("No customer %s" % customer_id, code="customer_not_found",
                           fields={"customer_id": ["No such customer."]})
        return customer

    @rpc
    def get_customer(self, customer_id, merchant_id=None):
        identity = self.caller.require(*READERS)
        customer = self._customer(identity, customer_id, merchant_id)
        result = CustomerSchema().dump(dict(customer, points=dump_points(
            storage.points_account(self.db, customer_id))))
        result["points"]["recent"] = [
            {"kind": row["kind"], "points": row["points"], "balance_after": row["balance_after"],
             "reference": row["reference"], "at": row["created_at"].isoformat()}
            for row in storage.ledger(self.db, customer_id, 20)]
        return result

    @rpc
    def earn_points(self, customer_id, data, merchant_id=None):
        identity = self.caller.require(OWNER, STORE_USER, ADMIN)
        data = load(PointsChangeSchema, data)
        self._customer(identity, customer_id, merchant_id)
        storage.points_account(self.db, customer_id, lock=True)
        if not storage.change_points(self.db, customer_id, "earn", data["points"], data["reference"],
                                     identity.actor()):
            raise Conflict("Points for %s were already earned" % data["reference"], code="already_earned")
        account = storage.points_account(self.db, customer_id)
        self.events.emit("points_earned", {"customer_id": customer_id, "points": data["points"],
                                           "merchant_id": str(account["merchant_id"]),
                                           "reference": data["reference"]})
        return dump_points(account)

    @rpc
    def reserve_points(self, data):
        """Hold points for a hybrid redemption: reserve, redeem, then commit (or release)."""
        identity = self.caller.require(OWNER, STORE_USER)
        data = load(ReserveSchema, data)
        self._customer(identity, data["customer_id"])
        account = storage.points_account(self.db, data["customer_id"], lock=True)
        domain.check_can_reserve(account, data["points"])
        reservation = {"id": new_id(), "customer_id": data["customer_id"], "merchant_id": identity.merchant_id,
                       "points": data["points"], "reference": data["reference"],
                       "expires_at": utcnow() + domain.RESERVATION_TTL}
        storage.insert_reservation(self.db, reservation)
        return {"reservation_id": reservation["id"], "points": reservation["points"],
                "expires_at": reservation["expires_at"].isoformat()}

    @rpc
    def release_points(self, reservation_id):
        identity = self.caller.require(OWNER, STORE_USER)
        reservation = storage.reservation(self.db, reservation_id, lock=True)
        if reservation is None or str(reservation["merchant_id"]) != identity.merchant_id:
            raise NotFound("No reservation %s" % reservation_id, code="reservation_not_found")
        if reservation["status"] == "reserved":
            storage.settle_reservation(self.db, reservation, "released")
        return {"reservation_id": reservation_id, "status": "released"
                if reservation["status"] == "reserved" else reservation["status"]}

    def _settle(self, reservation_id, status, reference):
        reservation = storage.reservation(self.db, reservation_id, lock=True)
        if reservation is None or reservation["status"] == status:
            return
        storage.points_account(self.db, reservation["customer_id"], lock=True)
        if reservation["status"] == "reserved":
            storage.settle_reservation(self.db, reservation, status)
        else:
            # released by expiry before the redemption's event arrived: it was spent after all.
            # Should the points be gone meanwhile, the balance check fails and the event is
            # retried, then parked for an operator: never a negative balance, never lost.
            storage.set_reservation_status(self.db, reservation["id"], status)
        if status == "committed":
            storage.change_points(self.db, reservation["customer_id"], "spend", -reservation["points"],
                                  "redemption:%s" % (reference or reservation_id), SYSTEM_ACTOR)

    @timer(interval=30)
    def release_expired_reservations(self):
        for reservation in storage.expired_reservations(self.db):
            storage.settle_reservation(self.db, reservation, "released")
