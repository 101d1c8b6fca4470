"""The redemption service's vocabulary: what its schemas and events accept."""

# voucher kinds (the campaign service funds and approves vouchers by these too)
DISCOUNT_FIXED = "discount_fixed"
DISCOUNT_PERCENT = "discount_percent"
STORED_VALUE = "stored_value"
KINDS = (DISCOUNT_FIXED, DISCOUNT_PERCENT, STORED_VALUE)

# voucher statuses
ACTIVE = "active"
PARTIALLY_REDEEMED = "partially_redeemed"
REDEEMED = "redeemed"
EXPIRED = "expired"
CANCELLED = "cancelled"
STATUSES = (ACTIVE, PARTIALLY_REDEEMED, REDEEMED, EXPIRED, CANCELLED)

# where a voucher is redeemed, and how it was presented there
CHANNELS = ("pos", "vending_machine", "in_app", "web", "kiosk")
METHODS = ("code", "pin", "qr", "barcode", "image", "external_qr")
PRESENTATIONS = ("code", "qr_payload", "scanned_text")

# redemption records
COMPLETED = "completed"
REVERSED = "reversed"
REDEMPTION_STATUSES = (COMPLETED, REVERSED)

# a partner's own code for a voucher
EXTERNAL_FORMATS = ("qr", "code128", "ean13", "ean8", "upca", "datamatrix", "pdf417", "aztec", "text")

# what repeated failed attempts lock
LOCKOUT_SCOPES = ("user", "store", "voucher")
