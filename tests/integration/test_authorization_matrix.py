"""The authorization matrix, generated from the route table (a new route is in it the day it is
declared): every route x anonymous, and x every role of another merchant aimed at this merchant's
own things (its id, its voucher, its redemption, its ticket, its users and campaign...).

* anonymous: 401 on every route that is not public;
* another merchant's owner, store user, support agent and finance user, naming this merchant's
  things in the path or ``?merchant_id=``: never a 2xx, and never this merchant's data in the
  answer (a 2xx is allowed only where the route answers about the caller's own merchant, and then
  nothing of this merchant's shows in it).
"""
import re
import uuid

import pytest

from gateway.openapi import routes_of
from gateway.service import GatewayService
from tests.integration.conftest import ok

ROUTES = [(name, route) for name, route in routes_of(GatewayService)
          if not route.public and not route.url.startswith("/portal")]
MERCHANT_ROLES = ("owner", "store_user", "support_agent", "finance")
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
    campaign = ok(system.post("/api/v1/campaigns", owner, json={"name": "Matrix week", "currency": "ZAR"}), 201)
    users = ok(system.get("/api/v1/merchants/%s/users" % m["merchant"]["id"], owner))["items"]
    values = {"merchant_id": m["merchant"]["id"], "code": spare["display_code"],
              "redemption_id": redemption["id"], "reference": ticket["reference"],
              "campaign_id": campaign["id"], "user_id": users[0]["id"]}
    secrets = {m["merchant"]["id"], voucher["display_code"], spare["display_code"], redemption["id"],
               ticket["reference"], campaign["id"], m["merchant"]["name"]}
    return {"values": values, "secrets": secrets, "merchant": m}


@pytest.fixture(scope="module")
def intruder(onboard):
    return onboard()


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


@pytest.mark.parametrize("role", MERCHANT_ROLES)
def test_another_merchant_never_reads_or_changes_this_merchant_s_things(system, victim, intruder, role):
    token = intruder["tokens"][role]
    found = []
    for name, route in ROUTES:
        names = [n for _, n in PARAMETER.findall(route.url)]
        path = path_for(route.url, victim["values"])
        aimed = any(n in victim["values"] for n in names)
        query = "" if "merchant_id" in names else ("?merchant_id=%s" % victim["values"]["merchant_id"])
        body = None
        if route.body is not None:
            body = {"merchant_id": victim["values"]["merchant_id"]}
        if route.url.endswith("/stream"):
            # server-sent events never end: what matters is whom the stream opens for (its own inbox)
            with system.request(route.method, path + query, token, stream=True) as response:
                if response.status_code >= 500:
                    found.append("%s %s -> %d" % (route.method, path + query, response.status_code))
            continue
        response = system.request(route.method, path + query, token, json=body)
        secrets = leaked(response, victim["secrets"], path + query + repr(body))
        if secrets:
            found.append("%s %s -> %d shows %s" % (route.method, path + query, response.status_code, secrets))
        elif aimed and 200 <= response.status_code < 300:
            found.append("%s %s -> %d: reached another merchant's thing" % (
                route.method, path, response.status_code))
        elif response.status_code >= 500:
            found.append("%s %s -> %d %s" % (route.method, path + query, response.status_code, response.text[:200]))
    # the victim's things are as they were
    owner = victim["merchant"]["tokens"]["owner"]
    assert ok(system.get("/api/v1/vouchers/" + victim["values"]["code"], owner))["status"] == "active"
    assert not found, "\n".join(found)
