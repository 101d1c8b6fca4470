"""Vouchers and the redemption panel."""
import re

from eventlet import tpool
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from gateway import images
from gateway.http import forward, route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import OWNER, TILLS
from plumbing.errors import ServiceUnavailable, ValidationFailed
from plumbing.fields import MerchantQuery, Reason
from plumbing.validation import check_structure
from services.redemption.contract.schemas import (DayTotalSchema, ExternalCodeSchema, IssueBatchSchema,
                                                  IssueJobSchema, IssueVoucherSchema, PresentationSchema,
                                                  QrRequestSchema, RedeemSchema, RedemptionFilterSchema,
                                                  RedemptionSchema, TotalsFilterSchema, VoucherFilterSchema,
                                                  VoucherSchema)

TAG_VOUCHERS = "Vouchers"
TAG_REDEMPTIONS = "Redemptions"
WHOLE_NUMBER_FIELDS = ("purchase_amount", "amount", "points")
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits: '²'.isdigit() is True, int('²') is an error
DEFAULT_PHOTO_DECODES = 2
DEFAULT_PHOTO_WAIT_SECONDS = 2.0


def form_fields(request):
    """A multipart upload's form fields and the bytes of its 'image' (a photo of the QR or barcode)."""
    upload = request.files.get("image")
    if upload is None:
        raise ValidationFailed("Attach the photo as the 'image' field", code="image_required",
                               fields={"image": ["Required."]})
    data = {}
    for key, value in request.form.items():
        # form fields are text; a whole number of minor units is still a whole number
        data[key] = int(value) if key in WHOLE_NUMBER_FIELDS and WHOLE_NUMBER.fullmatch(value) else value
    check_structure(data)
    return data, upload.read(images.MAX_BYTES + 1)


class PhotoDecoder(DependencyProvider):
    """Reads codes from uploaded photos: up to a second of CPU each, so at most
    ``GATEWAY_PHOTO_DECODES`` at once; past that (after a short wait) a 503 with Retry-After."""

    def setup(self):
        config = self.container.config
        self.slots = Semaphore(int(config.get("GATEWAY_PHOTO_DECODES") or DEFAULT_PHOTO_DECODES))
        self.wait = float(config.get("GATEWAY_PHOTO_WAIT") or DEFAULT_PHOTO_WAIT_SECONDS)

    def get_dependency(self, worker_ctx):
        return self

    def texts(self, content):
        if not self.slots.acquire(timeout=self.wait):
            raise ServiceUnavailable("Too many photos are being read: try again in a moment",
                                     code="photo_decoder_busy", fields={"retry_after": ["1"]})
        try:
            found = tpool.execute(images.decode_image, content)  # CPU-heavy: off the event loop
        finally:
            self.slots.release()
        return [item["text"] for item in found]


def image_response(content, mimetype, short_lived):
    cache = "private, no-store" if short_lived else "private, max-age=300"
    return Response(content, mimetype=mimetype, headers={"Cache-Control": cache})


def csv_response(text, filename):
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="%s"' % filename})


