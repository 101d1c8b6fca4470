"""The portal in a real browser: Debian's Chromium driven by Playwright (the Python package; it never
downloads a browser of its own) against the real stack, started as ``make run`` starts it, once for
all these tests, on a database, vhost, broker users and ports of their own.

Skipped, with one line saying what to install, where Playwright, Chromium or npm (to build the
portal) is missing. Screenshots of every section go to ``test-artifacts/browser/`` (git-ignored),
with ``timings.json`` (the first contentful paint) and the portal's build sizes.

``VOWREWARDS_BROWSER_URL`` (with ``VOWREWARDS_DEMO_PASSWORD``) points the tests at a stack already
running instead, to iterate on the portal without restarting everything.
"""
import json
import os
import re
import time
import uuid
from pathlib import Path

import pytest
import requests

from devtools import portal
from plumbing import config as cfg

ARTIFACTS = cfg.REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
PASSWORD = "browser-" + uuid.uuid4().hex[:12]
USERS = {"owner": "demo-owner", "store_user": "demo-store", "support_agent": "demo-agent", "finance": "demo-finance",
         "admin": "demo-admin", "platform_finance": "demo-platform-finance",
         # not in the demo seed: the platform's support desk, added by the admin (fixture `platform_desk`)
         "platform_support": "browser-platform-support", "it_support": "browser-it-support"}
PLATFORM_DESK = ("platform_support", "it_support")


def _requirements():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the browser tests need Playwright: pip install -r requirements-dev.txt"
    if portal.find_browser() is None:
        return "the browser tests need Chromium: apt-get install chromium (or set PORTAL_BROWSER)"
    if not portal.build():
        return "the browser tests need the portal built, which needs npm: apt-get install nodejs npm"
    return None


def pytest_collection_modifyitems(config, items):
    mine = [item for item in items if "tests/browser/" in str(item.fspath).replace(os.sep, "/")]
    if not mine:
        return
    reason = _requirements()
    if reason:
        print("\nvowrewards: %s" % reason)
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def stack(tmp_path_factory, run_id):
    if os.environ.get("VOWREWARDS_BROWSER_URL"):
        yield {"base": os.environ["VOWREWARDS_BROWSER_URL"].rstrip("/"),
               "password": os.environ["VOWREWARDS_DEMO_PASSWORD"]}
        return
    from devtools import run
    from devtools.servers import create_vhost, delete_broker_users, delete_vhost
    from plumbing.migrations import drop_database
    from tests.e2e.test_processes import free_port
    name = "vowtest_%s_browser" % run_id
    base_amqp = cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)
    vhost = "vowtest-%s-browser" % run_id
    create_vhost(base_amqp, vhost)
    overrides = {"DATABASE_URL": cfg.with_database(cfg.admin_database_url(), name),
                 "AMQP_URI": cfg.with_vhost(base_amqp, vhost), "GATEWAY_PORT": str(free_port()),
                 "LOG_FORMAT": "json", "HEALTH_PORT": "",
                 "BROKER_USER_PREFIX": "vowtest-%s-browser-" % run_id, "BROKER_USER_PER_SERVICE": "1",
                 "SMTP_HOST": "", "SMTP_PORT": str(free_port()), "DEV_MAIL_DIR": str(tmp_path_factory.mktemp("mail")),
                 "WEBHOOKS_ALLOW_HTTP_LOOPBACK": "1"}  # the tests' webhook receiver listens on 127.0.0.1
    users = list(cfg.broker_users(overrides).values())
    overrides.update({c.upper() + "_HEALTH_PORT": str(free_port()) for c in cfg.HEALTH_PORTS})
    log_path = tmp_path_factory.mktemp("browser") / "processes.log"
    with open(log_path, "w") as log:
        running = None
        try:
            running = run.Stack(PASSWORD, overrides, stdout=log, timeout=120)
            yield {"base": running.url, "password": PASSWORD, "log": log_path}
        finally:
            if running is not None:
                running.stop()
            delete_broker_users(base_amqp, users)
            for user in users:
                cfg.broker_password_file(user).unlink(missing_ok=True)
            delete_vhost(base_amqp, vhost)
            drop_database(cfg.admin_database_url(), name)


