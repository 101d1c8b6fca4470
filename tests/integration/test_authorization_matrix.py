"""The authorization matrix, generated from the route table (a new route is in it the day it is
declared): every route x anonymous, x every caller of another merchant aimed at this merchant's
own things (its id, its voucher, its redemption, its ticket, its users and campaign...), x a store
user of this merchant's other store, x every platform role.

* anonymous: 401 on every route that is not public;
* another merchant's owner, store user, support agent and finance user, and its API clients (a POS
  bound to its store, a buyer app acting for one of its customers, a logistics partner), naming
  this merchant's things in the path or ``?merchant_id=``: never a 2xx, and never this merchant's
  data in the answer (a 2xx is allowed only where the route answers about the caller's own
  merchant, and then nothing of this merchant's shows in it);
* a store user of this merchant's other store, naming the first store's redemption and ticket in
  the path and its ``store_id`` in the query and body: never a 2xx on them, never them in an
  answer, and a redemption or purchase for the first store is refused (``store_forbidden``);
* every platform role (admin, platform_finance, platform_support, it_support) on every route
  naming this merchant: signed in (never 401) and never a 5xx;
* every caller of every kind on the routes that declare their roles (``forward(roles=...)``: payout
  confirmation, webhooks...): 403 unless its role is declared, and past the role check if it is.

The first rows (anonymous, another merchant's four users) run in full in ``make test``. The rows
added for API clients, the other store and the platform cost about 5 s each in full, so ``make
test`` runs a deterministic quarter of the routes for each (a different quarter per caller, the
same every run); ``AUTHZ_MATRIX=full`` (``make faults`` sets it) runs them all.
"""
import os
import re
import uuid
import zlib

import pytest

from gateway.openapi import routes_of
from gateway.service import GatewayService
from tests.integration.conftest import PASSWORD, ok

ROUTES = [(name, route) for name, route in routes_of(GatewayService)
          if not route.public and not route.url.startswith("/portal")]
MERCHANT_ROLES = ("owner", "store_user", "support_agent", "finance")
CLIENT_KINDS = ("pos", "buyer_app", "logistics_partner")
PLATFORM_ROLES = ("admin", "platform_finance", "platform_support", "it_support")
FULL = os.environ.get("AUTHZ_MATRIX") == "full"
SAMPLE_ONE_IN = 4


def sampled(caller, routes=None):
    """``routes`` (all by default) for ``caller``: all of them under ``AUTHZ_MATRIX=full``, else a
    fixed quarter chosen by a hash of the caller and the route's name (the same every run)."""
    routes = ROUTES if routes is None else routes
    if FULL:
        return routes
    return [(name, route) for name, route in routes
            if zlib.crc32(("%s %s" % (caller, name)).encode()) % SAMPLE_ONE_IN == 0]
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


@pytest.fixture(scope="module")
def victim(system, onboard):
    """A merchant with one of most things, whose ids the other merchant aims at."""
    m = onboard()
    owner, till = m["tokens"]["owner"], m["tokens"]["store_user"]
    voucher = ok(system.post("/api/v1/vouchers", owner, json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 1500}), 201)
    spare = ok(system.post("/api/v1/vouchers", owner, json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 1600}), 201)
    redemption = ok(system.post("/api/v1/redemptions", till, json={
        "code": voucher["display_code"], "channel": "pos"}), 201)
    ticket = ok(system.post("/api/v1/support/tickets", owner, json={
        "subject": "Till 3 prints twice", "description": "Since this morning", "category": "technical"}), 201)
    at_store = ok(system.post("/api/v1/support/tickets", till, json={
        "subject": "Scanner at till 1", "description": "It beeps", "category": "technical"}), 201)
    campaign = ok(system.post("/api/v1/campaigns", owner, json={"name": "Matrix week", "currency": "ZAR"}), 201)
    users = ok(system.get("/api/v1/merchants/%s/users" % m["merchant"]["id"], owner))["items"]
    values = {"merchant_id": m["merchant"]["id"], "code": spare["display_code"],
              "redemption_id": redemption["id"], "reference": ticket["reference"],
              "campaign_id": campaign["id"], "user_id": users[0]["id"]}
    secrets = {m["merchant"]["id"], voucher["display_code"], spare["display_code"], redemption["id"],
               ticket["reference"], campaign["id"], m["merchant"]["name"]}
    # what only the first store's people may see: its redemption and its ticket
    store_values = dict(values, redemption_id=redemption["id"], reference=at_store["reference"])
    store_secrets = {redemption["id"], at_store["reference"]}
    return {"values": values, "secrets": secrets, "merchant": m, "store_values": store_values,
            "store_secrets": store_secrets}


