"""The campaign service: campaigns and their budgets, funding agreements, customers, purchases, the
points ledger, segments and analytics. Thin entrypoints over one module per use case: ``campaigns``
(rules, lifecycle, budget), ``issuance`` (issue jobs), ``customers`` (customers, contact, segments),
``purchases`` (purchases, earning, tiers) and ``analytics``; pure rules in ``domain``, SQL in ``storage``."""
from nameko.dependency_providers import Config
from nameko.timer import timer

from plumbing.auth import OWNER, OWNERS, PLATFORM_MONEY, STORE_USER, SYSTEM, Identity
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, NotFound
from plumbing.events import event_handler
from plumbing.fields import Reason, new_id, utcnow
from plumbing.idempotency import idempotent
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.campaign import analytics, campaigns, customers, domain, issuance, purchases, storage
from services.campaign.contract.enums import DECISIONS
from services.campaign.contract.events import (FundingAgreementChanged, FundingAgreementCreated,
                                               IssuanceApprovalDecided, IssuanceApprovalRequested, PointsAdjusted)
from services.campaign.contract.schemas import (AgreementCreateSchema, AgreementFilterSchema, AgreementSchema,
                                                ApprovalFilterSchema, ApprovalRequestSchema, ApprovalSchema,
                                                DecisionSchema, IssuanceResultSchema, IssuanceSchema,
                                                MerchantLimitsChangeSchema, MerchantLimitsSchema,
                                                PointsAdjustmentSchema, ReserveSchema)
from services.redemption.contract.events import (RedemptionReversed, VoucherCancelled, VoucherExpired,
                                                 VoucherRedeemed)

# the platform's side grants funding, sets limits and approves large vouchers; owners read theirs
FUNDING_READERS = (OWNER,) + PLATFORM_MONEY


def dump_points(account):
    return {"balance": account["balance"], "reserved": account["reserved"],
            "available": domain.available(account)}


def dump_reservation(row):
    return {"reservation_id": str(row["id"]), "points": row["points"], "expires_at": row["expires_at"].isoformat()}


def dump_ledger_line(row):
    return {"kind": row["kind"], "points": row["points"], "balance_after": row["balance_after"],
            "reference": row["reference"], "reason": row["reason"], "actor": row["actor"],
            "at": row["created_at"].isoformat()}


def dump_agreement(row, history=None):
    data = dict(row, currency=row["currency"].strip(), remaining=domain.remaining(row))
    if history is not None:
        data["history"] = [dict(h, at=h["at"].isoformat()) for h in history]
    return AgreementSchema(exclude=() if history is not None else ("history",)).dump(data)


def dump_approval(row):
    return ApprovalSchema().dump(dict(row, currency=row["currency"].strip()))


def list_scope(identity, requested):
    """Platform roles see every merchant's (or the one they name); merchant users only their own."""
    if identity.is_platform:
        return require_id(requested, "merchant_id") if requested else None
    return identity.merchant_scope(requested)


