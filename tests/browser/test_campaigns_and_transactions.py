"""Campaigns, analytics and transactions as the owner and the till see them: a campaign started
with a budget, activated, its vouchers issued and one redeemed, its budget burn-down and analytics
drawn; a purchase recorded at the till showing in Transactions and on the customer's page. Each is
skipped, naming the routes, where the server does not have them."""
import uuid

from tests.browser.conftest import axe_violations, shot


def test_a_campaign_with_a_budget_its_burn_down_and_its_analytics(open_portal, api, artifacts, axe_source):
    api.needs("POST /api/v1/campaigns/{campaign_id}/activation", "GET /api/v1/campaigns/{campaign_id}/forecast",
              "GET /api/v1/campaigns/{campaign_id}/analytics", "GET /api/v1/analytics")
    name = "Winter coffee " + uuid.uuid4().hex[:6]
    owner = open_portal("owner")
    page = owner.go("campaigns").page
    start = page.get_by_role("region", name="Start a campaign")
    start.get_by_label("Name").fill(name)
    start.get_by_label("Budget", exact=False).fill("500")
    start.get_by_role("button", name="Create campaign").click()
    page.get_by_role("heading", name=name).wait_for()  # its own page
    owner.settle()
    if page.get_by_role("button", name="Activate").count():
        page.get_by_role("button", name="Activate").click()
        page.locator("#main .badge-active").first.wait_for()
    campaign_id = page.url.rstrip("/").split("/")[-1]
    # a voucher of the campaign redeemed at the till spends 20.00 of its 500.00
    voucher = api.call("POST", "/vouchers", "owner", 201, json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 2000, "campaign_id": campaign_id}).json()
    api.call("POST", "/redemptions", "store_user", 201, json={"code": voucher["code"], "channel": "pos"},
             headers={"Idempotency-Key": uuid.uuid4().hex})
    assert api.eventually(lambda: api.call("GET", "/campaigns/" + campaign_id, "owner").json()["spent"] == 2000)
    owner.go("campaigns/view/" + campaign_id)
    burn = page.get_by_role("img", name="Budget burn-down")
    burn.first.wait_for()
    assert "480.00" in burn.first.get_attribute("aria-label")  # what is left, drawn
    analytics = page.get_by_role("region", name="Analytics")
    analytics.locator(".kpi").first.wait_for()
    assert "20.00" in analytics.locator(".kpi", has_text="Discount cost").inner_text()
    assert axe_violations(page, axe_source) == []
    shot(page, artifacts, "campaign-burn-down")

    owner.go("analytics")  # every campaign of the merchant over the last 30 days, as the API counts them
    whole = api.call("GET", "/analytics", "owner").json()
    assert whole["discount_cost"] >= 2000
    issued = page.locator("#main .kpi", has_text="Vouchers issued")
    issued.wait_for()
    assert str(whole["issued"]) in issued.inner_text()
    assert page.get_by_label("Campaign", exact=True).input_value() == ""
    page.get_by_label("Campaign", exact=True).select_option(label=name)
    page.get_by_role("button", name="Apply").click()
    owner.settle()
    page.locator("#main .kpi").first.wait_for()
    assert axe_violations(page, axe_source) == []
    shot(page, artifacts, "analytics")
    owner.check_clean()


def test_a_purchase_recorded_at_the_till_shows_in_transactions_and_on_the_customers_page(open_portal, api, artifacts,
                                                                                          axe_source):
    api.needs("POST /api/v1/purchases", "GET /api/v1/purchases", "GET /api/v1/customers/{customer_id}/purchases")
    customer = api.call("POST", "/customers", "owner", 201, json={"name": "Lerato " + uuid.uuid4().hex[:4]}).json()
    receipt = "R-" + uuid.uuid4().hex[:8]
    store = open_portal("store_user")
    page = store.go("transactions").page
    record = page.get_by_role("region", name="Record a purchase")
    record.get_by_label("Receipt number").fill(receipt)
    record.get_by_label("Amount", exact=False).fill("123.50")
    record.get_by_label("Customer id (optional)").fill(customer["id"])
    record.get_by_label("Items (optional)").fill("2 × Coffee, 90.00\n1 × Muffin, 33.50")
    record.get_by_role("button", name="Record purchase").click()
    row = page.locator("tr", has_text=receipt)
    row.wait_for()
    assert "2 × Coffee" in row.inner_text() and "123.50" in row.inner_text()
    assert axe_violations(page, axe_source) == []
    shot(page, artifacts, "transactions-store")

    owner = open_portal("owner")
    owner.go("customers/" + customer["id"])
    owner.page.get_by_role("region", name="Purchases").locator("tr", has_text=receipt).wait_for()
    shot(owner.page, artifacts, "customer-page")
    store.check_clean()
    owner.check_clean()