def client_token(system, owner, **body):
    client = ok(system.post("/api/v1/api-clients", owner, json=body), 201)
    return ok(system.post("/api/v1/auth/token", json={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"]}))["access_token"]


@pytest.fixture(scope="module")
def intruder(system, onboard):
    """Another merchant: its users, and its API clients (with the headers each sends)."""
    m = onboard()
    owner = m["tokens"]["owner"]
    callers = {role: (token, {}) for role, token in m["tokens"].items()}
    callers["pos"] = (client_token(system, owner, kind="pos", name="Till 9", store_id=m["store_id"]), {})
    customer = ok(system.post("/api/v1/customers", owner, json={"name": "Their member"}), 201)
    callers["buyer_app"] = (client_token(system, owner, kind="buyer_app", name="Their app"),
                            {"X-Customer-Id": customer["id"]})
    callers["logistics_partner"] = (client_token(system, owner, kind="logistics_partner", name="Courier"), {})
    return dict(m, callers=callers)


@pytest.fixture(scope="module")
def other_store_user(system, victim):
    """A store user of the victim merchant, bound to its second store."""
    m = victim["merchant"]
    second = next(store for name, store in m["stores"].items() if store != m["store_id"])
    username = "kiosk-" + uuid.uuid4().hex[:8]
    ok(system.post("/api/v1/merchants/%s/users" % m["merchant"]["id"], m["admin"], json={
        "username": username, "password": PASSWORD, "role": "store_user", "store_id": second}), 201)
    return system.login(username)


@pytest.fixture(scope="module")
def platform(platform_login):
    return {role: platform_login(role) for role in PLATFORM_ROLES}


def path_for(url, values):
    def value(match):
        converter, name = match.groups()
        if name in values:
            return str(values[name])
        return "0" if converter == "int" else str(uuid.uuid4())
    return PARAMETER.sub(value, url)


@pytest.mark.parametrize("name,route", ROUTES, ids=[name for name, _ in ROUTES])
def test_anonymous_is_refused_everywhere_but_public_routes(system, name, route):
    response = system.request(route.method, path_for(route.url, {}), json={} if route.body else None)
    assert response.status_code == 401, (name, response.status_code, response.text[:200])
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def leaked(response, secrets, sent):
    """This merchant's things in the answer, beyond what the caller itself sent (a 404 may name
    the id it could not find)."""
    text = response.text
    return sorted(secret for secret in secrets if secret and secret in text and secret not in sent)


def stream_or_request(system, method, path, token, headers, body):
    if path.split("?")[0].endswith("/stream"):
        # server-sent events never end: what matters is whom the stream opens for (its own inbox)
        with system.request(method, path, token, stream=True, headers=headers) as response:
            response.close()
            return response, False
    return system.request(method, path, token, json=body, headers=headers), True


def aimed_at(system, token, headers, routes, values, secrets, query_values, body, aimed_names):
    """What went wrong when ``token`` calls ``routes`` with ``values`` in the path, ``query_values``
    in the query (unless the path names them) and ``body``: a secret shown, an aimed route
    answered 2xx, a 5xx."""
    found = []
    for name, route in routes:
        names = [n for _, n in PARAMETER.findall(route.url)]
        path = path_for(route.url, values)
        aimed = any(n in aimed_names for n in names)
        query = "&".join("%s=%s" % (key, value) for key, value in query_values.items() if key not in names)
        target = path + ("?" + query if query else "")
        response, read = stream_or_request(system, route.method, target, token, headers,
                                           body if route.body is not None else None)
        shown = leaked(response, secrets, target + repr(body)) if read else []
        if shown:
            found.append("%s %s -> %d shows %s" % (route.method, target, response.status_code, shown))
        elif aimed and 200 <= response.status_code < 300:
            found.append("%s %s -> %d: reached a thing that is not the caller's" % (
                route.method, path, response.status_code))
        elif response.status_code >= 500:
            found.append("%s %s -> %d %s" % (route.method, target, response.status_code,
                                             response.text[:200] if read else ""))
    return found


@pytest.mark.parametrize("role", MERCHANT_ROLES + CLIENT_KINDS)
def test_another_merchant_never_reads_or_changes_this_merchant_s_things(system, victim, intruder, role):
    token, headers = intruder["callers"][role]
    merchant_id = victim["values"]["merchant_id"]
    routes = ROUTES if role in MERCHANT_ROLES else sampled(role)
    found = aimed_at(system, token, headers, routes, victim["values"], victim["secrets"],
                     {"merchant_id": merchant_id}, {"merchant_id": merchant_id}, set(victim["values"]))
    # the victim's things are as they were
    owner = victim["merchant"]["tokens"]["owner"]
    assert ok(system.get("/api/v1/vouchers/" + victim["values"]["code"], owner))["status"] == "active"
    assert not found, "\n".join(found)


def test_a_store_user_never_acts_for_another_store_of_its_merchant(system, victim, other_store_user):
    m = victim["merchant"]
    first_store = m["store_id"]
    values = victim["store_values"]
    found = aimed_at(system, other_store_user, {}, sampled("other_store"), values, victim["store_secrets"],
                     {"store_id": first_store}, {"store_id": first_store}, {"redemption_id", "reference"})
    assert not found, "\n".join(found)
    # the writes a store user does make, aimed at the first store: refused, not done there
    voucher = ok(system.post("/api/v1/vouchers", m["tokens"]["owner"], json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 800}), 201)
    redeemed = system.post("/api/v1/redemptions", other_store_user, json={
        "code": voucher["display_code"], "channel": "pos", "store_id": first_store})
    assert (redeemed.status_code, redeemed.json()["error"]["code"]) == (403, "store_forbidden")
    bought = system.post("/api/v1/purchases", other_store_user, json={
        "amount": 5000, "currency": "ZAR", "receipt_id": "R-" + uuid.uuid4().hex[:8], "store_id": first_store})
    assert (bought.status_code, bought.json()["error"]["code"]) == (403, "store_forbidden")
    assert ok(system.get("/api/v1/vouchers/" + voucher["display_code"], m["tokens"]["owner"]))["status"] == "active"


@pytest.mark.parametrize("role", PLATFORM_ROLES)
def test_platform_roles_are_signed_in_everywhere_and_never_break_a_route(system, victim, platform, role):
    """The platform acts across merchants by design: what it may do is the services' role rules
    (the declared ones are checked below); here every route naming this merchant answers it as a
    signed-in caller, without a 5xx."""
    merchant_id = victim["values"]["merchant_id"]
    found = []
    for name, route in sampled(role):
        path = path_for(route.url, victim["values"])
        named = [n for _, n in PARAMETER.findall(route.url)]
        target = path + ("" if "merchant_id" in named else "?merchant_id=" + merchant_id)
        response, read = stream_or_request(system, route.method, target, platform[role], {},
                                           {"merchant_id": merchant_id} if route.body is not None else None)
        if response.status_code == 401 or response.status_code >= 500:
            found.append("%s %s -> %d %s" % (route.method, target, response.status_code,
                                             response.text[:200] if read else ""))
    assert not found, "\n".join(found)


DECLARED = [(name, route, getattr(GatewayService, name).forwarded.roles) for name, route in ROUTES
            if getattr(getattr(GatewayService, name), "forwarded", None) is not None
            and getattr(GatewayService, name).forwarded.roles]


def test_routes_that_declare_their_roles_refuse_every_other_caller(system, victim, intruder, platform):
    """Payout confirmation, webhooks, points grants...: 403 for every role not declared (the
    victim merchant's own users and another merchant's clients included), past the role check
    (anything but 401/403) for a declared one."""
    assert DECLARED  # the route table declares some
    merchant_id = victim["values"]["merchant_id"]
    callers = {role: (token, {}) for role, token in victim["merchant"]["tokens"].items()}
    callers.update({kind: intruder["callers"][kind] for kind in CLIENT_KINDS})
    callers.update({role: (token, {}) for role, token in platform.items()})
    assert set(callers) == set(MERCHANT_ROLES + CLIENT_KINDS + PLATFORM_ROLES)
    found = []
    for role, (token, headers) in sorted(callers.items()):
        for name, route, roles in DECLARED:
            if not FULL and role not in roles and role not in sampled_roles(name):
                continue
            target = path_for(route.url, victim["values"]) + "?merchant_id=" + merchant_id
            response = system.request(route.method, target, token, headers=headers,
                                      json={"merchant_id": merchant_id} if route.body is not None else None)
            refused = response.status_code in (401, 403)
            if (role in roles) == refused or response.status_code >= 500:
                found.append("%s as %s %s -> %d %s" % (role, route.method, target, response.status_code,
                                                      response.text[:160]))
    assert not found, "\n".join(found)


def sampled_roles(route_name):
    """The undeclared callers ``make test`` tries on a declared route: a fixed three of them."""
    everyone = sorted(MERCHANT_ROLES + CLIENT_KINDS + PLATFORM_ROLES)
    start = zlib.crc32(route_name.encode()) % len(everyone)
    return (everyone + everyone)[start:start + 3]
