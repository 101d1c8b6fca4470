"""The support service's vocabulary: what its schemas and events accept."""

# the merchant's own categories, then the buyer-issue categories of ONDC IGM (lower-case)
MERCHANT_CATEGORIES = ("settlement", "wallet", "onboarding", "campaign", "redemption", "training",
                       "technical", "other")
IGM_CATEGORIES = ("order", "item", "fulfilment", "agent", "payment")
CATEGORIES = MERCHANT_CATEGORIES + IGM_CATEGORIES
# ONDC IGM sub-categories (issue codes), by the category they belong to
SUB_CATEGORIES = {
    "order": ("ORD01", "ORD02", "ORD03", "ORD04"),
    "item": ("ITM01", "ITM02", "ITM03", "ITM04", "ITM05"),
    "fulfilment": ("FLM01", "FLM02", "FLM03", "FLM04", "FLM05", "FLM06", "FLM07", "FLM08", "FLM09"),
    "agent": ("AGT01", "AGT02"),
    "payment": ("PMT01", "PMT02", "PMT03", "PMT04", "PMT05", "PMT06", "PMT07"),
}
# IGM: the buyer must send pictures for these (quantity, item mismatch, quality, expiry, wrong delivery)
IMAGES_REQUIRED = ("ITM02", "ITM03", "ITM04", "ITM05", "FLM04")
PRIORITIES = ("low", "normal", "high", "critical")
STATUSES = ("open", "processing", "resolved", "closed")
OVERDUE = "overdue"  # a flag the clock sets (``overdue``); ``status=overdue`` filters on it
RESOLUTION_ACTIONS = ("no_action", "cancel", "refund", "replace", "return")
DELIVERY_TYPES = ("off_network", "on_network")
# where a ticket came from
SOURCES = ("buyer_app", "portal", "store", "logistics_partner", "email", "system", "chat",
           "owner", "support_agent", "finance", "admin", "store_user", "settlement")
REQUESTER_KINDS = ("user", "customer", "partner", "system", "email")  # email: id is the sender's address
THREADS = ("main", "internal")
# the logistics partner's states, on a ticket cascaded to it
LSP_STATUSES = ("pending", "processing", "resolved")
VIEW_BY = ("open", "closed", "processing", "resolved", "lsp_pending", "lsp_processing", "lsp_resolved")
# escalation goes up this chain, one step at a time
ESCALATION_CHAIN = ("store_user", "owner", "platform_support", "it_support")
ASSIGNMENT_MODES = ("off", "round_robin", "least_loaded")
WAITING_ON = ("requester", "partner")
AUTHOR_KINDS = ("customer", "staff", "system")
CONVERSATION_STATUSES = ("open", "closed")
