"""The gateway's side of the portal: its files at /portal/ with the right types, caching and a strict
Content-Security-Policy, the app's paths answered with its page; and the refresh-token cookie that
lets a signed-in portal survive a reload without any token readable by a script.

A gateway of its own (the portal needs no service), serving a portal folder this module writes."""
import pytest
import requests
from nameko.runners import ServiceRunner

from gateway.http import ApiServer
from gateway.service import GatewayService
from tests.integration.conftest import PASSWORD, create_platform_user

INDEX = b"<!doctype html><title>portal</title><script type=module src=/portal/assets/main-ABCDEFGH.js></script>"
SCRIPT = b"console.log('portal');" * 100


@pytest.fixture(scope="module")
def portal_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("portal")
    (root / "assets").mkdir()
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "main-ABCDEFGH.js").write_bytes(SCRIPT)
    (root / "assets" / "portal-ABCDEFGH.css").write_bytes(b"body{color:#000}")
    return root


@pytest.fixture(scope="module")
def gateway(make_config, jwt_keys, portal_dir):
    config = make_config("gateway", WEB_SERVER_ADDRESS="127.0.0.1:0", JWT_PRIVATE_KEY=jwt_keys[0],
                         PORTAL_DIR=str(portal_dir), GATEWAY_TRUSTED_PROXIES="127.0.0.1/32")
    runner = ServiceRunner(config)
    runner.add_service(GatewayService)
    runner.start()
    container = next(iter(runner.containers))
    port = container.shared_extensions[ApiServer]._sock.getsockname()[1]
    yield "http://127.0.0.1:%d" % port
    runner.stop()


def test_the_portal_page_its_paths_and_its_assets(gateway):
    redirect = requests.get(gateway + "/portal", allow_redirects=False, timeout=10)
    assert redirect.status_code == 308 and redirect.headers["Location"] == "/portal/"

    page = requests.get(gateway + "/portal/", timeout=10)
    assert page.status_code == 200 and page.content == INDEX
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["img-src"] == "'self' blob: data:"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Permissions-Policy"].startswith("camera=(self)")

    # a path of the app (a reload on /portal/support/SUP-104) is the same page
    deep = requests.get(gateway + "/portal/support/SUP-104", timeout=10)
    assert deep.status_code == 200 and deep.content == INDEX and "Content-Security-Policy" in deep.headers
    # and the page is revalidated cheaply
    again = requests.get(gateway + "/portal/", headers={"If-None-Match": page.headers["ETag"]}, timeout=10)
    assert again.status_code == 304 and not again.content

    script = requests.get(gateway + "/portal/assets/main-ABCDEFGH.js", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert script.status_code == 200 and script.content == SCRIPT  # requests unpacks the gzip
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Content-Encoding"] == "gzip"
    assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = requests.get(gateway + "/portal/assets/portal-ABCDEFGH.css", timeout=10)
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"

    missing = requests.get(gateway + "/portal/assets/gone-ZZZZZZZZ.js", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    escape = requests.get(gateway + "/portal/..%2f..%2fservice.py", timeout=10)
    assert escape.status_code == 404


def test_an_unbuilt_portal_says_how_to_build_it(gateway, portal_dir):
    (portal_dir / "index.html").rename(portal_dir / "index.html.away")
    try:
        answer = requests.get(gateway + "/portal/", timeout=10)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "portal_not_built"
    finally:
        (portal_dir / "index.html.away").rename(portal_dir / "index.html")


def refresh_cookie(response):
    return response.cookies.get("vow_portal_refresh"), response.headers.get("Set-Cookie", "")


def test_cookie_mode_keeps_the_refresh_token_out_of_scripts_reach(gateway, database_url):
    username = create_platform_user(database_url, "admin")
    auth = gateway + "/api/v1/auth"
    signed_in = requests.post(auth + "/token", json={"username": username, "password": PASSWORD,
                                                      "session_cookie": True}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    assert body["access_token"] and "refresh_token" not in body  # only in the cookie
    cookie, header = refresh_cookie(signed_in)
    assert cookie and "HttpOnly" in header and "SameSite=Strict" in header and "Path=/api/v1/auth/" in header
    assert "Secure" not in header  # plain HTTP here; see below for HTTPS behind our proxy
    assert requests.get(gateway + "/api/v1/me", headers={"Authorization": "Bearer " + body["access_token"]},
                        timeout=10).json()["username"] == username

    # the cookie alone is not enough: a page of another site cannot add the header
    forged = requests.post(auth + "/refresh", cookies={"vow_portal_refresh": cookie}, timeout=10)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_header_missing"
    portal = {"X-VowRewards-Portal": "1"}
    renewed = requests.post(auth + "/refresh", cookies={"vow_portal_refresh": cookie}, headers=portal, timeout=10)
    assert renewed.status_code == 200 and "refresh_token" not in renewed.json()
    new_cookie, _ = refresh_cookie(renewed)
    assert new_cookie and new_cookie != cookie

    # the old cookie again is a leaked token: refused, and the answer drops the cookie
    reused = requests.post(auth + "/refresh", cookies={"vow_portal_refresh": cookie}, headers=portal, timeout=10)
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "refresh_token_reused"
    assert 'vow_portal_refresh=""' in reused.headers["Set-Cookie"] or "Max-Age=0" in reused.headers["Set-Cookie"]

    # behind our own TLS proxy the cookie is Secure
    again = requests.post(auth + "/token", json={"username": username, "password": PASSWORD, "session_cookie": True},
                          headers={"X-Forwarded-Proto": "https"}, timeout=10)
    cookie, header = refresh_cookie(again)
    assert "Secure" in header
    # signing out with the cookie ends the session and drops the cookie
    out = requests.post(auth + "/logout", cookies={"vow_portal_refresh": cookie}, headers=portal, timeout=10)
    assert out.status_code == 204 and "Max-Age=0" in out.headers["Set-Cookie"]
    after = requests.post(auth + "/refresh", cookies={"vow_portal_refresh": cookie}, headers=portal, timeout=10)
    assert after.status_code == 401
    # no cookie and no token: the same 422 as before
    bare = requests.post(auth + "/refresh", json={}, timeout=10)
    assert bare.status_code == 422 and bare.json()["error"]["fields"] == {"refresh_token": ["Missing data for required field."]}
