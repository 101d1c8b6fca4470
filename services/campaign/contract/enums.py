"""The campaign service's vocabulary: what its schemas and events accept."""

# who pays for a campaign's vouchers: the merchant itself, or (under a funding agreement the
# platform granted) the platform or a named partner
MERCHANT = "merchant"
FUNDERS = ("platform", "partner")
FUNDING = (MERCHANT,) + FUNDERS

# campaigns; funding agreements, and what the platform may do to one
ACTIVE, SUSPENDED, ENDED = "active", "suspended", "ended"
DRAFT, SCHEDULED, PAUSED = "draft", "scheduled", "paused"
CAMPAIGN_STATUSES = (DRAFT, SCHEDULED, ACTIVE, PAUSED, ENDED)
BUDGET_EXHAUSTED = "budget_exhausted"  # why a campaign paused itself (pause_reason)
CAMPAIGN_ACTIONS = ("activate", "pause", "end")
GOALS = ("repeat_purchase", "acquisition", "reactivation", "basket_size", "awareness")
REWARD_TYPES = ("voucher", "points")
ISSUE_TARGETS = ("customer", "segment", "codes")
ISSUE_JOB_STATUSES = ("queued", "running", "completed", "failed")
AGREEMENT_STATUSES = (ACTIVE, SUSPENDED, ENDED)
AGREEMENT_ACTIONS = ("suspend", "resume", "end")

# issuance approvals (vouchers above the merchant's value ceiling)
PENDING, APPROVED, REJECTED, USED = "pending", "approved", "rejected", "used"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED, USED)
DECISIONS = {"approve": APPROVED, "reject": REJECTED}

# customers' tiers, lowest first (by rolling 365-day spend: domain.TIER_THRESHOLDS)
TIERS = ("member", "silver", "gold", "platinum")
