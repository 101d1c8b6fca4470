"""The support service's vocabulary: what its schemas and events accept."""

CATEGORIES = ("settlement", "wallet", "onboarding", "campaign", "redemption", "training",
              "technical", "fulfilment", "item", "other")
PRIORITIES = ("low", "normal", "high", "critical")
STATUSES = ("open", "processing", "resolved", "closed")
OVERDUE = "overdue"  # how an open ticket past its acknowledgement deadline is shown (never stored)
RESOLUTION_ACTIONS = ("no_action", "cancel", "refund", "replace")
