"""Vouchers and the redemption panel."""
import re

from eventlet import tpool
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from gateway import images
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import OWNER, TILLS
from plumbing.errors import ServiceUnavailable, ValidationFailed
from plumbing.fields import MerchantQuery, Reason
from plumbing.validation import check_structure, load
from services.redemption.contract.schemas import (DayTotalSchema, ExternalCodeSchema, IssueBatchSchema,
                                                  IssueJobSchema, IssueVoucherSchema, PhotoPresentationSchema,
                                                  PhotoRedeemSchema, PresentationSchema, QrRequestSchema,
                                                  RedeemSchema, RedemptionFilterSchema, RedemptionSchema,
                                                  TotalsFilterSchema, VoucherFilterSchema, VoucherSchema)

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
        identity = self.identity
        data = self.checked_body(request, IssueVoucherSchema)
        for store_id in data.get("store_ids") or ():
            self.check_store(identity, store_id, data.get("merchant_id"))
        return 201, self.redemption.issue_voucher(data)

    @route("POST", "/api/v1/vouchers/batches",
           summary="Issue up to 100,000 vouchers; answers at once with a job to poll",
           tags=[TAG_VOUCHERS], body=IssueBatchSchema, response=IssueJobSchema, status=202)
    def issue_batch(self, request):
        identity = self.identity
        data = self.checked_body(request, IssueBatchSchema)
        for store_id in data.get("store_ids") or ():
            self.check_store(identity, store_id, data.get("merchant_id"))
        job = self.redemption.issue_batch(data)
        return 202, {"Location": "/api/v1/vouchers/batches/%s" % job["id"]}, job

    @route("GET", "/api/v1/vouchers/batches/<uuid:job_id>", summary="How far a batch has got",
           tags=[TAG_VOUCHERS], query=MerchantQuery, response=IssueJobSchema)
    def get_issue_job(self, request, job_id):
        self.identity
        return self.redemption.get_issue_job(str(job_id), request.args.get("merchant_id"))

    @route("GET", "/api/v1/vouchers/batches/<uuid:job_id>/codes.csv",
           summary="The codes of a finished batch, each with its signed QR payload", tags=[TAG_VOUCHERS],
           query=MerchantQuery, content_type="text/csv")
    def export_batch_codes(self, request, job_id):
        self.identity
        text = self.redemption.export_batch_codes(str(job_id), request.args.get("merchant_id"))
        return csv_response(text, "vouchers-%s.csv" % job_id)

    @route("GET", "/api/v1/vouchers", summary="Vouchers, filtered (by batch, campaign, status)",
           tags=[TAG_VOUCHERS], query=VoucherFilterSchema, response=page_of(VoucherSchema))
    def list_vouchers(self, request):
        self.identity
        return self.redemption.list_vouchers(self.checked_query(request, VoucherFilterSchema))

    # -- one voucher ---------------------------------------------------------------------------
    @route("GET", "/api/v1/vouchers/<string:code>", summary="Look up a voucher by its code, with its history",
           tags=[TAG_VOUCHERS], query=MerchantQuery, response=VoucherSchema)
    def get_voucher(self, request, code):
        self.identity
        return self.redemption.get_voucher(code, request.args.get("merchant_id"))

    def _qr(self, request, code):
        self.identity
        return self.redemption.qr_payload(code, self.checked_query(request, QrRequestSchema))

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
        # the whole code, which only its issuers may have (the service decides who that is)
        self.identity
        return self.redemption.qr_payload(code, self.checked_query(request, MerchantQuery))

    @route("POST", "/api/v1/vouchers/<string:code>/cancellation", summary="Cancel a voucher",
           tags=[TAG_VOUCHERS], query=MerchantQuery, body=Reason, response=VoucherSchema)
    def cancel_voucher(self, request, code):
        self.identity
        return self.redemption.cancel_voucher(code, self.checked_body(request, Reason),
                                              request.args.get("merchant_id"))

    @route("POST", "/api/v1/vouchers/<string:code>/external-codes",
           summary="Register a partner's code (external QR) for a voucher", tags=[TAG_VOUCHERS],
           query=MerchantQuery, body=ExternalCodeSchema, response=VoucherSchema, status=201)
    def add_external_code(self, request, code):
        self.identity
        data = self.checked_body(request, ExternalCodeSchema)
        return 201, self.redemption.add_external_code(code, data, request.args.get("merchant_id"))

    # -- the redemption panel -------------------------------------------------------------------
    def _presentation(self, request, schema, photo_schema):
        """The presentation as sent, and the texts read from its photo (None for JSON).

        Only tills present vouchers, and that is checked before a photo costs a decode.
        Decoded texts never travel inside the body: a JSON body naming ``image_texts``
        is refused as an unknown field, and the texts go to the service as an argument
        of their own.
        """
        identity = self.identity.require(*TILLS)
        texts = None
        if request.mimetype == "multipart/form-data":
            data, content = form_fields(request)
            texts = self.photos.texts(content)
            load(photo_schema, dict(data, image_texts=texts))
        else:
            data = self.body(request)
            load(schema, data)
        if identity.role == OWNER and data.get("store_id"):
            self.check_store(identity, data["store_id"])
        return data, texts

    @route("POST", "/api/v1/redemptions/validation",
           summary="Look up and validate a voucher before confirming (JSON, or a photo as multipart 'image')",
           tags=[TAG_REDEMPTIONS], body=PresentationSchema, upload=True)
    def validate_redemption(self, request):
        data, texts = self._presentation(request, PresentationSchema, PhotoPresentationSchema)
        if texts is None:
            return self.redemption.validate(data)
        return self.redemption.validate(data, image_texts=texts)

    @route("POST", "/api/v1/redemptions",
           summary="Confirm a redemption (send an Idempotency-Key; JSON, or a photo as multipart 'image')",
           tags=[TAG_REDEMPTIONS], body=RedeemSchema, response=RedemptionSchema, status=201, upload=True)
    def redeem(self, request):
        # the Idempotency-Key travels in the context: the service keeps it with the redemption
        data, texts = self._presentation(request, RedeemSchema, PhotoRedeemSchema)
        if texts is None:
            return 201, self.redemption.redeem(data)
        return 201, self.redemption.redeem(data, image_texts=texts)

    @route("POST", "/api/v1/redemptions/<uuid:redemption_id>/reversal",
           summary="Reverse a redemption (owners, or a platform admin naming the merchant; within the policy "
                   "window)", tags=[TAG_REDEMPTIONS], query=MerchantQuery, body=Reason,
           response=RedemptionSchema)
    def reverse_redemption(self, request, redemption_id):
        self.identity
        data = self.checked_body(request, Reason)
        merchant_id = self.checked_query(request, MerchantQuery).get("merchant_id")
        return 200, self.redemption.reverse(str(redemption_id), data, merchant_id)

    # -- records ------------------------------------------------------------------------------
    @route("GET", "/api/v1/redemptions", summary="Redemption records, filtered (store, user, channel, period, status)",
           tags=[TAG_REDEMPTIONS], query=RedemptionFilterSchema, response=page_of(RedemptionSchema))
    def list_redemptions(self, request):
        self.identity
        return self.redemption.list_redemptions(self.checked_query(request, RedemptionFilterSchema))

    @route("GET", "/api/v1/redemptions/totals", summary="Redemption totals per store and day",
           tags=[TAG_REDEMPTIONS], query=TotalsFilterSchema, response=page_of(DayTotalSchema))
    def redemption_totals(self, request):
        self.identity
        return self.redemption.redemption_totals(self.checked_query(request, TotalsFilterSchema))

    @route("GET", "/api/v1/redemptions/export.csv", summary="Redemption records as CSV (same filters)",
           tags=[TAG_REDEMPTIONS], query=TotalsFilterSchema, content_type="text/csv")
    def export_redemptions(self, request):
        self.identity
        text = self.redemption.export_redemptions(self.checked_query(request, TotalsFilterSchema))
        return csv_response(text, "redemptions.csv")

    @route("GET", "/api/v1/redemptions/<uuid:redemption_id>", summary="One redemption record",
           tags=[TAG_REDEMPTIONS], query=MerchantQuery, response=RedemptionSchema)
    def get_redemption(self, request, redemption_id):
        self.identity
        return self.redemption.get_redemption(str(redemption_id), request.args.get("merchant_id"))
