"""The campaign service's vocabulary: what its schemas and events accept."""

# who pays for a campaign's vouchers: the merchant itself, or (under a funding agreement the
# platform granted) the platform or a named partner
MERCHANT = "merchant"
FUNDERS = ("platform", "partner")
FUNDING = (MERCHANT,) + FUNDERS

# campaigns; funding agreements, and what the platform may do to one
ACTIVE, SUSPENDED, ENDED = "active", "suspended", "ended"
BUDGET_EXHAUSTED = "budget_exhausted"
CAMPAIGN_STATUSES = (ACTIVE, BUDGET_EXHAUSTED)
AGREEMENT_STATUSES = (ACTIVE, SUSPENDED, ENDED)
AGREEMENT_ACTIONS = ("suspend", "resume", "end")

# issuance approvals (vouchers above the merchant's value ceiling)
PENDING, APPROVED, REJECTED, USED = "pending", "approved", "rejected", "used"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED, USED)
DECISIONS = {"approve": APPROVED, "reject": REJECTED}