class VoucherRoutes(Routes):
    photos = PhotoDecoder()

    # -- issuing ---------------------------------------------------------------------------
    @route("POST", "/api/v1/vouchers", summary="Issue a voucher", tags=[TAG_VOUCHERS],
           body=IssueVoucherSchema, response=VoucherSchema, status=201)
    def issue_voucher(self, request):
        data = self.body(request)
        self.check_stores(self.identity, data, IssueVoucherSchema)
        return 201, self.redemption.issue_voucher(data)

    @route("POST", "/api/v1/vouchers/batches",
           summary="Issue up to 100,000 vouchers; answers at once with a job to poll",
           tags=[TAG_VOUCHERS], body=IssueBatchSchema, response=IssueJobSchema, status=202)
    def issue_batch(self, request):
        data = self.body(request)
        self.check_stores(self.identity, data, IssueBatchSchema)
        job = self.redemption.issue_batch(data)
        return 202, {"Location": "/api/v1/vouchers/batches/%s" % job["id"]}, job

    get_issue_job = forward(
        "GET", "/api/v1/vouchers/batches/<uuid:job_id>", "redemption.get_issue_job", merchant_id=True,
        summary="How far a batch has got", tags=[TAG_VOUCHERS], query=MerchantQuery, response=IssueJobSchema)

    @route("GET", "/api/v1/vouchers/batches/<uuid:job_id>/codes.csv",
           summary="The codes of a finished batch, each with its signed QR payload", tags=[TAG_VOUCHERS],
           query=MerchantQuery, content_type="text/csv")
    def export_batch_codes(self, request, job_id):
        merchant_id = self.query(request, MerchantQuery)["merchant_id"]
        text = self.redemption.export_batch_codes(str(job_id), merchant_id)
        return csv_response(text, "vouchers-%s.csv" % job_id)

    list_vouchers = forward(
        "GET", "/api/v1/vouchers", "redemption.list_vouchers",
        summary="Vouchers, filtered (by batch, campaign, status)", tags=[TAG_VOUCHERS], query=VoucherFilterSchema,
        response=page_of(VoucherSchema))

    # -- one voucher ---------------------------------------------------------------------------
    get_voucher = forward(
        "GET", "/api/v1/vouchers/<string:code>", "redemption.get_voucher", merchant_id=True,
        summary="Look up a voucher by its code, with its history", tags=[TAG_VOUCHERS], query=MerchantQuery,
        response=VoucherSchema)

    def _qr(self, request, code):
        return self.redemption.qr_payload(code, request.args.to_dict())

    @route("GET", "/api/v1/vouchers/<string:code>/qr.png",
           summary="The voucher's signed QR code as PNG (ttl=seconds for a short-lived one)",
           tags=[TAG_VOUCHERS], query=QrRequestSchema, content_type="image/png")
    def voucher_qr_png(self, request, code):
        qr = self._qr(request, code)
        return image_response(tpool.execute(images.qr_png, qr["payload"]), "image/png", qr["expires_at"])

    @route("GET", "/api/v1/vouchers/<string:code>/qr.svg", summary="The voucher's signed QR code as SVG",
           tags=[TAG_VOUCHERS], query=QrRequestSchema, content_type="image/svg+xml")
    def voucher_qr_svg(self, request, code):
        qr = self._qr(request, code)
        return image_response(images.qr_svg(qr["payload"]), "image/svg+xml", qr["expires_at"])

    @route("GET", "/api/v1/vouchers/<string:code>/barcode.svg", summary="The voucher code as a Code 128 barcode (SVG)",
           tags=[TAG_VOUCHERS], query=MerchantQuery, content_type="image/svg+xml")
    def voucher_barcode_svg(self, request, code):
        voucher = self._code_for_image(request, code)
        return image_response(images.barcode_svg(voucher["code"]), "image/svg+xml", False)

    @route("GET", "/api/v1/vouchers/<string:code>/barcode.png", summary="The voucher code as a Code 128 barcode (PNG)",
           tags=[TAG_VOUCHERS], query=MerchantQuery, content_type="image/png")
    def voucher_barcode_png(self, request, code):
        voucher = self._code_for_image(request, code)
        return image_response(tpool.execute(images.barcode_png, voucher["code"]), "image/png", False)

    def _code_for_image(self, request, code):
        # the whole code, which only its issuers may have (the service decides who that is); a barcode
        # takes no ttl, which the service's QrRequestSchema would accept
        self.query(request, MerchantQuery)
        return self.redemption.qr_payload(code, request.args.to_dict())

    cancel_voucher = forward(
        "POST", "/api/v1/vouchers/<string:code>/cancellation", "redemption.cancel_voucher", merchant_id=True,
        summary="Cancel a voucher", tags=[TAG_VOUCHERS], query=MerchantQuery, body=Reason, response=VoucherSchema)

    add_external_code = forward(
        "POST", "/api/v1/vouchers/<string:code>/external-codes", "redemption.add_external_code", merchant_id=True,
        summary="Register a partner's code (external QR) for a voucher", tags=[TAG_VOUCHERS],
        query=MerchantQuery, body=ExternalCodeSchema, response=VoucherSchema, status=201)

    # -- the redemption panel -------------------------------------------------------------------
    def _presentation(self, request):
        """The presentation as sent, and the texts read from its photo (None for JSON), for the
        service to validate (and nobody else: it is read once, there).

        Only tills present vouchers, and that is checked before a photo costs a decode.
        Decoded texts never travel inside the body: they go to the service as an argument
        of their own, and a JSON body naming ``image_texts`` is refused there as an unknown
        field. The gateway reads one field itself: the store an owner names, to vouch for it.
        """
        identity = self.identity.require(*TILLS)
        texts = None
        if request.mimetype == "multipart/form-data":
            data, content = form_fields(request)
            texts = self.photos.texts(content)
        else:
            data = self.body(request)
        if identity.role == OWNER:
            self.check_stores(identity, data, PresentationSchema)
        return data, texts

    @route("POST", "/api/v1/redemptions/validation",
           summary="Look up and validate a voucher before confirming (JSON, or a photo as multipart 'image')",
           tags=[TAG_REDEMPTIONS], body=PresentationSchema, upload=True)
    def validate_redemption(self, request):
        data, texts = self._presentation(request)
        if texts is None:
            return self.redemption.validate(data)
        return self.redemption.validate(data, image_texts=texts)

    @route("POST", "/api/v1/redemptions",
           summary="Confirm a redemption (send an Idempotency-Key; JSON, or a photo as multipart 'image')",
           tags=[TAG_REDEMPTIONS], body=RedeemSchema, response=RedemptionSchema, status=201, upload=True)
    def redeem(self, request):
        # the Idempotency-Key travels in the context: the service keeps it with the redemption
        data, texts = self._presentation(request)
        if texts is None:
            return 201, self.redemption.redeem(data)
        return 201, self.redemption.redeem(data, image_texts=texts)

    reverse_redemption = forward(
        "POST", "/api/v1/redemptions/<uuid:redemption_id>/reversal", "redemption.reverse", merchant_id=True,
        summary="Reverse a redemption (owners, or a platform admin naming the merchant; within the policy "
                "window)", tags=[TAG_REDEMPTIONS], query=MerchantQuery, body=Reason, response=RedemptionSchema)

    # -- records ------------------------------------------------------------------------------
    list_redemptions = forward(
        "GET", "/api/v1/redemptions", "redemption.list_redemptions",
        summary="Redemption records, filtered (store, user, channel, period, status)", tags=[TAG_REDEMPTIONS],
        query=RedemptionFilterSchema, response=page_of(RedemptionSchema))

    redemption_totals = forward(
        "GET", "/api/v1/redemptions/totals", "redemption.redemption_totals",
        summary="Redemption totals per store and day", tags=[TAG_REDEMPTIONS], query=TotalsFilterSchema,
        response=page_of(DayTotalSchema))

    @route("GET", "/api/v1/redemptions/export.csv", summary="Redemption records as CSV (same filters)",
           tags=[TAG_REDEMPTIONS], query=TotalsFilterSchema, content_type="text/csv")
    def export_redemptions(self, request):
        text = self.redemption.export_redemptions(request.args.to_dict())
        return csv_response(text, "redemptions.csv")

    get_redemption = forward(
        "GET", "/api/v1/redemptions/<uuid:redemption_id>", "redemption.get_redemption", merchant_id=True,
        summary="One redemption record", tags=[TAG_REDEMPTIONS], query=MerchantQuery, response=RedemptionSchema)