class Api:
    """The public API, as the tests' own hands (issuing vouchers, reading what the portal did)."""

    def __init__(self, base, password):
        self.base = base + "/api/v1"
        self.password = password
        self.tokens = {}

    def token(self, role):
        if role not in self.tokens:
            answer = requests.post(self.base + "/auth/token", json={"username": USERS[role], "password": self.password},
                                   timeout=10)
            assert answer.status_code == 200, answer.text
            self.tokens[role] = answer.json()["access_token"]
        return self.tokens[role]

    def call(self, method, path, role, expect=200, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {}, Authorization="Bearer " + self.token(role))
        answer = requests.request(method, self.base + path, headers=headers, timeout=15, **kwargs)
        assert answer.status_code == expect, "%s %s -> %s %s" % (method, path, answer.status_code, answer.text)
        return answer

    def issue(self, value=2500):
        return self.call("POST", "/vouchers", "owner", 201,
                         json={"kind": "discount_fixed", "currency": "ZAR", "value": value}).json()

    def needs(self, *paths):
        """Skip, saying which, unless the server's OpenAPI document has every one of these routes
        ("METHOD /api/v1/..."): the portal's sections for APIs that come with other issues are tested
        where those APIs are installed, and say so plainly where they are not."""
        if not hasattr(self, "_paths"):
            document = requests.get(self.base + "/openapi.json", timeout=10).json()
            self._paths = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
        missing = [p for p in paths if tuple(p.split(" ", 1)) not in self._paths]
        if missing:
            pytest.skip("this server has no %s" % ", ".join(missing))

    def issue_funded(self, value=2500):
        """A voucher under a funding agreement the platform granted the demo merchant: the platform
        owes the merchant for its redemptions (a merchant's own voucher is owed by nobody)."""
        merchant_id = self.call("GET", "/merchants", "owner").json()["items"][0]["id"]
        agreement = self.call("POST", "/funding-agreements", "platform_finance", 201, json={
            "merchant_id": merchant_id, "funder_kind": "platform", "currency": "ZAR", "budget": 10 ** 7,
            "max_voucher_value": 10 ** 5}).json()
        campaign = self.call("POST", "/campaigns", "owner", 201, json={
            "name": "Platform week %s" % agreement["id"][:6], "currency": "ZAR",
            "funding_agreement_id": agreement["id"]}).json()
        if campaign["status"] == "draft":  # campaigns start as drafts where they have a lifecycle
            self.call("POST", "/campaigns/%s/activation" % campaign["id"], "owner", json={})
        return self.call("POST", "/vouchers", "owner", 201, json={
            "kind": "discount_fixed", "currency": "ZAR", "value": value, "campaign_id": campaign["id"]}).json()

    def eventually(self, fetch, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            value = fetch()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)


@pytest.fixture(scope="session")
def api(stack):
    return Api(stack["base"], stack["password"])


@pytest.fixture(scope="session")
def platform_desk(api):
    """The platform support and IT support users, added by the admin through the API."""
    for role in PLATFORM_DESK:
        answer = requests.post(api.base + "/platform/users", json={"username": USERS[role], "role": role, "password": api.password},
                               headers={"Authorization": "Bearer " + api.token("admin")}, timeout=10)
        assert answer.status_code in (201, 409), answer.text  # 409: an earlier run on a reused stack made them
    return PLATFORM_DESK


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def playwright_instance():
    """Playwright for one test module. Its own stop() waits for the driver on an asyncio subprocess,
    which never returns under eventlet's monkey-patching; so the driver is killed instead, and the
    asyncio loop Playwright leaves marked as running in this thread is unmarked, or every later test
    that runs a loop of its own (the SMTP server) would be refused."""
    import asyncio
    from playwright.sync_api import sync_playwright
    manager = sync_playwright()
    yield manager.start()
    process = getattr(getattr(manager._client, "_transport", None), "_proc", None)
    if process is not None and process.returncode is None:
        process.kill()
    asyncio._set_running_loop(None)


