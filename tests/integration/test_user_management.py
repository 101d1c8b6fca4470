"""Managing users: owners manage their own merchant's users and never leave it without an
active owner; only platform admins create and manage platform users; every change is audited
(who, as what role, when, what changed) and readable by the merchant's owners and by admins."""
import uuid

from tests.integration.conftest import PASSWORD, ok


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def patch(system, token, user_id, **body):
    return system.request("PATCH", "/api/v1/users/" + user_id, token, json=body)


def me(system, token):
    return ok(system.get("/api/v1/me", token))


def add_user(system, shop, role, token=None, **extra):
    body = dict({"username": "%s-%s" % (role.replace("_", "-"), uuid.uuid4().hex[:8]), "password": PASSWORD,
                 "role": role}, **extra)
    return ok(system.post("/api/v1/merchants/%s/users" % shop["merchant"]["id"], token or shop["tokens"]["owner"],
                          json=body), 201)


def test_owners_manage_only_their_own_merchants_users(system, onboard):
    ours, theirs = onboard(), onboard()
    their_till = me(system, theirs["tokens"]["store_user"])
    owner = ours["tokens"]["owner"]
    assert error_of(patch(system, owner, their_till["id"], active=False), 404)["code"] == "user_not_found"
    assert error_of(system.get("/api/v1/users/" + their_till["id"], owner), 404)["code"] == "user_not_found"
    assert error_of(system.put("/api/v1/users/%s/password" % their_till["id"], owner,
                               json={"new_password": "x" * 12}), 404)["code"] == "user_not_found"
    assert error_of(system.get("/api/v1/merchants/%s/user-audit" % theirs["merchant"]["id"], owner), 404)
    assert me(system, theirs["tokens"]["store_user"])["active"] is True  # nothing changed over there
    # only owners (and admins) manage users at all
    our_till = me(system, ours["tokens"]["store_user"])
    for role in ("finance", "support_agent", "store_user"):
        refused = patch(system, ours["tokens"][role], our_till["id"], active=False)
        assert error_of(refused, 403)["code"] == "role_not_allowed"
    assert ok(system.get("/api/v1/users/" + our_till["id"], owner))["username"] == our_till["username"]
    # and a platform user is no owner's to see
    platform_user = ok(system.post("/api/v1/platform/users", ours["admin"], json={
        "username": "support-" + uuid.uuid4().hex[:8], "password": PASSWORD, "role": "platform_support"}), 201)
    assert error_of(patch(system, owner, platform_user["id"], active=False), 404)["code"] == "user_not_found"


def test_roles_and_stores_must_fit_the_user(system, onboard):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    agent = me(system, shop["tokens"]["support_agent"])
    # merchant users have merchant roles: nobody turns one into a platform user
    for token in (owner, shop["admin"]):
        refused = patch(system, token, agent["id"], role="admin")
        assert error_of(refused, 422)["fields"].keys() == {"role"}
    # a store user is bound to a store of this merchant
    assert "store_id" in error_of(patch(system, owner, agent["id"], role="store_user"), 422)["fields"]
    elsewhere = patch(system, owner, agent["id"], role="store_user", store_id=onboard()["store_id"])
    assert error_of(elsewhere, 404)["code"] == "store_not_found"
    till = ok(patch(system, owner, agent["id"], role="store_user", store_id=shop["store_id"]))
    assert (till["role"], till["store_id"]) == ("store_user", shop["store_id"])
    assert "store_id" in error_of(patch(system, owner, agent["id"], role="finance",
                                        store_id=shop["store_id"]), 422)["fields"]
    back = ok(patch(system, owner, agent["id"], role="support_agent"))
    assert (back["role"], back["store_id"]) == ("support_agent", None)
    assert "_schema" in error_of(patch(system, owner, agent["id"]), 422)["fields"]  # nothing to change
    assert me(system, system.login(agent["username"]))["role"] == "support_agent"


def test_an_owner_cannot_remove_the_last_active_owner(system, onboard):
    shop = onboard()
    owner = shop["tokens"]["owner"]
    mine = me(system, owner)
    assert error_of(patch(system, owner, mine["id"], role="finance"), 409)["code"] == "last_owner"
    assert error_of(patch(system, owner, mine["id"], active=False), 409)["code"] == "last_owner"
    assert me(system, owner)["role"] == "owner"  # refused, and nothing ended
    # a disabled owner does not count either
    second = add_user(system, shop, "owner")
    ok(patch(system, owner, second["id"], active=False))
    assert error_of(patch(system, owner, mine["id"], role="finance"), 409)["code"] == "last_owner"
    ok(patch(system, owner, second["id"], active=True))
    second_token = system.login(second["username"])
    # with another active owner, stepping down is fine; then that owner is the last one
    assert ok(patch(system, owner, mine["id"], role="finance"))["role"] == "finance"
    assert error_of(patch(system, second_token, second["id"], active=False), 409)["code"] == "last_owner"


