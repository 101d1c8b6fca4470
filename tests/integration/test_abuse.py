"""What an abusive client tries, through the gateway (issue 6, items 5, 6, 7, 11, 13, 17):
sign-in guessing and lockouts, slow and idle connections, guesses smuggled in as 'texts
from a photo', photos sent by roles that cannot redeem, conflicts under an
Idempotency-Key, and the headers every answer carries."""
import io
import random
import select
import socket
import uuid
from urllib.parse import urlsplit

import pytest
from nameko.runners import ServiceRunner
from PIL import Image

import gateway.auth
from gateway import images
from gateway.http import ApiServer
from gateway.routes.vouchers import PhotoDecoder
from gateway.service import GatewayService
from gateway.throttle import scopes_for
from tests.integration.conftest import PASSWORD, Api, create_platform_user, ok


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.fixture(scope="module")
def start_gateway(system, make_config, jwt_keys):
    """``start_gateway(**config)``: another gateway in front of the running services."""
    runners = []

    def start(**overrides):
        config = make_config("gateway", WEB_SERVER_ADDRESS="127.0.0.1:0", JWT_PRIVATE_KEY=jwt_keys[0],
                             ACCESS_TOKEN_SECONDS=3600, **overrides)
        runner = ServiceRunner(config)
        runner.add_service(GatewayService)
        runner.start()
        runners.append(runner)
        container = next(iter(runner.containers))
        api = Api("http://127.0.0.1:%d" % container.shared_extensions[ApiServer]._sock.getsockname()[1])
        api.container = container
        return api
    yield start
    for runner in runners:
        runner.stop()


@pytest.fixture(scope="module")
def edge(start_gateway):
    """A gateway behind a proxy on 127.0.0.1, so tests can sign in 'from' any address."""
    return start_gateway(GATEWAY_TRUSTED_PROXIES="127.0.0.1", GATEWAY_PHOTO_WAIT=0.05)


@pytest.fixture(scope="module")
def strict(start_gateway):
    """A gateway with one-second read and idle timeouts and room for two connections."""
    return start_gateway(GATEWAY_READ_TIMEOUT=1, GATEWAY_IDLE_TIMEOUT=1, GATEWAY_MAX_CONNECTIONS=2)


def an_address():
    return "198.51.100.%d" % random.randint(1, 254) if random.random() < 0.5 else \
        "2001:db8:%x:%x::7" % (random.randint(0, 0xffff), random.randint(0, 0xffff))


def sign_in(api, username, password, address):
    return api.post("/api/v1/auth/token", json={"username": username, "password": password},
                    headers={"X-Forwarded-For": "203.0.113.9, " + address})  # the left hop is the client's word


def as_if_they_kept_failing(db_query, scope, failures, address, username=None):
    """Fast-forward one counter of this address (and username) to ``failures``: a test cannot
    wait out real back-off."""
    key = dict(scopes_for(address, username))[scope]
    assert db_query("UPDATE gateway.sign_in_failures SET failures = %s, last_failure_at = now() "
                    "WHERE scope = %s AND key = %s RETURNING 1", (failures, scope, key)) == [(1,)]


class CountingHasher:
    def __init__(self, real):
        self.real, self.verified = real, 0

    def matches(self, *args):
        self.verified += 1
        return self.real.matches(*args)


