"""Settings an owner runs the merchant's machines and messages from, and the live inbox: an API
client registered, its secret shown once and working, rotated and revoked; a webhook registered,
delivered to a real local receiver with a signature that verifies, and removed; a notification
switched off and on; a new ticket lighting the owner's unread badge over
the server-sent-events stream, with no reload. Each is skipped, naming the routes, where the
server does not have them."""
import hashlib
import hmac
import http.server
import re
import threading
import uuid

import requests

from tests.browser.conftest import axe_violations, shot


def client_token(api, client_id, secret):
    return requests.post(api.base + "/auth/token", timeout=10,
                         json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})


def test_an_owner_registers_a_till_client_sees_its_secret_once_rotates_and_revokes_it(open_portal, api, artifacts,
                                                                                        axe_source):
    api.needs("POST /api/v1/api-clients", "GET /api/v1/api-clients", "POST /api/v1/api-clients/{client_id}/secret",
              "DELETE /api/v1/api-clients/{client_id}")
    name = "Till " + uuid.uuid4().hex[:6]
    owner = open_portal("owner")
    page = owner.go("settings/api-clients").page
    register = page.get_by_role("region", name="Register an API client")
    register.get_by_label("Name").fill(name)
    register.get_by_label("Kind").select_option("pos")
    register.get_by_label("Store (POS terminals)").select_option(label="Main Street Store")
    register.get_by_role("button", name="Register client").click()
    shown = page.locator(".secret-once")
    shown.wait_for()
    codes = shown.locator("code").all_inner_texts()
    client_id, secret = codes[0], codes[1]
    assert client_token(api, client_id, secret).status_code == 200  # the secret works as shown
    row = page.locator("tr", has_text=name)
    row.wait_for()
    assert client_id in row.inner_text() and secret not in page.locator("table").inner_text()
    assert axe_violations(page, axe_source) == []
    shot(page, artifacts, "settings-api-client-secret")

    page.get_by_role("button", name="Rotate secret of " + name).click()
    page.locator(".secret-once", has_text="New secret").wait_for()
    rotated = page.locator(".secret-once code").all_inner_texts()[1]
    assert rotated != secret and client_token(api, client_id, rotated).status_code == 200

    page.get_by_role("button", name="Revoke " + name).click()
    page.get_by_role("button", name="Yes, revoke").click()
    page.locator("tr", has_text=name).locator(".badge-revoked").wait_for()
    assert client_token(api, client_id, rotated).status_code in (400, 401)
    owner.check_clean()


class Receiver:
    """A webhook endpoint on 127.0.0.1 that keeps what it is sent (headers and body)."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.headers, body))  # an email.message.Message: names any case
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/%s" % (self.server.server_address[1], uuid.uuid4().hex[:8])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_owner_registers_a_webhook_sees_it_delivered_signed_and_removes_it(open_portal, api, artifacts,
                                                                              axe_source):
    api.needs("POST /api/v1/webhooks", "GET /api/v1/webhooks", "GET /api/v1/webhooks/deliveries",
              "DELETE /api/v1/webhooks/{endpoint_id}")
    receiver = Receiver()
    try:
        owner = open_portal("owner")
        page = owner.go("settings/webhooks").page
        register = page.get_by_role("region", name="Register a webhook")
        register.get_by_label("HTTPS URL").fill(receiver.url)
        register.get_by_label("support.ticket_created").check()
        register.get_by_role("button", name="Register webhook").click()
        shown = page.locator(".secret-once")
        shown.wait_for()
        secret = shown.locator("code").first.inner_text()
        row = page.locator("tr", has_text=receiver.url)
        row.wait_for()
        assert "support.ticket_created" in row.inner_text()
        assert axe_violations(page, axe_source) == []
        shot(page, artifacts, "settings-webhooks")

        # a new ticket is delivered, signed with the secret the page showed once
        subject = "Webhook check " + uuid.uuid4().hex[:6]
        api.call("POST", "/support/tickets", "store_user", 201,
                 json={"subject": subject, "description": "Delivered to the merchant's endpoint?", "category": "technical"})
        assert api.eventually(lambda: [r for r in receiver.received if subject.encode() in r[1]], timeout=30)
        headers, body = [r for r in receiver.received if subject.encode() in r[1]][0]
        parts = [part.split("=", 1) for part in headers.get("VowRewards-Signature").split(",")]
        stamp = [value for key, value in parts if key == "t"][0]
        expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert expected in [value for key, value in parts if key == "v1"]

        page.get_by_role("link", name="Deliveries").first.click()
        owner.settle()
        page.locator("tr", has_text="support.ticket_created").first.wait_for()
        shot(page, artifacts, "settings-webhook-deliveries")
        owner.go("settings/webhooks")
        page.get_by_role("button", name="Delete webhook to " + receiver.url).click()
        page.get_by_role("button", name="Yes, delete").click()
        page.locator("tr", has_text=receiver.url).wait_for(state="detached")
        owner.check_clean()
    finally:
        receiver.close()


def test_an_owner_switches_a_notification_off_and_on_again(open_portal, api, artifacts, axe_source):
    api.needs("GET /api/v1/notifications/preferences", "PUT /api/v1/notifications/preferences")
    owner = open_portal("owner")
    page = owner.go("settings/notifications").page
    box = page.locator("#main table input[type=checkbox]").first
    name = box.get_attribute("aria-label")
    was = box.is_checked()
    box.set_checked(not was)
    page.get_by_role("button", name="Save preferences").click()
    page.locator("#status", has_text="Preferences saved").wait_for(state="attached")
    assert [p for p in api.call("GET", "/notifications/preferences", "owner").json()["items"]
            if p["enabled"] == (not was)], "the switch was not stored"
    owner.go("settings/notifications")
    assert page.get_by_label(name).is_checked() == (not was)
    assert axe_violations(page, axe_source) == []
    shot(page, artifacts, "settings-notifications")
    page.get_by_label(name).set_checked(was)  # as it was, for the other tests
    page.get_by_role("button", name="Save preferences").click()
    page.locator("#status", has_text="Preferences saved").wait_for(state="attached")
    owner.check_clean()


def test_a_new_ticket_lights_the_owners_unread_badge_live_without_a_reload(open_portal, api, artifacts):
    api.needs("GET /api/v1/notifications/stream")
    owner = open_portal("owner")
    page = owner.go("dashboard").page
    link = page.locator(".inbox-link[data-live=stream]")
    link.wait_for()  # the stream is connected
    before = api.call("GET", "/notifications", "owner").json()["unread_count"]
    subject = "Scanner offline " + uuid.uuid4().hex[:6]
    api.call("POST", "/support/tickets", "store_user", 201,
             json={"subject": subject, "description": "The till scanner does not answer.", "category": "technical"})
    badge = page.locator(".inbox-link .count")
    badge.filter(has_text=re.compile(r"^(%d|99\+)$" % (before + 1))).wait_for()  # no reload: the stream told it
    page.get_by_role("link", name="Inbox").click()
    owner.settle()
    page.locator(".inbox li.unread", has_text=subject).first.wait_for()
    shot(page, artifacts, "owner-inbox-live")
    owner.check_clean()
