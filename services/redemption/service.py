"""The redemption service: vouchers, the redemption panel, and the records it keeps.

Thin entrypoints over one module per use case: ``issuing`` (vouchers, batches, partner codes),
``jobs`` (the batch issue timer), ``till`` (present, resolve, validate, redeem, failed attempts),
``lifecycle`` (cancel, expire, reverse) and ``views`` (reads, lists, exports). Pure rules are in
``domain``, SQL in ``storage``. Whatever creates something is ``@idempotent`` under the request's
Idempotency-Key (``plumbing.idempotency``); the worker's transaction belongs to ``plumbing.db``.
"""
from nameko.dependency_providers import Config
from nameko.timer import timer

from plumbing.entrypoints import rpc
from plumbing.events import event_handler
from plumbing.idempotency import idempotent
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from services.campaign.contract.events import CampaignChanged
from services.redemption import issuing, jobs, lifecycle, storage, till, views
from services.redemption.keys import QrSigning


class RedemptionService(ServiceBase):
    name = "redemption"
    qr = QrSigning()
    campaign = RpcProxy("campaign")
    config = Config()

    # -- issuing -----------------------------------------------------------------------
    @rpc
    @idempotent
    def issue_voucher(self, data):
        return issuing.issue_voucher(self, data)

    @rpc
    @idempotent
    def issue_batch(self, data):
        """Queue a batch of vouchers; answers at once with a job to poll."""
        return issuing.issue_batch(self, data)

    @rpc
    @idempotent
    def add_external_code(self, code, data, merchant_id=None):
        """Register a partner's code (e.g. their own QR) as another way to present a voucher."""
        return issuing.add_external_code(self, code, data, merchant_id)

    @timer(interval=1)
    def work_on_issue_jobs(self):
        jobs.work(self.db, self.events)

    # -- the till --------------------------------------------------------------------------
    @rpc
    def validate(self, presentation, image_texts=None):
        """Look up a presented voucher and say what it can be redeemed for, or why not."""
        return till.validate(self, presentation, image_texts)

    @rpc
    @idempotent(claim_with_first_statement=True)  # the hot path: the key goes with the voucher's lookup
    def redeem(self, request, image_texts=None):
        """Confirm a redemption: the voucher row is locked, so money moves once."""
        return till.redeem(self, request, image_texts)

    @event_handler(CampaignChanged)
    def copy_campaign_rules(self, event):
        """Keep the campaign's state, window and stores the till checks (the newest version wins)."""
        storage.keep_campaign_rules(self.db, {
            "campaign_id": event.campaign_id, "merchant_id": event.merchant_id, "version": event.version,
            "status": event.status, "pause_reason": event.pause_reason, "valid_from": event.valid_from,
            "valid_until": event.valid_until, "time_zone": event.time_zone, "weekdays": event.weekdays,
            "hours_from": event.hours_from, "hours_until": event.hours_until, "store_ids": event.store_ids})

    # -- lifecycle ---------------------------------------------------------------------------
    @rpc
    @idempotent
    def cancel_voucher(self, code, data, merchant_id=None):
        return lifecycle.cancel_voucher(self, code, data, merchant_id)

    @rpc
    @idempotent
    def reverse(self, redemption_id, data, merchant_id=None):
        """Undo a redemption within the policy window: the voucher gets its value or use back."""
        return lifecycle.reverse(self, redemption_id, data, merchant_id)

    @timer(interval=60)
    def expire_vouchers(self):
        lifecycle.expire_vouchers(self)

    # -- views -------------------------------------------------------------------------------
    @rpc
    def get_voucher(self, code, merchant_id=None):
        return views.get_voucher(self, code, merchant_id)

    @rpc
    def list_vouchers(self, filters=None):
        return views.list_vouchers(self, filters)

    @rpc
    def qr_payload(self, code, options=None):
        return views.qr_payload(self, code, options)

    @rpc
    def get_issue_job(self, job_id, merchant_id=None):
        return views.get_issue_job(self, job_id, merchant_id)

    @rpc
    def export_batch_codes(self, job_id, merchant_id=None):
        return views.export_batch_codes(self, job_id, merchant_id)

    @rpc
    def get_redemption(self, redemption_id, merchant_id=None):
        return views.get_redemption(self, redemption_id, merchant_id)

    @rpc
    def list_redemptions(self, filters=None):
        return views.list_redemptions(self, filters)

    @rpc
    def redemption_totals(self, filters=None):
        return views.redemption_totals(self, filters)

    @rpc
    def reconciliation_totals(self, query):
        return views.reconciliation_totals(self, query)

    @rpc
    def export_redemptions(self, filters=None):
        return views.export_redemptions(self, filters)