# -- sign-in (item 7) --------------------------------------------------------------------
def test_a_throttled_sign_in_answers_alike_for_any_username_and_costs_no_hash(edge, onboard, db_query,
                                                                              monkeypatch):
    known = ok(edge.get("/api/v1/me", onboard()["tokens"]["finance"]))["username"]
    answers, addresses = [], []
    for username in (known, "nobody-" + uuid.uuid4().hex[:8]):
        address = an_address()
        refusals = [sign_in(edge, username, "wrong-%d" % n, address) for n in range(5)]  # five are free
        assert [r.status_code for r in refusals] == [401] * 5
        as_if_they_kept_failing(db_query, "pair", 12, address, username)
        answers.append(sign_in(edge, username, "wrong", address))
        addresses.append(address)
    hasher = CountingHasher(gateway.auth.PASSWORDS)
    monkeypatch.setattr(gateway.auth, "PASSWORDS", hasher)
    known_answer, unknown_answer = answers
    known_error, unknown_error = error_of(known_answer, 429), error_of(unknown_answer, 429)
    assert (known_error["code"], known_error["message"], set(known_error["fields"])) == \
        (unknown_error["code"], unknown_error["message"], set(unknown_error["fields"]))
    assert known_error["code"] == "sign_in_throttled" and "Retry-After" in unknown_answer.headers
    assert 60 < int(known_answer.headers["Retry-After"]) <= 128
    assert known_answer.headers["Cache-Control"] == "no-store"
    # the right password from that client is not even checked while it must wait
    assert sign_in(edge, known, PASSWORD, addresses[0]).status_code == 429
    assert hasher.verified == 0


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_an_outsider_cannot_lock_the_real_user_out(edge, onboard, database_url, db_query, role):
    if role == "admin":
        username = create_platform_user(database_url, "admin")
    else:
        username = ok(edge.get("/api/v1/me", onboard()["tokens"]["owner"]))["username"]
    attacker, user = an_address(), an_address()
    statuses = [sign_in(edge, username, "guess-%d" % n, attacker).status_code for n in range(12)]
    assert set(statuses) <= {401, 429} and statuses[:5] == [401] * 5 and 423 not in statuses
    session = ok(sign_in(edge, username, PASSWORD, user))  # the real user, elsewhere, is not locked out
    assert session["user"]["username"] == username
    # a guess spread over many addresses slows the account down, for at most a minute
    as_if_they_kept_failing(db_query, "account", 80, attacker, username)
    slowed = sign_in(edge, username, PASSWORD, an_address())
    assert error_of(slowed, 429)["code"] == "sign_in_throttled" and int(slowed.headers["Retry-After"]) <= 60


def test_failed_refreshes_slow_that_address_down(edge, db_query):
    address = an_address()
    refresh = lambda: edge.post("/api/v1/auth/refresh", json={"refresh_token": "stolen-" + uuid.uuid4().hex},
                                headers={"X-Forwarded-For": address})
    assert error_of(refresh(), 401)["code"] == "refresh_token_invalid"
    as_if_they_kept_failing(db_query, "address", 40, address)
    throttled = refresh()
    assert error_of(throttled, 429)["code"] == "sign_in_throttled" and int(throttled.headers["Retry-After"]) >= 1