def launch(playwright_instance, extra=()):
    return playwright_instance.chromium.launch(executable_path=portal.find_browser(),
                                               args=CHROMIUM_FLAGS + list(extra), headless=True)


@pytest.fixture(scope="module")
def browser(playwright_instance):
    browser = launch(playwright_instance)
    yield browser
    browser.close()


class Portal:
    """One signed-in browser context (its own cookie jar) and its page, watching for CSP
    violations and script errors, which fail the test that caused them."""

    def __init__(self, browser, base, password, role, viewport=None):
        self.base = base
        self.role = role
        self.context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, base_url=base)
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append("page error: %s" % error))
        self.password = password

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or message.type == "error" and "Failed to load resource" not in text:
            self.problems.append("%s: %s" % (message.type, text))

    def open(self, path="/portal/"):
        self.page.goto(self.base + path)
        return self

    def sign_in(self, role=None):
        role = role or self.role
        self.open()
        self.page.get_by_label("Username").fill(USERS[role])
        self.page.get_by_label("Password").fill(self.password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("button", name="Sign out").wait_for()
        return self

    def go(self, section, reload=False):
        """Open a section as a click on one of the portal's links does (the page is not loaded again:
        the app routes in the browser), or with ``reload`` as a fresh page load."""
        if reload or not self.page.url.startswith(self.base + "/portal/"):
            self.page.goto(self.base + "/portal/" + section)
        else:
            # over the DevTools protocol, which the page's policy does not govern (it forbids inline script)
            self.page.evaluate("path => { history.pushState({}, '', path); dispatchEvent(new PopStateEvent('popstate')); }",
                               "/portal/" + section)
        self.settle()
        return self

    def settle(self):
        """Wait until the page has drawn everything it was loading. (Only waits that run in the browser:
        Playwright's Python-side waits, e.g. wait_for_load_state, never time out under eventlet, and
        wait_for_function evaluates strings, which the portal's policy rightly forbids.)"""
        self.page.locator("#main h1").first.wait_for()
        self.page.locator("#main .loading").first.wait_for(state="detached")

    def overflow(self):
        """How many CSS pixels the page is wider than the screen (0 when nothing scrolls sideways)."""
        return self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")

    def nav(self):
        return [a.inner_text().strip() for a in self.page.locator("nav#nav a").all()]

    def check_clean(self):
        problems, self.problems = self.problems, []
        assert not problems, "the page reported problems:\n" + "\n".join(problems)

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def open_portal(browser, stack):
    opened = []

    def make(role, viewport=None, on=None):
        portal_ = Portal(on or browser, stack["base"], stack["password"], role, viewport)
        opened.append(portal_)
        return portal_.sign_in()
    yield make
    for each in opened:
        each.close()


@pytest.fixture(scope="session")
def axe_source():
    path = cfg.REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
    return path.read_text()


def axe_violations(page, axe_source):
    """Serious and critical accessibility violations axe-core finds on the page (injected over the
    DevTools protocol: the page's own policy allows no inline script, rightly)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source + "\n;0")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return result


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / (re.sub(r"[^a-z0-9_-]+", "-", name.lower()) + ".png")), full_page=True)


def record(artifacts, key, value):
    path = artifacts / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=1))


def pytest_terminal_summary(terminalreporter):
    """The portal's figures, printed (not asserted: timings on a shared machine are for reading)."""
    path = ARTIFACTS / "timings.json"
    report = portal.build_report()
    if not path.exists() and report is None:
        return
    lines = []
    if report:
        lines.append("portal bundle: first load %.1f KB (%.1f KB gzip), all %d files %.1f KB (%.1f KB gzip)" % (
            report["first_load"]["bytes"] / 1024, report["first_load"]["gzip"] / 1024, report["total"]["files"],
            report["total"]["bytes"] / 1024, report["total"]["gzip"] / 1024))
    if path.exists():
        for key, value in sorted(json.loads(path.read_text()).items()):
            lines.append("%s: %s" % (key, "%.0f ms" % value if isinstance(value, (int, float)) else value))
    terminalreporter.write_sep("-", "portal figures")
    for line in lines:
        terminalreporter.write_line(line)