class CampaignService(ServiceBase):
    name = "campaign"
    config = Config()
    redemption = RpcProxy("redemption")
    support = RpcProxy("support")

    # -- campaigns: the use cases are in ``campaigns`` ---------------------------------------
    @rpc
    @idempotent
    def create_campaign(self, data):
        """A draft campaign: merchant-funded, or under a funding agreement the platform granted."""
        return campaigns.create(self, data)

    def _agreement_of(self, merchant_id, agreement_id):
        agreement = storage.agreement_by_id(self.db, require_id(agreement_id, "funding_agreement_id"))
        if agreement is None or str(agreement["merchant_id"]) != merchant_id:
            raise NotFound("No funding agreement %s for this merchant" % agreement_id, code="agreement_not_found",
                           fields={"funding_agreement_id": ["No such agreement for this merchant."]})
        return agreement

    @rpc
    def get_campaign(self, campaign_id, merchant_id=None):
        return campaigns.read(self, campaign_id, merchant_id)

    @rpc
    def list_campaigns(self, filters=None):
        return campaigns.list_(self, filters)

    @rpc
    @idempotent
    def update_campaign(self, campaign_id, data, merchant_id=None):
        return campaigns.update(self, campaign_id, data, merchant_id)

    @rpc
    @idempotent
    def change_campaign_state(self, campaign_id, action, data=None, merchant_id=None):
        """``activate``, ``pause`` or ``end``, with an optional reason."""
        return campaigns.change_state(self, campaign_id, action, data, merchant_id)

    @rpc
    def campaign_forecast(self, campaign_id, merchant_id=None):
        return campaigns.forecast(self, campaign_id, merchant_id)

    @rpc
    @idempotent
    def start_issuance(self, campaign_id, data, merchant_id=None):
        """Issue the campaign's voucher to a customer, a segment or as codes: a job to poll."""
        return issuance.start(self, campaign_id, data, merchant_id)

    @rpc
    def get_issuance(self, campaign_id, job_id, merchant_id=None):
        return issuance.get(self, campaign_id, job_id, merchant_id)

    @timer(interval=1)
    def work_on_issuance_jobs(self):
        issuance.work(self)

    @timer(interval=5)
    def move_campaigns_on_schedule(self):
        campaigns.move_on_schedule(self)

    # narrow: redemptions of no campaign and no points never reach it (VoucherRedeemed.qualifier);
    # batched: a campaign's budget row is locked once per batch (a deadlock with another worker
    # undoes the batch: each goes again alone)
    @event_handler(VoucherRedeemed, narrow=True, batch=True)
    def spend_budget_and_points(self, event):
        """A redemption spends its campaign's budget and commits its points reservation."""
        if event.customer_id and event.campaign_id:
            # the customer first, as a purchase locks it before their points: never a deadlock
            storage.customer_by_id(self.db, event.customer_id, lock=True)
        if event.points_reservation_id:
            self._settle(event.points_reservation_id, "committed", event.reference)
        if event.campaign_id:
            campaign = campaigns.spend(self, event)
            if campaign is not None and event.customer_id:
                analytics.count_redeemer(self.db, campaign, event.customer_id, event.redeemed_at)

    @event_handler(RedemptionReversed, when=lambda event: event.campaign_id or event.points)
    def refund_reversed_redemption(self, event):
        if event.points and event.customer_id:
            storage.points_account(self.db, event.customer_id, lock=True)
            storage.change_points(self.db, event.customer_id, "refund", event.points,
                                  "reversal:" + event.redemption_id, Identity.system(self.name).actor())
        if event.campaign_id:
            campaigns.unspend(self, event)

    # -- customers, purchases and segments: ``customers``, ``purchases``, ``analytics`` -------------
    @rpc
    @idempotent
    def create_customer(self, data):
        return customers.create(self, data)

    @rpc
    def list_customers(self, filters=None):
        """Customers, or those found by phone, email, member id, tag or tier."""
        return customers.find(self, filters)

    @rpc
    def get_customer(self, customer_id, merchant_id=None):
        """The customer's page: points, purchases, and their vouchers and tickets."""
        return customers.read(self, customer_id, merchant_id)

    @rpc
    @idempotent
    def update_customer(self, customer_id, data, merchant_id=None):
        return customers.update(self, customer_id, data, merchant_id)

    @rpc
    def get_customer_contact(self, customer_id, merchant_id=None):
        """Who to reach and whether they agreed to offers by email: for a service's own work
        (``Identity.system``) and the merchant's staff."""
        return customers.contact(self, customer_id, merchant_id)

    @rpc
    def points_history(self, customer_id, query=None):
        return customers.points_history(self, customer_id, query)

    @rpc
    @idempotent
    def record_purchase(self, data):
        return purchases.record(self, data)

    @rpc
    def list_purchases(self, filters=None):
        return purchases.list_(self, filters)

    @rpc
    def customer_purchases(self, customer_id, filters=None):
        return purchases.of_customer(self, customer_id, filters)

    @rpc
    @idempotent
    def create_segment(self, data):
        return customers.create_segment(self, data)

    @rpc
    def get_segment(self, segment_id, merchant_id=None):
        return customers.get_segment(self, segment_id, merchant_id)

    @rpc
    def list_segments(self, filters=None):
        return customers.list_segments(self, filters)

    @rpc
    def campaign_analytics(self, campaign_id, query=None):
        return analytics.read(self, campaign_id, query)

    @rpc
    def store_analytics(self, query=None):
        """A store's (or the whole merchant's) figures across its campaigns over a date range."""
        return analytics.read_store(self, query)

    @timer(interval=60)
    def expire_points(self):
        """Points past their lot's expiry leave the balance (never those promised to a redemption)."""
        system = Identity.system(self.name).actor()
        for lot in storage.expired_lots(self.db):
            with self.db.separately():  # one customer's locks at a time, account first (storage.py)
                storage.expire_lot(self.db, lot["id"], system)

    def _customer(self, identity, customer_id, merchant_id=None):
        return customers.customer_of(self, identity, customer_id, merchant_id)

    @rpc
    @idempotent
    def adjust_points(self, customer_id, data, merchant_id=None):
        """A manual credit or debit by an owner (or a platform admin naming the merchant), audited.

        The reference is required and used once per customer; credits count against the
        merchant's daily limit of manual credits; a debit never takes the balance below what
        is there and not reserved.
        """
        identity = self.caller.require(*OWNERS)
        data = load(PointsAdjustmentSchema, data)
        customer = self._customer(identity, customer_id, merchant_id)
        customer_id, merchant = str(customer["id"]), str(customer["merchant_id"])
        account = storage.points_account(self.db, customer_id, lock=True)
        if storage.adjustment_exists(self.db, customer_id, data["reference"]):
            raise self._reference_used(data["reference"])
        domain.check_adjustment(account, data["points"])
        if data["points"] > 0:
            day = utcnow().date()
            credited = storage.credited_today(self.db, merchant, day, lock=True)
            domain.check_daily_credit(credited, data["points"], self._limits(merchant)["daily_points_credit_limit"])
            storage.add_daily_credit(self.db, merchant, day, data["points"])
        if not storage.change_points(self.db, customer_id, "adjust", data["points"], data["reference"],
                                     identity.actor(), data["reason"]):
            raise self._reference_used(data["reference"])
        self.events.emit(PointsAdjusted.of(
            customer_id=customer_id, merchant_id=merchant, points=data["points"], reference=data["reference"],
            reason=data["reason"], actor=identity.actor()))
        [line] = storage.ledger(self.db, customer_id, 1)
        return dict(dump_points(storage.points_account(self.db, customer_id)), adjustment=dump_ledger_line(line))

    @staticmethod
    def _reference_used(reference):
        return Conflict("An adjustment with reference %s was made for this customer already" % reference,
                        code="reference_already_used", fields={"reference": ["Already used for this customer."]})

    @rpc
    def reserve_points(self, data):
        """Hold points for a hybrid redemption: reserve, redeem, then commit (or release).

        Once per ``reference`` (the redemption's id, the same for every retry of it): asked again,
        this answers with the same reservation, held again if it was released meanwhile."""
        identity = self.caller.require(OWNER, STORE_USER)
        data = load(ReserveSchema, data)
        self._customer(identity, data["customer_id"])
        account = storage.points_account(self.db, data["customer_id"], lock=True)
        expires_at = utcnow() + domain.RESERVATION_TTL
        prior = storage.reservation_by_reference(self.db, identity.merchant_id, data["reference"], lock=True) \
            if data["reference"] else None
        if prior is not None:
            if (str(prior["customer_id"]), prior["points"]) != (data["customer_id"], data["points"]):
                raise self._reference_taken(data["reference"])
            if prior["status"] == "released":
                domain.check_can_reserve(account, data["points"])
                prior = storage.hold_again(self.db, prior, expires_at)
            return dump_reservation(prior)
        domain.check_can_reserve(account, data["points"])
        reservation = {"id": new_id(), "customer_id": data["customer_id"], "merchant_id": identity.merchant_id,
                       "points": data["points"], "reference": data["reference"], "expires_at": expires_at}
        if not storage.insert_reservation(self.db, reservation):
            raise self._reference_taken(data["reference"])
        return dump_reservation(reservation)

    @staticmethod
    def _reference_taken(reference):
        return Conflict("Reference %s holds other points" % reference, code="reference_taken",
                        fields={"reference": ["Already used for another reservation."]})

    @rpc
    def release_points(self, reservation_id):
        identity = self.caller.require(OWNER, STORE_USER)
        reservation = storage.reservation(self.db, reservation_id)
        if reservation is None or str(reservation["merchant_id"]) != identity.merchant_id:
            raise NotFound("No reservation %s" % reservation_id, code="reservation_not_found")
        reservation = storage.lock_reservation(self.db, reservation)
        if reservation["status"] == "reserved":
            storage.settle_reservation(self.db, reservation, "released")
        return {"reservation_id": reservation_id, "status": "released"
                if reservation["status"] == "reserved" else reservation["status"]}

    def _settle(self, reservation_id, status, reference):
        reservation = storage.reservation(self.db, reservation_id)
        if reservation is None:
            return
        reservation = storage.lock_reservation(self.db, reservation)
        if reservation["status"] == status:
            return
        if reservation["status"] == "reserved":
            storage.settle_reservation(self.db, reservation, status)
        else:
            # released by expiry before the redemption's event arrived: it was spent after all.
            # Should the points be gone meanwhile, the balance check fails and the event is
            # retried, then parked for an operator: never a negative balance, never lost.
            storage.set_reservation_status(self.db, reservation["id"], status)
        if status == "committed":
            storage.change_points(self.db, reservation["customer_id"], "spend", -reservation["points"],
                                  "redemption:%s" % (reference or reservation_id), Identity.system(self.name).actor())

    @timer(interval=30)
    def release_expired_reservations(self):
        for reservation in storage.expired_reservations(self.db):
            with self.db.separately():  # one customer's locks at a time, account first (storage.py)
                reservation = storage.lock_reservation(self.db, reservation)
                if reservation["status"] == "reserved" and reservation["expires_at"] < utcnow():
                    storage.settle_reservation(self.db, reservation, "released")

    # -- funding agreements: the platform grants platform or partner money ----------------------
    @rpc
    @idempotent
    def create_agreement(self, data):
        identity = self.caller.require(*PLATFORM_MONEY)
        data = load(AgreementCreateSchema, data)
        agreement = dict(data, id=new_id(), status=domain.ACTIVE, valid_from=data["valid_from"] or utcnow(),
                         created_by=identity.actor())
        storage.insert_agreement(self.db, agreement)
        storage.record_agreement_change(self.db, agreement["id"], "created", None, domain.ACTIVE, identity.actor(),
                                        data["note"])
        self.events.emit(FundingAgreementCreated.of(
            agreement_id=agreement["id"], merchant_id=agreement["merchant_id"], funder_kind=agreement["funder_kind"],
            funder_name=agreement["funder_name"], currency=agreement["currency"], budget=agreement["budget"],
            max_voucher_value=agreement["max_voucher_value"], created_by=identity.actor()))
        return self._dump_agreement(agreement["id"])

    def _dump_agreement(self, agreement_id):
        return dump_agreement(storage.agreement_by_id(self.db, agreement_id),
                              storage.agreement_history(self.db, agreement_id))

    def _readable_agreement(self, identity, agreement_id, lock=False):
        agreement = storage.agreement_by_id(self.db, require_id(agreement_id, "agreement_id"), lock=lock)
        if agreement is None or not identity.can_see_merchant(str(agreement["merchant_id"])):
            raise NotFound("No funding agreement %s" % agreement_id, code="agreement_not_found")
        return agreement

    @rpc
    def get_agreement(self, agreement_id):
        # settlement (as itself) reads an agreement's commission to book a redemption under it
        identity = self.caller.require(*FUNDING_READERS + (SYSTEM,))
        return self._dump_agreement(self._readable_agreement(identity, agreement_id)["id"])

    @rpc
    def list_agreements(self, filters=None):
        identity = self.caller.require(*FUNDING_READERS)
        filters = load(AgreementFilterSchema, filters or {})
        merchant_id = list_scope(identity, filters.pop("merchant_id"))
        return storage.list_filtered(self.db, "funding_agreements", merchant_id, filters, dump_agreement)

    @rpc
    @idempotent
    def change_agreement_status(self, agreement_id, action, data):
        """Suspend, resume or end an agreement (vouchers already issued under it keep their value)."""
        identity = self.caller.require(*PLATFORM_MONEY)
        if action not in domain.AGREEMENT_TRANSITIONS:
            raise NotFound("No such action %s" % action, code="action_not_found")
        data = load(Reason, data)
        agreement = self._readable_agreement(identity, agreement_id, lock=True)
        status = domain.agreement_after(agreement["status"], action)
        storage.set_agreement_status(self.db, agreement["id"], status)
        storage.record_agreement_change(self.db, agreement["id"], action, agreement["status"], status,
                                        identity.actor(), data["reason"])
        self.events.emit(FundingAgreementChanged.of(
            agreement_id=agreement["id"], merchant_id=agreement["merchant_id"], action=action, status=status,
            reason=data["reason"], changed_by=identity.actor()))
        return self._dump_agreement(agreement["id"])

    # -- per-merchant limits: the voucher value ceiling and manual points credits ---------------
    def _limits(self, merchant_id):
        row = storage.merchant_limits(self.db, merchant_id) or {}
        ceiling, daily = row.get("voucher_value_ceiling"), row.get("daily_points_credit_limit")
        return {
            "merchant_id": merchant_id,
            "voucher_value_ceiling": ceiling if ceiling is not None else int(
                self.config.get("VOUCHER_VALUE_CEILING", domain.DEFAULT_VOUCHER_VALUE_CEILING)),
            "voucher_value_ceiling_is_default": ceiling is None,
            "daily_points_credit_limit": daily if daily is not None else int(
                self.config.get("DAILY_POINTS_CREDIT_LIMIT", domain.DEFAULT_DAILY_POINTS_CREDIT_LIMIT)),
            "daily_points_credit_limit_is_default": daily is None,
            "updated_by": row.get("updated_by"), "updated_at": row.get("updated_at"),
        }

    @rpc
    def get_merchant_limits(self, merchant_id=None):
        identity = self.caller.require(*FUNDING_READERS)
        merchant_id = identity.merchant_scope(merchant_id)
        limits = self._limits(merchant_id)
        limits["points_credited_today"] = storage.credited_today(self.db, merchant_id, utcnow().date())
        return MerchantLimitsSchema().dump(limits)

    @rpc
    def set_merchant_limits(self, merchant_id, data):
        identity = self.caller.require(*PLATFORM_MONEY)
        merchant_id = identity.merchant_scope(merchant_id)
        data = load(MerchantLimitsChangeSchema, data)
        row = storage.merchant_limits(self.db, merchant_id) or {}
        limits = {key: data[key] if key in data else row.get(key)
                  for key in ("voucher_value_ceiling", "daily_points_credit_limit")}
        storage.set_merchant_limits(self.db, merchant_id, limits, identity.actor(), data["reason"])
        return self.get_merchant_limits(merchant_id)

    # -- issuance approvals: vouchers above the ceiling need the platform's yes ----------------
    @rpc
    @idempotent
    def request_issuance_approval(self, data):
        identity = self.caller.require(*OWNERS)
        data = load(ApprovalRequestSchema, data)
        approval = dict(data, id=new_id(), merchant_id=identity.merchant_scope(data["merchant_id"]),
                        requested_by=identity.actor())
        storage.insert_approval(self.db, approval)
        self.events.emit(IssuanceApprovalRequested.of(
            approval_id=approval["id"], merchant_id=approval["merchant_id"], currency=approval["currency"],
            value=approval["value"], count=approval["count"], reason=approval["reason"],
            requested_by=identity.actor()))
        return dump_approval(storage.approval_by_id(self.db, approval["id"]))

    def _readable_approval(self, identity, approval_id, lock=False):
        approval = storage.approval_by_id(self.db, require_id(approval_id, "approval_id"), lock=lock)
        if approval is None or not identity.can_see_merchant(str(approval["merchant_id"])):
            raise NotFound("No issuance approval %s" % approval_id, code="approval_not_found")
        return approval

    @rpc
    def get_issuance_approval(self, approval_id):
        identity = self.caller.require(*FUNDING_READERS)
        return dump_approval(self._readable_approval(identity, approval_id))

    @rpc
    def list_issuance_approvals(self, filters=None):
        identity = self.caller.require(*FUNDING_READERS)
        filters = load(ApprovalFilterSchema, filters or {})
        merchant_id = list_scope(identity, filters.pop("merchant_id"))
        return storage.list_filtered(self.db, "issuance_approvals", merchant_id, filters, dump_approval)

    @rpc
    @idempotent
    def decide_issuance_approval(self, approval_id, decision, data):
        identity = self.caller.require(*PLATFORM_MONEY)
        if decision not in DECISIONS:
            raise NotFound("No such decision %s" % decision, code="decision_not_found")
        data = load(DecisionSchema, data)
        approval = self._readable_approval(identity, approval_id, lock=True)
        domain.check_decision(approval)
        status = DECISIONS[decision]
        storage.decide_approval(self.db, approval["id"], status, identity.actor(), data["note"])
        self.events.emit(IssuanceApprovalDecided.of(
            approval_id=approval["id"], merchant_id=approval["merchant_id"], status=status, note=data["note"],
            decided_by=identity.actor()))
        return dump_approval(storage.approval_by_id(self.db, approval["id"]))

    # -- issuing: what the redemption service asks before it issues vouchers ---------------------
    @rpc
    def authorize_issuance(self, data):
        """Who funds vouchers about to be issued, with their value committed where that is needed.

        Under a funding agreement the value (the most each voucher can give, times the count)
        is committed against its budget with the agreement's row locked, so concurrent issues
        never overshoot it; above the merchant's ceiling an approval the platform gave is used
        up by the count. Asked once per voucher or batch (``reference``); asking again answers
        the same.
        """
        identity = campaigns.issuer(self)
        data = load(IssuanceSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        prior = storage.commitment_by_id(self.db, data["reference"])
        prior_campaign = storage.campaign_commitment(self.db, data["reference"])
        if prior is not None or prior_campaign is not None:
            if prior is not None and str(prior["merchant_id"]) != merchant_id or prior_campaign is not None and str(
                    storage.campaign_by_id(self.db, prior_campaign["campaign_id"])["merchant_id"]) != merchant_id:
                raise Conflict("That reference is taken", code="reference_taken")
            return self._issuance_result(prior or {
                "agreement_id": None, "approval_id": None, "voucher_value": prior_campaign["voucher_value"],
                "total": 0}, prior_campaign and prior_campaign["campaign_id"])
        now = utcnow()
        value = domain.voucher_value(data["kind"], data["value"], data["cap"], data["uses_allowed"])
        funding, agreement, total, campaign = domain.MERCHANT, None, 0, None
        if data["campaign_id"]:
            # the campaign first (then its agreement, then an approval): concurrent issues queue here
            campaign = storage.campaign_by_id(self.db, data["campaign_id"], lock=True)
            if campaign is None or str(campaign["merchant_id"]) != merchant_id:
                raise NotFound("No campaign %s" % data["campaign_id"], code="campaign_not_found",
                               fields={"campaign_id": ["No such campaign."]})
            funding = campaign["funding"]
            if funding != domain.MERCHANT and campaign["funding_agreement_id"] is None:
                raise domain.funding_agreement_required()  # a campaign from before agreements
            campaigns.commit_issue(self, campaign, data, value, now)
            if funding != domain.MERCHANT:
                agreement = storage.agreement_by_id(self.db, campaign["funding_agreement_id"], lock=True)
                total = domain.check_commitment(agreement, value, data["count"], data["currency"], now)
        approval = None
        ceiling = self._limits(merchant_id)["voucher_value_ceiling"]
        if domain.needs_approval(value, ceiling):
            if data["approval_id"]:
                approval = storage.approval_by_id(self.db, data["approval_id"], lock=True)
            domain.check_approval(approval, merchant_id, value, data["count"], data["currency"], ceiling)
            storage.use_approval(self.db, approval["id"], *domain.approval_after_use(approval, data["count"]))
        if agreement is not None:
            storage.add_committed(self.db, agreement["id"], total)
        commitment = {"id": data["reference"], "merchant_id": merchant_id, "campaign_id": data["campaign_id"],
                      "agreement_id": str(agreement["id"]) if agreement else None,
                      "approval_id": str(approval["id"]) if approval else None, "currency": data["currency"],
                      "voucher_value": value, "count": data["count"], "total": total, "actor": identity.actor(),
                      "funding": funding}
        if (agreement is not None or approval is not None) and not storage.insert_commitment(self.db, commitment):
            raise Conflict("That reference is taken", code="reference_taken")
        return self._issuance_result(commitment, campaign and campaign["id"])

    def _issuance_result(self, commitment, campaign_id=None):
        funding = commitment.get("funding")
        if funding is None:  # a stored commitment: its funding is its agreement's (or the merchant's)
            agreement = storage.agreement_by_id(self.db, commitment["agreement_id"]) \
                if commitment["agreement_id"] else None
            funding = agreement["funder_kind"] if agreement else domain.MERCHANT
        return IssuanceResultSchema().dump({
            "funding": funding, "funding_agreement_id": commitment["agreement_id"],
            "approval_id": commitment["approval_id"], "voucher_value": commitment["voucher_value"],
            "committed": commitment["total"],
            "campaign": campaigns.wire_rules(storage.campaign_by_id(self.db, campaign_id)) if campaign_id else None})

    @event_handler(VoucherCancelled, when=lambda event: event.funding_agreement_id or event.campaign_id)
    def release_cancelled_voucher(self, event):
        """A cancelled voucher gives what it had not used back to its campaign and its agreement."""
        self._release(event, "cancelled")

    @event_handler(VoucherExpired, when=lambda event: event.funding_agreement_id or event.campaign_id)
    def release_expired_voucher(self, event):
        self._release(event, "expired")

    def _release(self, event, cause):
        if event.campaign_id:  # the campaign first, as issuing locks it first
            campaigns.release(self, event, cause)
        if not event.funding_agreement_id:
            return
        # the agreement first, as issuing locks it: then the issue this voucher came from
        agreement = storage.agreement_by_id(self.db, event.funding_agreement_id, lock=True)
        commitment = storage.commitment_by_id(self.db, event.batch_id or event.voucher_id, lock=True)
        if agreement is None or commitment is None or str(commitment["agreement_id"]) != str(agreement["id"]):
            return
        # never more than one voucher of that issue could give, nor in all more than the issue committed
        amount = domain.releasable(event.unused_value, commitment)
        if storage.record_release(self.db, event.voucher_id, agreement["id"], amount, cause) and amount:
            storage.add_released(self.db, commitment["id"], amount)
            storage.add_committed(self.db, agreement["id"], -amount)