# -- slow and idle clients (item 6) -------------------------------------------------------------
def connect(api):
    parts = urlsplit(api.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def read_to_end(sock):
    received = b""
    while True:
        chunk = sock.recv(65536)  # a server that never hangs up makes this time out: the test fails
        if not chunk:
            return received
        received += chunk


def test_a_half_sent_request_is_cut_off(strict):
    for half in (b"POST /api/v1/auth/token HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n",
                 b"POST /api/v1/auth/token HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"username\": "):
        with connect(strict) as sock:
            sock.sendall(half)
            answer = read_to_end(sock)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_request_trickled_a_byte_at_a_time_is_cut_off(strict):
    request = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: gateway\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n"
    with connect(strict) as sock:
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # the server hung up
            readable, _, _ = select.select([sock], [], [], 0.2)  # always busy: no read ever times out
            if readable:
                break
        else:
            pytest.fail("the server read a trickled request for as long as it was sent")
        assert read_to_end(sock) == b""


def test_an_idle_kept_alive_connection_is_closed(strict):
    with connect(strict) as sock:
        sock.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: gateway\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")][0])
        while len(body) < length:
            body += sock.recv(65536)
        assert read_to_end(sock) == b""  # then nothing: the server closes the idle connection


def test_connections_past_the_cap_wait_until_one_is_free(strict):
    slow = [connect(strict) for _ in range(2)]
    for sock in slow:
        sock.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: gateway\r\n")  # and never the blank line
    with connect(strict) as third:
        third.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        assert read_to_end(third).startswith(b"HTTP/1.1 200")
        # the third was served only once one of the two holding the slots was cut off
        readable, _, _ = select.select(slow, [], [], 0)
        assert readable and all(read_to_end(sock) == b"" for sock in readable)
    for sock in slow:
        sock.close()


# -- photos (items 5 and 13) ----------------------------------------------------------------------
def photo_of(*texts):
    """A photo holding one QR code per text, side by side."""
    codes = [Image.open(io.BytesIO(images.qr_png(text))).convert("L") for text in texts]
    canvas = Image.new("L", (sum(code.width + 40 for code in codes) + 40, max(c.height for c in codes) + 80), 255)
    x = 40
    for code in codes:
        canvas.paste(code, (x, 40))
        x += code.width + 40
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def user_failures(db_query, shop, system):
    user_id = ok(system.get("/api/v1/me", shop["tokens"]["store_user"]))["id"]
    rows = db_query("SELECT failures FROM redemption.failed_attempts WHERE scope = 'user' AND scope_id = %s",
                    (user_id,))
    return rows[0][0] if rows else 0


def test_a_json_body_cannot_carry_texts_from_a_photo(system, onboard, db_query):
    shop = onboard()
    guesses = ["PARTNER-%04d" % n for n in range(20)]
    for path in ("/api/v1/redemptions/validation", "/api/v1/redemptions"):
        refused = system.post(path, shop["tokens"]["store_user"], json={"image_texts": guesses, "channel": "pos"})
        assert error_of(refused, 422)["fields"]["image_texts"] == ["Unknown field."]
    assert user_failures(db_query, shop, system) == 0


def test_every_code_in_a_photo_that_names_no_voucher_counts_as_a_failure(system, onboard, db_query):
    shop = onboard()
    guesses = photo_of("PARTNER-GUESS-1", "PARTNER-GUESS-2", "PARTNER-GUESS-3")
    refused = system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                          files={"image": ("photo.png", guesses, "image/png")})
    assert error_of(refused, 404)["code"] == "voucher_not_found"
    assert user_failures(db_query, shop, system) == 3
    # a real voucher beside two guesses: it is found, and the two guesses still count
    other = onboard()
    voucher = ok(system.post("/api/v1/vouchers", other["tokens"]["owner"],
                             json={"kind": "discount_fixed", "currency": "ZAR", "value": 500}), 201)
    mixed = photo_of("PARTNER-GUESS-4", voucher["code"], "PARTNER-GUESS-5")
    found = ok(system.post("/api/v1/redemptions/validation", other["tokens"]["store_user"],
                           files={"image": ("photo.png", mixed, "image/png")}))
    assert found["voucher"]["id"] == voucher["id"] and found["method"] == "image"
    assert user_failures(db_query, other, system) == 2


def test_a_photo_from_a_role_that_cannot_redeem_is_refused_before_it_is_read(system, onboard, monkeypatch):
    shop = onboard()
    decoded = []
    real_decode = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda *args, **kwargs: decoded.append(1) or real_decode(*args, **kwargs))
    photo = photo_of("PARTNER-GUESS-1")
    for role in ("support_agent", "finance"):
        refused = system.post("/api/v1/redemptions/validation", shop["tokens"][role],
                              files={"image": ("photo.png", photo, "image/png")})
        assert error_of(refused, 403)["code"] == "role_not_allowed"
    assert decoded == []
    till = system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                       files={"image": ("photo.png", photo, "image/png")})
    assert error_of(till, 404)["code"] == "voucher_not_found" and decoded == [1]


def test_photos_past_the_decode_bound_wait_then_get_a_503_with_retry_after(edge, onboard):
    shop = onboard()
    decoder = next(dep for dep in edge.container.dependencies if isinstance(dep, PhotoDecoder))
    photo = photo_of("PARTNER-GUESS-1")
    held = 0
    while decoder.slots.acquire(blocking=False):
        held += 1
    try:
        busy = edge.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                         files={"image": ("photo.png", photo, "image/png")})
        assert error_of(busy, 503)["code"] == "photo_decoder_busy" and busy.headers["Retry-After"] == "1"
    finally:
        for _ in range(held):
            decoder.slots.release()
    assert held >= 1
    served = edge.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                       files={"image": ("photo.png", photo, "image/png")})
    assert error_of(served, 404)["code"] == "voucher_not_found"


