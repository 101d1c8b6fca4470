"""Hostile input through the gateway: each is a 4xx in the error schema, small, and writes nothing.

One table (issue 6, item 10 and the oversized bodies of item 7): every row sends
one hostile request, over a raw socket where ``requests`` would refuse to send it,
and checks the status, the error schema, the size of the answer and that no row
was written anywhere a request could have written one.
"""
import json
import socket
import uuid
from collections import namedtuple
from urllib.parse import urlsplit

import pytest

from gateway import images
from tests.integration.conftest import PASSWORD, ok

Answer = namedtuple("Answer", "status headers body")
MAX_ERROR_BYTES = 8 * 1024
TABLES = ("campaign.customers", "campaign.campaigns", "redemption.vouchers", "redemption.redemptions",
          "gateway.users", "gateway.merchants", "gateway.stores", "gateway.idempotency_keys",
          "support.tickets")


def raw_request(base_url, head, body=b""):
    """Send ``head`` (CRLF-joined lines, without the blank line) and ``body`` as they are."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\nConnection: close\r\n\r\n" + body)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head_bytes, _, payload = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), headers, payload)


def from_requests(response):
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


@pytest.fixture(scope="module")
def shop(onboard):
    return onboard()


def post_json_raw(system, path, token, raw, extra_headers=()):
    lines = ["POST %s HTTP/1.1" % path, "Host: gateway", "Content-Type: application/json",
             "Content-Length: %d" % len(raw)]
    if token:
        lines.append("Authorization: Bearer " + token)
    lines += list(extra_headers)
    return raw_request(system.base_url, "\r\n".join(lines), raw)


def deep(levels):
    return "[" * levels + "]" * levels


def qr_photo(text="hello"):
    return images.qr_png(text)


def unknown_keys(size):
    """A JSON object of about ``size`` bytes, every key unknown to every schema."""
    return json.dumps({"k%07d" % i: 1 for i in range(size // 14)}).encode()


CUSTOMER = "/api/v1/customers"
# (name, request) -> the request gets (system, shop); expected: a 4xx status and its error code
CASES = [
    ("JSON nested 1,000 deep at sign-in", 400, "invalid_json", lambda system, shop: post_json_raw(
        system, "/api/v1/auth/token", None,
        ('{"username": %s, "password": "x"}' % deep(1000)).encode())),
    ("JSON nested 900 deep (it parses) at sign-in", 422, "too_deeply_nested", lambda system, shop: post_json_raw(
        system, "/api/v1/auth/token", None,
        ('{"username": "a", "password": "b", "x": %s}' % deep(900)).encode())),
    ("JSON nested 1,000 deep in a customer", 400, "invalid_json", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], ('{"name": %s}' % deep(1000)).encode())),
    ("JSON nested 40 deep in a customer", 422, "too_deeply_nested", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], ('{"name": "a", "email": %s}' % deep(40)).encode())),
    ("NUL in a body string", 422, "invalid_text", lambda system, shop: from_requests(system.post(
        CUSTOMER, shop["tokens"]["owner"], json={"name": "Ann\u0000Lee"}))),
    ("NUL in a body key", 422, "invalid_text", lambda system, shop: from_requests(system.post(
        CUSTOMER, shop["tokens"]["owner"], json={"name": "Ann", "\u0000": 1}))),
    ("NUL in a voucher's receipt remarks", 422, "invalid_text", lambda system, shop: from_requests(system.post(
        "/api/v1/redemptions", shop["tokens"]["store_user"],
        json={"code": "AAAA", "channel": "pos", "receipt_remarks": "till\u00003"}))),
    ("a lone surrogate in a body string", 422, "invalid_text", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], b'{"name": "Ann \\ud800 Lee"}')),
    ("a lone surrogate in a support ticket", 422, "invalid_text", lambda system, shop: post_json_raw(
        system, "/api/v1/support/tickets", shop["tokens"]["owner"],
        b'{"subject": "Till \\udfff", "description": "x", "category": "training"}')),
    ("NUL in a query parameter", 422, "invalid_text", lambda system, shop: from_requests(system.get(
        "/api/v1/redemptions?user_id=%00", shop["tokens"]["owner"]))),
    ("NUL in a path (voucher code)", 400, "invalid_path", lambda system, shop: from_requests(system.get(
        "/api/v1/vouchers/ABCD%00EFGH", shop["tokens"]["owner"]))),
    ("NUL in a path (ticket reference)", 400, "invalid_path", lambda system, shop: from_requests(system.get(
        "/api/v1/support/tickets/SUP-1%00", shop["tokens"]["owner"]))),
    ("a date-time 16 hours ahead of UTC in a body", 422, "validation_failed", lambda system, shop: from_requests(
        system.post("/api/v1/vouchers", shop["tokens"]["owner"], json={
            "kind": "discount_fixed", "currency": "ZAR", "value": 100,
            "valid_until": "2030-01-01T00:00:00+16:00"}))),
    ("a date-time 23:59 behind UTC in a query", 422, "validation_failed", lambda system, shop: from_requests(
        system.get("/api/v1/redemptions?since=2026-01-01T00:00:00-23:59", shop["tokens"]["owner"]))),
    ("a customer external_ref taken already", 409, "customer_exists", lambda system, shop: from_requests(
        system.post(CUSTOMER, shop["tokens"]["owner"], json={"name": "Copy", "external_ref": shop["taken_ref"]}))),
    ("a Unicode digit as a multipart amount", 422, "validation_failed", lambda system, shop: from_requests(
        system.post("/api/v1/redemptions", shop["tokens"]["store_user"], data={"channel": "pos", "amount": "²"},
                    files={"image": ("photo.png", qr_photo(), "image/png")}))),
    ("an X-Request-ID folded over two lines", 400, "invalid_request_id", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], b'{"name": "Folded"}',
        ["X-Request-ID: abc", " def"])),
    ("an X-Request-ID with a NUL", 400, "invalid_request_id", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], b'{"name": "Nul id"}', ["X-Request-ID: abc\x00def"])),
    ("an X-Request-ID of 300 characters", 400, "invalid_request_id", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], b'{"name": "Long id"}', ["X-Request-ID: " + "a" * 300])),
    ("an Idempotency-Key with a NUL", 400, "invalid_header", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], b'{"name": "Nul key"}', ["Idempotency-Key: k\x00"])),
    ("3.5 MB of unknown keys at sign-in", 413, "payload_too_large", lambda system, shop: post_json_raw(
        system, "/api/v1/auth/token", None, unknown_keys(3_500_000))),
    ("3.5 MB of unknown keys in a customer", 413, "payload_too_large", lambda system, shop: post_json_raw(
        system, CUSTOMER, shop["tokens"]["owner"], unknown_keys(3_500_000))),
    ("3.5 MB of JSON on a route that also takes photos", 413, "payload_too_large", lambda system, shop: post_json_raw(
        system, "/api/v1/redemptions", shop["tokens"]["store_user"], unknown_keys(3_500_000))),
    ("60 KB of unknown keys at sign-in", 422, "validation_failed", lambda system, shop: post_json_raw(
        system, "/api/v1/auth/token", None, unknown_keys(60_000))),
    ("a body of unknown length (chunked)", 411, "length_required", lambda system, shop: raw_request(
        system.base_url, "POST %s HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer %s\r\nTransfer-Encoding: chunked" % (CUSTOMER, shop["tokens"]["owner"]),
        b'10\r\n{"name": "Chunk"\r\n1\r\n}\r\n0\r\n\r\n')),
]


def footprint(db_query):
    return {table: db_query("SELECT count(*) FROM " + table)[0][0] for table in TABLES}


@pytest.mark.parametrize("name, status, code, send", CASES, ids=[case[0] for case in CASES])
def test_hostile_input_is_a_small_4xx_that_writes_nothing(system, shop, db_query, name, status, code, send):
    if "taken_ref" not in shop:
        shop["taken_ref"] = "ref-" + uuid.uuid4().hex[:8]
        ok(system.post(CUSTOMER, shop["tokens"]["owner"], json={"name": "First", "external_ref": shop["taken_ref"]}),
           201)
    before = footprint(db_query)
    answer = send(system, shop)
    assert answer.status == status, (name, answer.status, answer.body[:500])
    assert answer.headers["content-type"] == "application/json"
    assert len(answer.body) <= MAX_ERROR_BYTES, (name, len(answer.body))
    body = json.loads(answer.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code, (name, body)
    assert len(body["error"]["fields"]) <= 21
    assert footprint(db_query) == before, name


def test_a_request_id_that_is_well_formed_is_kept(system, shop):
    sent = "till-3:" + uuid.uuid4().hex
    response = system.get("/api/v1/redemptions", shop["tokens"]["owner"], headers={"X-Request-ID": sent})
    assert response.status_code == 200 and response.headers["X-Request-ID"] == sent


# -- identity fields (item 14) ----------------------------------------------------------------
def test_usernames_and_names_are_visible_text_normalised(system, shop, admin_token, db_query):
    users = "/api/v1/merchants/%s/users" % shop["merchant"]["id"]
    owner = shop["tokens"]["owner"]
    base = {"password": PASSWORD, "role": "finance"}
    trailing_newline = system.post(users, owner, json=dict(base, username="finance-%s\n" % uuid.uuid4().hex[:6]))
    assert trailing_newline.status_code == 422 and "username" in trailing_newline.json()["error"]["fields"]
    for hidden in ("Ann\u202eeeL", "Ann\u200bLee", "Ann\u2066Lee", "\u3164"):
        response = system.post(users, owner, json=dict(base, username="fin-" + uuid.uuid4().hex[:8],
                                                       display_name=hidden))
        assert response.status_code == 422 and "display_name" in response.json()["error"]["fields"], hidden
        customer = system.post(CUSTOMER, owner, json={"name": hidden})
        assert customer.status_code == 422 and "name" in customer.json()["error"]["fields"], hidden
        store = system.post("/api/v1/merchants/%s/stores" % shop["merchant"]["id"], owner, json={"name": hidden})
        assert store.status_code == 422, hidden
        campaign = system.post("/api/v1/campaigns", owner, json={"name": hidden + "xx", "currency": "ZAR"})
        assert campaign.status_code == 422, hidden
    # full-width letters are the plain ones: a look-alike of a taken name is taken
    suffix = uuid.uuid4().hex[:6]
    plain = ok(system.post(users, owner, json=dict(base, username="pay-" + suffix,
                                                   display_name="  Ｐａｙ   Desk ")), 201)
    assert plain["display_name"] == "Pay Desk"
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in "pay-" + suffix)
    taken = system.post(users, owner, json=dict(base, username=wide))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "username_taken"
    merchant_name = "Ｍｅｒｃｈａｎｔ " + suffix
    created = ok(system.post("/api/v1/merchants", admin_token, json={"name": merchant_name, "currency": "ZAR"}), 201)
    assert created["name"] == "Merchant " + suffix


# -- duplicate customers (item 10) ----------------------------------------------------------------
def test_a_taken_external_ref_is_a_conflict_and_a_retry_the_same(system, shop, db_query):
    ref = "ext-" + uuid.uuid4().hex[:8]
    owner = shop["tokens"]["owner"]
    ok(system.post(CUSTOMER, owner, json={"name": "Ann", "external_ref": ref}), 201)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = system.post(CUSTOMER, owner, json={"name": "Ann again", "external_ref": ref}, headers=key)
    again = system.post(CUSTOMER, owner, json={"name": "Ann again", "external_ref": ref}, headers=key)
    assert first.status_code == again.status_code == 409 and first.json() == again.json()
    assert db_query("SELECT count(*) FROM campaign.customers WHERE external_ref = %s", (ref,)) == [(1,)]