def test_admins_create_and_manage_platform_users(system, onboard, platform_login):
    shop = onboard()
    admin = shop["admin"]
    body = {"username": "pfin-" + uuid.uuid4().hex[:8], "password": PASSWORD, "role": "platform_finance",
            "display_name": "Platform Finance"}
    for token in (shop["tokens"]["owner"], platform_login("platform_finance"), platform_login("it_support")):
        assert error_of(system.post("/api/v1/platform/users", token, json=body), 403)["code"] == "role_not_allowed"
    assert "role" in error_of(system.post("/api/v1/platform/users", admin, json=dict(body, role="owner")),
                              422)["fields"]
    created = ok(system.post("/api/v1/platform/users", admin, json=body), 201)
    assert (created["role"], created["merchant_id"], created["active"]) == ("platform_finance", None, True)
    taken = system.post("/api/v1/platform/users", admin, json=body)
    assert error_of(taken, 409)["code"] == "username_taken"
    listed = ok(system.get("/api/v1/platform/users?limit=200", admin))["items"]
    assert created["id"] in [user["id"] for user in listed]
    assert all(user["merchant_id"] is None for user in listed)
    assert error_of(system.get("/api/v1/platform/users", shop["tokens"]["owner"]), 403)
    token = system.login(body["username"])
    # platform users keep platform roles
    assert "role" in error_of(patch(system, admin, created["id"], role="finance"), 422)["fields"]
    moved = ok(patch(system, admin, created["id"], role="platform_support"))
    assert moved["role"] == "platform_support"
    assert error_of(system.get("/api/v1/me", token), 401)["code"] == "token_revoked"
    ok(patch(system, admin, created["id"], active=False))
    assert error_of(system.post("/api/v1/auth/token", json={"username": body["username"], "password": PASSWORD}),
                    401)["code"] == "invalid_credentials"
    audit = ok(system.get("/api/v1/platform/user-audit?user_id=" + created["id"], admin))["items"]
    assert [entry["action"] for entry in audit] == ["updated", "updated", "created"]
    assert audit[0]["changes"] == {"active": [True, False]}
    assert audit[1]["changes"] == {"role": ["platform_finance", "platform_support"]}
    assert audit[0]["actor"]["role"] == "admin"
    assert error_of(system.get("/api/v1/platform/user-audit", shop["tokens"]["owner"]), 403)


def test_every_change_to_a_user_is_audited(system, onboard):
    shop = onboard()
    owner, admin = shop["tokens"]["owner"], shop["admin"]
    owner_me = me(system, owner)
    till = add_user(system, shop, "store_user", store_id=shop["store_id"])
    ok(patch(system, owner, till["id"], store_id=shop["stores"]["Canal Walk Kiosk"], display_name="Kiosk till"))
    ok(patch(system, admin, till["id"], active=False))
    assert system.put("/api/v1/users/%s/password" % till["id"], owner,
                      json={"new_password": "another secret phrase"}).status_code == 204
    audit = ok(system.get("/api/v1/merchants/%s/user-audit?user_id=%s" % (shop["merchant"]["id"], till["id"]),
                          owner))["items"]
    assert [entry["action"] for entry in audit] == ["password_set", "updated", "updated", "created"]
    password, disabled, moved, created = audit
    assert password["changes"] == {} and "another" not in str(password)  # never the password itself
    assert (password["actor"]["username"], password["actor"]["role"]) == (owner_me["username"], "owner")
    assert disabled["changes"] == {"active": [True, False]} and disabled["actor"]["role"] == "admin"
    assert moved["changes"] == {"store_id": [shop["store_id"], shop["stores"]["Canal Walk Kiosk"]],
                                "display_name": [None, "Kiosk till"]}
    assert created["changes"]["role"] == [None, "store_user"] and created["username"] == till["username"]
    assert all(entry["at"] and entry["merchant_id"] == shop["merchant"]["id"] for entry in audit)
    # admins read it too; a page at a time
    page = ok(system.get("/api/v1/merchants/%s/user-audit?limit=2" % shop["merchant"]["id"], admin))
    assert len(page["items"]) == 2 and page["next"]
    assert error_of(system.get("/api/v1/merchants/%s/user-audit" % shop["merchant"]["id"],
                               shop["tokens"]["finance"]), 403)


def test_user_management_routes_are_in_the_openapi_document(system):
    paths = ok(system.get("/api/v1/openapi.json"))["paths"]
    for path, method in [("/api/v1/users/{user_id}", "patch"), ("/api/v1/users/{user_id}", "get"),
                         ("/api/v1/users/{user_id}/password", "put"), ("/api/v1/me/password", "post"),
                         ("/api/v1/platform/users", "post"), ("/api/v1/platform/users", "get"),
                         ("/api/v1/platform/user-audit", "get"),
                         ("/api/v1/merchants/{merchant_id}/user-audit", "get"),
                         ("/api/v1/merchants/{merchant_id}/users", "post"),
                         ("/api/v1/merchants/{merchant_id}/users", "get")]:
        assert method in paths[path], (path, method)
    assert "requestBody" in paths["/api/v1/users/{user_id}"]["patch"]