# -- conflicts under an Idempotency-Key (item 11) -----------------------------------------------------
def test_a_conflict_under_an_idempotency_key_is_answered_and_replayed(system, onboard, db_query):
    shop = onboard()
    merchant = shop["merchant"]["id"]
    owner = shop["tokens"]["owner"]
    username = ok(system.get("/api/v1/me", shop["tokens"]["finance"]))["username"]
    requests = [
        ("/api/v1/merchants/%s/users" % merchant, {"username": username.upper(), "password": PASSWORD,
                                                   "role": "finance"}, "username_taken"),
        ("/api/v1/merchants/%s/stores" % merchant, {"name": "main street store"}, "store_exists"),
    ]
    for path, body, code in requests:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        first = system.post(path, owner, json=body, headers=key)
        assert error_of(first, 409)["code"] == code
        again = system.post(path, owner, json=body, headers=key)
        assert again.status_code == 409 and again.json() == first.json()
    assert db_query("SELECT count(*) FROM gateway.users WHERE merchant_id = %s", (merchant,)) == [(4,)]
    assert db_query("SELECT count(*) FROM gateway.stores WHERE merchant_id = %s", (merchant,)) == [(2,)]


# -- headers (item 17) ------------------------------------------------------------------------------
def test_every_answer_carries_the_security_headers(system, onboard, db_query):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    voucher = ok(system.post("/api/v1/vouchers", owner,
                             json={"kind": "discount_fixed", "currency": "ZAR", "value": 500}), 201)
    answers = {
        "json": system.get("/api/v1/openapi.json"),
        "not found": system.get("/api/v1/nowhere"),
        "sign-in": system.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"}),
        "png": system.get("/api/v1/vouchers/%s/qr.png" % voucher["code"], owner),
        "svg": system.get("/api/v1/vouchers/%s/qr.svg" % voucher["code"], owner),
        "csv": system.get("/api/v1/redemptions/export.csv", owner),
    }
    for name, answer in answers.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert answer.headers["X-Frame-Options"] == "DENY", name
        assert answer.headers["Referrer-Policy"] == "no-referrer", name
    for name in ("json", "not found", "sign-in"):
        assert answers[name].headers["Content-Security-Policy"].startswith("default-src 'none'"), name
    assert "style-src 'unsafe-inline'" in answers["svg"].headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in answers["png"].headers  # it would break the image in a browser
    assert "Content-Security-Policy" not in answers["csv"].headers
    assert answers["sign-in"].headers["Cache-Control"] == "no-store"
    # a till that keeps presenting unknown codes is told how long to wait
    assert error_of(system.post("/api/v1/redemptions", shop["tokens"]["store_user"],
                                json={"code": voucher["code"][:-1] + ("0" if voucher["code"][-1] != "0" else "1"),
                                      "channel": "pos"}), 422)
    unknown = system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                          json={"scanned_text": "PARTNER-NOPE"})
    assert error_of(unknown, 404)["code"] == "voucher_not_found"
    user_id = ok(system.get("/api/v1/me", shop["tokens"]["store_user"]))["id"]
    db_query("UPDATE redemption.failed_attempts SET failures = 9, last_failure_at = now() "
             "WHERE scope = 'user' AND scope_id = %s", (user_id,))
    throttled = system.post("/api/v1/redemptions/validation", shop["tokens"]["store_user"],
                            json={"scanned_text": "PARTNER-NOPE"})
    assert error_of(throttled, 429)["code"] == "too_many_attempts"
    assert int(throttled.headers["Retry-After"]) == int(throttled.json()["error"]["fields"]["retry_after"][0])
