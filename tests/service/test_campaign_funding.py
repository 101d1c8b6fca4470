"""Platform and partner money, in a real campaign container: funding agreements the platform
grants, issuance committed against their budget, value given back by cancelled and expired
vouchers, the per-merchant voucher value ceiling with its approvals, and manual points.
"""
import eventlet
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.campaign.service import CampaignService
from services.redemption.contract.events import VoucherCancelled, VoucherExpired
from tests.events import example
from tests.service.conftest import call, handling, new_id, started


@pytest.fixture(scope="module")
def campaign(make_config):
    with started(CampaignService, make_config("campaign", EVENT_RETRY_DELAYS=[0.2, 0.5])) as container:
        yield container


@pytest.fixture
def platform(campaign, as_user):
    """``platform("create_agreement", data)``: call as platform finance."""
    def rpc(method, *args, role="platform_finance", **kwargs):
        return call(campaign, method, as_user(role), *args, **kwargs)
    return rpc


@pytest.fixture
def merchant(campaign, as_user):
    """A new merchant: ``merchant["rpc"]("authorize_issuance", "owner", data)``."""
    merchant_id = new_id()

    def rpc(method, role, *args, **kwargs):
        return call(campaign, method, as_user(role, merchant_id=merchant_id, store_id=new_id()), *args, **kwargs)
    return {"id": merchant_id, "rpc": rpc}


