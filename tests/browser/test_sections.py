"""Every role sees its own sections and no other, every section passes axe-core (no serious or
critical violation), runs under the strict Content-Security-Policy without a complaint, fits a
360-px till screen without sideways scrolling, and is photographed for the record; signing in keeps
no token where a script could read it."""
import pytest

from tests.browser.conftest import axe_violations, record, shot

SECTIONS = {
    "owner": ["Dashboard", "Redeem", "Vouchers", "Redemptions", "Transactions", "Settlements", "Support", "Campaigns",
              "Customers", "Analytics", "Settings"],
    "store_user": ["Dashboard", "Redeem", "Redemptions", "Transactions", "Support", "Settings"],
    "support_agent": ["Dashboard", "Vouchers", "Redemptions", "Transactions", "Support", "Customers", "Settings"],
    "finance": ["Dashboard", "Vouchers", "Redemptions", "Transactions", "Settlements", "Support", "Campaigns",
                "Analytics", "Settings"],
    "admin": ["Onboarding", "Vouchers", "Redemptions", "Transactions", "Settlements", "Support", "Campaigns",
              "Customers", "Analytics", "Settings"],
    "platform_finance": ["Settlements", "Campaigns", "Settings"],
    "platform_support": ["Support", "Settings"],
    "it_support": ["Support", "Settings"],
}
ALL = ["dashboard", "onboarding", "redeem", "vouchers", "redemptions", "transactions", "settlements", "support",
       "campaigns", "customers", "analytics", "settings"]
# sub-pages worth their own look (tabs)
EXTRA = {"settlements": ["settlements/batches", "settlements/exceptions", "settlements/balances", "settlements/payout",
                         "settlements/schedule"],
         "campaigns": ["campaigns/agreements", "campaigns/approvals"],
         "support": ["support/chat", "support/sla", "support/canned", "support/agents"],
         "settings": ["settings/password", "settings/notifications", "settings/api-clients", "settings/webhooks", "settings/email"]}
PHONE = {"width": 360, "height": 740}
PLATFORM = ("admin", "platform_finance", "platform_support", "it_support")
CHECKED = set()


def pages_of(role):
    for section in [name.lower() for name in SECTIONS[role]]:
        for path in [section] + EXTRA.get(section, []):
            yield path


@pytest.mark.parametrize("role", list(SECTIONS))
def test_each_role_sees_only_its_sections_each_accessible(role, open_portal, platform_desk, axe_source, artifacts):
    portal = open_portal(role)
    assert portal.nav() == SECTIONS[role]
    for path in pages_of(role):
        portal.go(path)
        assert portal.page.locator("#main .error").count() == 0, (path, portal.page.locator("#main .error").all_inner_texts())
        # axe-core and the screenshot once per page and side (the machine is shared: a page a merchant's
        # roles see alike is checked as the first of them sees it, the owner's fullest view first)
        side = (path, role in PLATFORM)
        if side not in CHECKED:
            CHECKED.add(side)
            assert axe_violations(portal.page, axe_source) == [], path
            shot(portal.page, artifacts, "%s-%s" % (role, path))
    for section in set(ALL) - {name.lower() for name in SECTIONS[role]}:
        portal.go(section)
        assert portal.page.locator("#main h1").inner_text() == "Not available", section
    portal.check_clean()


@pytest.mark.parametrize("role", ["owner", "store_user"])
def test_every_section_fits_a_360_px_till_screen(role, open_portal, artifacts):
    portal = open_portal(role, viewport=PHONE)
    page = portal.page
    menu = page.get_by_role("button", name="Menu")
    assert menu.is_visible() and page.locator("nav#nav").is_hidden()  # the menu folds away on a phone
    menu.click()
    assert page.locator("nav#nav").is_visible()
    for path in pages_of(role):
        portal.go(path)
        assert portal.overflow() <= 0, "%s scrolls sideways by %spx at 360px" % (path, portal.overflow())
        shot(page, artifacts, "360-%s-%s" % (role, path))
    portal.check_clean()


def test_signing_in_keeps_tokens_out_of_reach_and_survives_a_reload(browser, stack, artifacts):
    from tests.browser.conftest import Portal
    portal = Portal(browser, stack["base"], stack["password"], "finance")
    page = portal.page
    try:
        portal.open()
        page.get_by_role("heading", name="Sign in to the merchant portal").wait_for()
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] || null")
        record(artifacts, "first_contentful_paint_ms_sign_in", fcp)
        portal.sign_in()
        # nothing in Web Storage, and the refresh cookie is HttpOnly: no script reads it
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert "vow_portal_refresh" not in page.evaluate("document.cookie")
        cookie = [c for c in portal.context.cookies() if c["name"] == "vow_portal_refresh"][0]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api/v1/auth/"
        page.reload()
        page.get_by_role("button", name="Sign out").wait_for()
        assert "finance" in page.locator(".who").inner_text().lower()
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] || null")
        record(artifacts, "first_contentful_paint_ms_signed_in_reload", fcp)
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in to the merchant portal").wait_for()
        assert not [c for c in portal.context.cookies() if c["name"] == "vow_portal_refresh"]
        page.reload()
        page.get_by_role("heading", name="Sign in to the merchant portal").wait_for()
        portal.check_clean()
    finally:
        portal.close()
