"""API clients through the gateway with every service running: an owner registers a POS terminal, a
buyer app and a logistics partner; each trades its id and secret for a short-lived token; a POS
redeems at its own store only; a buyer app acts only for its merchant's customers; a rotated secret
keeps working through its grace period; a revoked client is refused at once."""
import pytest

from tests.integration.conftest import ok

CLIENTS = "/api/v1/api-clients"
TOKEN = "/api/v1/auth/token"


@pytest.fixture(scope="module")
def merchant(onboard):
    return onboard()


def register(system, owner, **body):
    return ok(system.post(CLIENTS, owner, json=body), 201)


def client_token(system, client, secret=None, form=False):
    body = {"grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": secret or client["client_secret"]}
    return system.post(TOKEN, data=body) if form else system.post(TOKEN, json=body)


def error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


def test_a_pos_client_redeems_at_its_own_store_only(system, merchant):
    owner = merchant["tokens"]["owner"]
    pos = register(system, owner, kind="pos", name="Till 3", store_id=merchant["store_id"])
    assert pos["client_secret"] and pos["kind"] == "pos" and pos["store_id"] == merchant["store_id"]
    # the secret is shown once: never in a list or a read
    listed = ok(system.get(CLIENTS, owner))["items"]
    assert [c["client_id"] for c in listed] == [pos["client_id"]]
    assert "client_secret" not in listed[0] and "client_secret" not in ok(system.get(
        CLIENTS + "/" + pos["client_id"], owner))
    answer = ok(client_token(system, pos, form=True))
    assert answer["token_type"] == "Bearer" and answer["expires_in"] > 0 and "refresh_token" not in answer
    token = ok(client_token(system, pos))["access_token"]

    voucher = ok(system.post("/api/v1/vouchers", owner, json={"kind": "discount_fixed", "currency": "ZAR",
                                                              "value": 1500}), 201)
    other_store = merchant["stores"]["Canal Walk Kiosk"]
    refused = system.post("/api/v1/redemptions", token, json={"code": voucher["display_code"], "channel": "pos",
                                                              "store_id": other_store})
    assert error(refused, 403) == "store_forbidden"
    redemption = ok(system.post("/api/v1/redemptions", token, json={"code": voucher["display_code"],
                                                                    "channel": "pos"}), 201)
    assert redemption["store_id"] == merchant["store_id"]
    # a POS is a till, not a back office
    assert system.post("/api/v1/vouchers", token, json={"kind": "discount_fixed", "currency": "ZAR",
                                                         "value": 100}).status_code == 403
    assert system.get(CLIENTS, token).status_code == 403


def test_rotation_keeps_the_old_secret_for_the_grace_period_and_revocation_ends_it_all(system, merchant):
    owner = merchant["tokens"]["owner"]
    client = register(system, owner, kind="logistics_partner", name="Courier Co")
    rotated = ok(system.post(CLIENTS + "/%s/secret" % client["client_id"], owner), 201)
    assert rotated["client_secret"] != client["client_secret"] and rotated["previous_secret_valid_until"]
    ok(client_token(system, client))  # the old secret, within its grace
    token = ok(client_token(system, rotated))["access_token"]
    assert system.get("/api/v1/notifications", token).status_code != 401

    assert system.request("DELETE", CLIENTS + "/" + client["client_id"], owner).status_code == 204
    # refused at once, the token it already holds included
    assert error(system.get("/api/v1/notifications", token), 401) == "token_revoked"
    assert error(client_token(system, rotated), 401) == "invalid_client"
    assert error(client_token(system, client), 401) == "invalid_client"
    assert ok(system.get(CLIENTS + "/" + client["client_id"], owner))["revoked_at"]
    assert error(system.post(CLIENTS + "/%s/secret" % client["client_id"], owner), 404) == "api_client_revoked"


def test_a_buyer_app_acts_only_for_its_merchants_customers(system, merchant, onboard):
    owner = merchant["tokens"]["owner"]
    app = register(system, owner, kind="buyer_app", name="Shop app")
    token = ok(client_token(system, app))["access_token"]
    mine = ok(system.post("/api/v1/customers", owner, json={"name": "Thandi", "email": "t@example.com"}), 201)
    elsewhere = onboard()
    theirs = ok(system.post("/api/v1/customers", elsewhere["tokens"]["owner"], json={"name": "Other"}), 201)

    assert system.get("/api/v1/notifications", token, headers={"X-Customer-Id": mine["id"]}).status_code == 200
    refused = system.get("/api/v1/notifications", token, headers={"X-Customer-Id": theirs["id"]})
    assert error(refused, 403) == "customer_forbidden"
    # only a buyer app names a customer
    staff = system.get("/api/v1/notifications", owner, headers={"X-Customer-Id": mine["id"]})
    assert error(staff, 403) == "customer_not_allowed"
    assert error(system.get("/api/v1/notifications", token, headers={"X-Customer-Id": "1 OR 1=1"}), 422)


def test_bad_registrations_and_token_requests_get_a_clear_4xx(system, merchant, onboard):
    owner = merchant["tokens"]["owner"]
    assert "kind" in system.post(CLIENTS, owner, json={"kind": "robot", "name": "x"}).json()["error"]["fields"]
    assert "store_id" in system.post(CLIENTS, owner, json={"kind": "pos", "name": "Till"}).json()["error"]["fields"]
    assert "store_id" in system.post(CLIENTS, owner, json={"kind": "buyer_app", "name": "App",
                                                           "store_id": merchant["store_id"]}).json()["error"]["fields"]
    other_store = onboard()["store_id"]
    assert error(system.post(CLIENTS, owner, json={"kind": "pos", "name": "Till", "store_id": other_store}),
                 404) == "store_not_found"
    assert system.post(CLIENTS, merchant["tokens"]["store_user"], json={"kind": "buyer_app",
                                                                          "name": "App"}).status_code == 403
    client = register(system, owner, kind="buyer_app", name="App")
    assert error(client_token(system, client, secret="vrs_wrong"), 401) == "invalid_client"
    bad = system.post(TOKEN, json={"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"})
    assert "client_id" in bad.json()["error"]["fields"]
    # another merchant's owner cannot see or revoke it
    stranger = onboard()["tokens"]["owner"]
    assert error(system.request("DELETE", CLIENTS + "/" + client["client_id"], stranger), 404) == "api_client_not_found"