def refused(error_type, fn, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        fn(*args, **kwargs)
    return raised.value


def grant(platform, merchant, **fields):
    data = {"merchant_id": merchant["id"], "funder_kind": "platform", "currency": "ZAR", "budget": 10000,
            "max_voucher_value": 4000}
    data.update(fields)
    return platform("create_agreement", data)


def funded_campaign(platform, merchant, **fields):
    agreement = grant(platform, merchant, **fields)
    created = merchant["rpc"]("create_campaign", "owner", {"name": "Funded", "currency": "ZAR",
                                                           "funding_agreement_id": agreement["id"]})
    created = merchant["rpc"]("change_campaign_state", "owner", created["id"], "activate")
    return agreement, created


def authorize(merchant, reference=None, **fields):
    data = {"reference": reference or new_id(), "kind": "stored_value", "currency": "ZAR", "value": 1000}
    data.update(fields)
    return merchant["rpc"]("authorize_issuance", "owner", data)


def agreement_now(platform, agreement):
    return platform("get_agreement", agreement["id"])


# -- agreements -------------------------------------------------------------------------------
def test_only_the_platform_grants_funding_and_every_change_is_audited(platform, merchant):
    error = refused(Forbidden, merchant["rpc"], "create_agreement", "owner", {
        "merchant_id": merchant["id"], "funder_kind": "platform", "currency": "ZAR", "budget": 10 ** 15,
        "max_voucher_value": 10 ** 15})
    assert error.code == "role_not_allowed"
    agreement = grant(platform, merchant, funder_kind="partner", funder_name="Acme Rewards", commission_bp=250)
    assert (agreement["status"], agreement["committed"], agreement["remaining"]) == ("active", 0, 10000)
    assert (agreement["funder_name"], agreement["commission_bp"]) == ("Acme Rewards", 250)
    error = refused(Forbidden, merchant["rpc"], "change_agreement_status", "owner", agreement["id"], "end",
                    {"reason": "mine now"})
    assert error.code == "role_not_allowed"
    platform("change_agreement_status", agreement["id"], "suspend", {"reason": "partner invoice overdue"})
    platform("change_agreement_status", agreement["id"], "resume", {"reason": "paid"}, role="admin")
    ended = platform("change_agreement_status", agreement["id"], "end", {"reason": "campaign season over"})
    assert ended["status"] == "ended"
    assert [(h["action"], h["to_status"], h["actor"]["role"], h["reason"]) for h in ended["history"]] == [
        ("created", "active", "platform_finance", None),
        ("suspend", "suspended", "platform_finance", "partner invoice overdue"),
        ("resume", "active", "admin", "paid"),
        ("end", "ended", "platform_finance", "campaign season over")]
    again = refused(Conflict, platform, "change_agreement_status", agreement["id"], "resume", {"reason": "oops"})
    assert again.code == "agreement_ended"


def test_partner_agreements_name_the_partner_and_budgets_bound_the_voucher_value(platform, merchant):
    assert "funder_name" in refused(ValidationFailed, grant, platform, merchant, funder_kind="partner").fields
    assert "funder_name" in refused(ValidationFailed, grant, platform, merchant, funder_name="Acme").fields
    assert "max_voucher_value" in refused(ValidationFailed, grant, platform, merchant, budget=100,
                                          max_voucher_value=101).fields


def test_owners_read_their_own_agreements_and_the_platform_reads_all(platform, merchant, campaign, as_user):
    other = {"id": new_id()}
    mine = grant(platform, merchant)
    theirs = grant(platform, other)
    listed = merchant["rpc"]("list_agreements", "owner", {})["items"]
    assert [a["id"] for a in listed] == [mine["id"]]
    assert refused(NotFound, merchant["rpc"], "get_agreement", "owner", theirs["id"]).code == "agreement_not_found"
    assert refused(Forbidden, merchant["rpc"], "list_agreements", "owner", {"merchant_id": other["id"]}).code \
        == "merchant_forbidden"
    assert refused(Forbidden, merchant["rpc"], "list_agreements", "finance", {}).code == "role_not_allowed"
    everyone = {a["id"]: a["merchant_id"] for a in platform("list_agreements", {"limit": 200})["items"]}
    assert everyone[mine["id"]] == merchant["id"] and everyone[theirs["id"]] == other["id"]
    assert [a["id"] for a in platform("list_agreements", {"merchant_id": other["id"]})["items"]] == [theirs["id"]]


# -- campaigns under agreements ---------------------------------------------------------------
def test_platform_or_partner_funding_only_comes_from_an_agreement_granted_to_the_merchant(platform, merchant):
    rpc = merchant["rpc"]
    for funding in ("platform", "partner"):
        error = refused(Forbidden, rpc, "create_campaign", "owner", {"name": "Free money", "currency": "ZAR",
                                                                     "funding": funding})
        assert error.code == "funding_agreement_required"
    assert "funder_name" in refused(ValidationFailed, rpc, "create_campaign", "owner", {
        "name": "Free money", "currency": "ZAR", "funding": "partner", "funder_name": "Anyone"}).fields
    someone_elses = grant(platform, {"id": new_id()})
    assert refused(NotFound, rpc, "create_campaign", "owner", {
        "name": "Borrowed", "currency": "ZAR", "funding_agreement_id": someone_elses["id"]}).code \
        == "agreement_not_found"
    agreement = grant(platform, merchant, funder_kind="partner", funder_name="Acme Rewards")
    assert refused(ValidationFailed, rpc, "create_campaign", "owner", {
        "name": "Dollars", "currency": "USD", "funding_agreement_id": agreement["id"]}).code == "currency_mismatch"
    assert refused(ValidationFailed, rpc, "create_campaign", "owner", {
        "name": "Relabelled", "currency": "ZAR", "funding": "platform",
        "funding_agreement_id": agreement["id"]}).code == "funding_mismatch"
    created = rpc("create_campaign", "owner", {"name": "Acme week", "currency": "ZAR",
                                               "funding_agreement_id": agreement["id"]})
    assert (created["funding"], created["funder_name"], created["funding_agreement_id"]) == (
        "partner", "Acme Rewards", agreement["id"])
    platform("change_agreement_status", agreement["id"], "suspend", {"reason": "review"})
    assert refused(Conflict, rpc, "create_campaign", "owner", {
        "name": "Later", "currency": "ZAR", "funding_agreement_id": agreement["id"]}).code == "agreement_not_active"


def test_a_campaign_from_before_agreements_issues_nothing_on_platform_money(merchant, query):
    campaign_id = new_id()
    # a row as it could be written before the agreements' constraint (which spares older rows)
    query("ALTER TABLE campaign.campaigns DROP CONSTRAINT campaigns_funding_needs_agreement; "
          "INSERT INTO campaign.campaigns (id, merchant_id, name, funding, currency, valid_from, status, "
          "created_by) VALUES (%s, %s, 'Legacy', 'platform', 'ZAR', now(), 'active', '{}'); "
          "ALTER TABLE campaign.campaigns ADD CONSTRAINT campaigns_funding_needs_agreement "
          "CHECK ((funding = 'merchant') = (funding_agreement_id IS NULL)) NOT VALID",
          (campaign_id, merchant["id"]))
    assert refused(Forbidden, authorize, merchant, campaign_id=campaign_id).code == "funding_agreement_required"


# -- issuing commits against the agreement ----------------------------------------------------
def test_issuing_commits_value_and_never_passes_the_budget(platform, merchant):
    agreement, created = funded_campaign(platform, merchant)
    first = authorize(merchant, campaign_id=created["id"], value=4000)
    assert (first["funding"], first["funding_agreement_id"], first["committed"]) == (
        "platform", agreement["id"], 4000)
    reference = new_id()
    authorize(merchant, reference, campaign_id=created["id"], kind="discount_fixed", value=1000, uses_allowed=4)
    assert authorize(merchant, reference, campaign_id=created["id"], kind="discount_fixed", value=1000,
                     uses_allowed=4)["committed"] == 4000  # asked again: the same answer, committed once
    assert agreement_now(platform, agreement)["remaining"] == 2000
    error = refused(Conflict, authorize, merchant, campaign_id=created["id"], kind="discount_percent", value=None,
                    cap=1000, uses_allowed=3)
    assert error.code == "agreement_budget_exceeded"
    assert refused(ValidationFailed, authorize, merchant, campaign_id=created["id"], value=4001).code \
        == "voucher_value_above_agreement_max"
    assert refused(ValidationFailed, authorize, merchant, campaign_id=created["id"], kind="discount_percent",
                   value=None).code == "percentage_cap_required"
    assert refused(Conflict, authorize, merchant, campaign_id=created["id"], value=1000, count=3).code \
        == "agreement_budget_exceeded"
    assert authorize(merchant, campaign_id=created["id"], value=1000, count=2)["committed"] == 2000
    assert agreement_now(platform, agreement)["remaining"] == 0


def test_concurrent_issues_commit_exactly_what_the_budget_allows(platform, merchant, make_config, amqp_uri, as_user):
    agreement, created = funded_campaign(platform, merchant, budget=5500, max_voucher_value=1000)
    owner = as_user("owner", merchant_id=merchant["id"])

    def issue(_):
        # real RPC, one proxy per green thread: entrypoint_hook cannot tell concurrent workers apart;
        # a standalone client, so as the broker admin
        with ServiceRpcProxy("campaign", make_config("campaign", AMQP_URI=amqp_uri), context_data=owner,
                             timeout=20) as proxy:
            try:
                return proxy.authorize_issuance({"reference": new_id(), "campaign_id": created["id"],
                                                 "kind": "stored_value", "currency": "ZAR", "value": 1000})["committed"]
            except Conflict as error:
                return error.code

    pile = eventlet.GreenPile(10)
    for n in range(10):
        pile.spawn(issue, n)
    assert sorted(pile, key=str) == [1000] * 5 + ["agreement_budget_exceeded"] * 5
    assert agreement_now(platform, agreement)["committed"] == 5000


def test_no_new_vouchers_under_a_suspended_or_expired_agreement(platform, merchant, query):
    agreement, created = funded_campaign(platform, merchant)
    platform("change_agreement_status", agreement["id"], "suspend", {"reason": "review"})
    assert refused(Conflict, authorize, merchant, campaign_id=created["id"]).code == "agreement_not_active"
    platform("change_agreement_status", agreement["id"], "resume", {"reason": "fine"})
    authorize(merchant, campaign_id=created["id"])
    query("UPDATE campaign.funding_agreements SET valid_from = now() - interval '2 days', "
          "valid_until = now() - interval '1 day' WHERE id = %s", (agreement["id"],))
    assert refused(Conflict, authorize, merchant, campaign_id=created["id"]).code == "agreement_not_in_force"


# -- cancelled and expired vouchers give their unused value back -------------------------------
def given_back(campaign, dispatch, event_type, payload, event_id=None):
    event, method = {"voucher_cancelled": (VoucherCancelled, "release_cancelled_voucher"),
                     "voucher_expired": (VoucherExpired, "release_expired_voucher")}[event_type]
    event_id = event_id or new_id()
    with handling(campaign, method, event_id) as result:
        dispatch(example(event, **{k: v for k, v in payload.items() if k in event.field_names()}),
                 event_id=event_id)
    result.get()


def test_a_cancelled_voucher_gives_back_its_unused_value_once(campaign, dispatch, platform, merchant):
    agreement, created = funded_campaign(platform, merchant)
    voucher_id = new_id()
    authorize(merchant, voucher_id, campaign_id=created["id"], value=4000)
    cancelled = {"voucher_id": voucher_id, "merchant_id": merchant["id"], "campaign_id": created["id"],
                 "batch_id": None, "funding_agreement_id": agreement["id"], "unused_balance": 3000,
                 "unused_value": 3000, "reason": "lost"}
    given_back(campaign, dispatch, "voucher_cancelled", cancelled)
    assert agreement_now(platform, agreement)["committed"] == 1000
    given_back(campaign, dispatch, "voucher_cancelled", cancelled)  # a second event for the same voucher
    given_back(campaign, dispatch, "voucher_expired", cancelled)    # cancelled, then expired too
    assert agreement_now(platform, agreement)["committed"] == 1000


def test_what_is_given_back_is_bounded_by_what_the_issue_committed(campaign, dispatch, platform, merchant):
    agreement, created = funded_campaign(platform, merchant)
    batch_id = new_id()
    authorize(merchant, batch_id, campaign_id=created["id"], value=1000, count=3)
    assert agreement_now(platform, agreement)["committed"] == 3000

    def expired(voucher_id, unused):
        given_back(campaign, dispatch, "voucher_expired", {
            "voucher_id": voucher_id, "merchant_id": merchant["id"], "campaign_id": created["id"],
            "batch_id": batch_id, "funding_agreement_id": agreement["id"], "unused_balance": unused,
            "unused_value": unused})

    expired(new_id(), 10 ** 9)  # more than a voucher of the batch could hold: one voucher's worth
    assert agreement_now(platform, agreement)["committed"] == 2000
    for _ in range(3):  # more vouchers than the batch had: never more than it committed
        expired(new_id(), 1000)
    assert agreement_now(platform, agreement)["committed"] == 0
    given_back(campaign, dispatch, "voucher_cancelled", {  # a voucher this agreement never funded
        "voucher_id": new_id(), "merchant_id": merchant["id"], "campaign_id": created["id"], "batch_id": None,
        "funding_agreement_id": agreement["id"], "unused_balance": 500, "unused_value": 500})
    assert agreement_now(platform, agreement)["committed"] == 0


# -- the ceiling and approvals -------------------------------------------------------------------
def test_vouchers_above_the_ceiling_need_an_approval_the_platform_gave(platform, merchant):
    rpc = merchant["rpc"]
    limits = rpc("get_merchant_limits", "owner")
    assert (limits["voucher_value_ceiling"], limits["voucher_value_ceiling_is_default"]) == (500000, True)
    assert refused(Forbidden, authorize, merchant, value=10 ** 15).code == "platform_approval_required"
    assert refused(Forbidden, rpc, "set_merchant_limits", "owner", merchant["id"], {
        "voucher_value_ceiling": 10 ** 15, "reason": "trust me"}).code == "role_not_allowed"
    platform("set_merchant_limits", merchant["id"], {"voucher_value_ceiling": 5000, "reason": "new merchant"})
    assert authorize(merchant, value=5000)["funding"] == "merchant"
    error = refused(Forbidden, authorize, merchant, kind="discount_fixed", value=2000, uses_allowed=3)
    assert error.code == "platform_approval_required"  # three uses of 2000 can give 6000
    authorize(merchant, kind="discount_percent", value=None)  # uncapped: merchant money only

    approval = rpc("request_issuance_approval", "owner", {"currency": "ZAR", "value": 8000, "count": 2,
                                                          "reason": "gift cards for the staff party"})
    assert (approval["status"], approval["remaining"], approval["requested_by"]["role"]) == ("pending", 2, "owner")
    assert refused(Forbidden, authorize, merchant, value=8000, approval_id=approval["id"]).code == "approval_pending"
    assert refused(Forbidden, rpc, "decide_issuance_approval", "owner", approval["id"], "approve",
                   {"note": "self-approved"}).code == "role_not_allowed"
    decided = platform("decide_issuance_approval", approval["id"], "approve", {"note": "called the owner back"})
    assert (decided["status"], decided["decided_by"]["role"], decided["decision_note"]) == (
        "approved", "platform_finance", "called the owner back")
    assert refused(Forbidden, authorize, merchant, value=8001, approval_id=approval["id"]).code \
        == "approval_value_exceeded"
    assert refused(ValidationFailed, authorize, merchant, value=8000, currency="USD",
                   approval_id=approval["id"]).code == "currency_mismatch"
    assert authorize(merchant, value=8000, approval_id=approval["id"])["approval_id"] == approval["id"]
    assert refused(Conflict, authorize, merchant, value=7000, count=2, approval_id=approval["id"]).code \
        == "approval_used_up"
    authorize(merchant, value=7000, approval_id=approval["id"])
    assert platform("get_issuance_approval", approval["id"])[("status")] == "used"
    assert refused(Conflict, authorize, merchant, value=7000, approval_id=approval["id"]).code == "approval_used_up"
    assert refused(Conflict, platform, "decide_issuance_approval", approval["id"], "reject",
                   {"note": "changed my mind"}).code == "approval_already_decided"


def test_an_approval_serves_only_its_own_merchant(platform, merchant, campaign, as_user):
    other_id = new_id()
    other = call(campaign, "request_issuance_approval", as_user("owner", merchant_id=other_id),
                 {"currency": "ZAR", "value": 10 ** 9, "count": 5, "reason": "big launch"})
    platform("decide_issuance_approval", other["id"], "approve", {"note": "checked"})
    assert refused(Forbidden, authorize, merchant, value=10 ** 9, approval_id=other["id"]).code \
        == "platform_approval_required"
    assert refused(NotFound, merchant["rpc"], "get_issuance_approval", "owner", other["id"]).code \
        == "approval_not_found"
    rejected = merchant["rpc"]("request_issuance_approval", "owner", {"currency": "ZAR", "value": 10 ** 9,
                                                                      "count": 1, "reason": "please"})
    platform("decide_issuance_approval", rejected["id"], "reject", {"note": "no reason to"})
    assert refused(Forbidden, authorize, merchant, value=10 ** 9, approval_id=rejected["id"]).code \
        == "approval_rejected"
    pending = platform("list_issuance_approvals", {"status": "approved", "limit": 200})["items"]
    assert other["id"] in [a["id"] for a in pending]


# -- manual points ---------------------------------------------------------------------------------
def test_points_are_adjusted_by_owners_with_a_reason_within_a_daily_limit(platform, merchant):
    rpc = merchant["rpc"]
    customer = rpc("create_customer", "store_user", {"name": "Thabo"})["id"]
    for role in ("store_user", "finance", "support_agent"):
        assert refused(Forbidden, rpc, "adjust_points", role, customer, {
            "points": 10, "reference": "r-" + role, "reason": "goodwill"}).code == "role_not_allowed"
    assert set(refused(ValidationFailed, rpc, "adjust_points", "owner", customer, {"points": 10}).fields) \
        == {"reference", "reason"}
    assert "points" in refused(ValidationFailed, rpc, "adjust_points", "owner", customer, {
        "points": 0, "reference": "zero", "reason": "nothing"}).fields
    platform("set_merchant_limits", merchant["id"], {"daily_points_credit_limit": 1500, "reason": "pilot"})
    credit = rpc("adjust_points", "owner", customer, {"points": 1000, "reference": "goodwill-1",
                                                      "reason": "late delivery"})
    assert (credit["balance"], credit["adjustment"]["kind"], credit["adjustment"]["reason"]) == (
        1000, "adjust", "late delivery")
    assert credit["adjustment"]["actor"]["role"] == "owner"
    assert refused(Conflict, rpc, "adjust_points", "owner", customer, {
        "points": 600, "reference": "goodwill-2", "reason": "another"}).code == "points_daily_limit_exceeded"
    assert refused(Conflict, rpc, "adjust_points", "owner", customer, {
        "points": -1001, "reference": "fix-1", "reason": "typo"}).code == "insufficient_points"
    assert rpc("adjust_points", "owner", customer, {"points": -200, "reference": "fix-1",
                                                    "reason": "typo"})["balance"] == 800
    # a debit does not free today's credit allowance
    assert refused(Conflict, rpc, "adjust_points", "owner", customer, {
        "points": 600, "reference": "goodwill-2", "reason": "another"}).code == "points_daily_limit_exceeded"
    admin = platform("adjust_points", customer, {"points": 500, "reference": "goodwill-2", "reason": "escalation"},
                     merchant["id"], role="admin")
    assert admin["balance"] == 1300
    assert refused(Forbidden, platform, "adjust_points", customer, {
        "points": 1, "reference": "pf", "reason": "finance"}, merchant["id"]).code == "role_not_allowed"
    limits = rpc("get_merchant_limits", "owner")
    assert (limits["daily_points_credit_limit"], limits["points_credited_today"]) == (1500, 1500)
