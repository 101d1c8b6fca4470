"""The support desk through the gateway, with every service running: each action with the roles that
may and may not do it, references of another merchant refused, attachments checked by content and
served only to those who may see the ticket, and bad input answered with a clear 4xx.

Attachments go to S3 here (moto's S3 server, a real HTTP endpoint on 127.0.0.1); the filesystem
backend is the one the service tests (tests/service/test_support_desk.py) and the browser tests use."""
import io
import ssl

import boto3
import botocore.httpsession
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from tests.integration.conftest import ok
from tests.mailbox import free_port

B = "/api/v1/support"
BUCKET = "support-attachments"
PREFIX = "attachments/"


@pytest.fixture(scope="module")
def s3():
    """An S3 endpoint with the bucket made (as an operator would, before the service starts)."""
    with pytest.MonkeyPatch.context() as patch:
        # pytest's plugins import urllib3 before tests/conftest.py patches ssl for eventlet, so botocore
        # holds the unpatched SSLContext, which recurses under eventlet; `python -m services.support`
        # patches first (plumbing/runner.py) and never meets this
        patch.setattr(botocore.httpsession, "SSLContext", ssl.SSLContext)
        yield from _s3_server()


def _s3_server():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    keys = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=BUCKET)
    yield {"endpoint": endpoint, "client": client, "keys": keys}
    server.stop()


@pytest.fixture(scope="module")
def system_config(s3):
    return {"support": {"SUPPORT_ATTACHMENTS_BACKEND": "s3", "SUPPORT_ATTACHMENTS_S3_BUCKET": BUCKET,
                        "SUPPORT_ATTACHMENTS_S3_ENDPOINT": s3["endpoint"], "SUPPORT_ATTACHMENTS_S3_REGION": "us-east-1",
                        "SUPPORT_ATTACHMENTS_S3_PREFIX": PREFIX,
                        "SUPPORT_ATTACHMENTS_S3_ACCESS_KEY_ID": s3["keys"]["aws_access_key_id"],
                        "SUPPORT_ATTACHMENTS_S3_SECRET_ACCESS_KEY": s3["keys"]["aws_secret_access_key"]}}


@pytest.fixture(scope="module")
def two(onboard):
    return onboard(), onboard()


def ticket(**more):
    return dict({"subject": "Scanner will not read QR codes", "description": "Since this morning",
                 "category": "technical"}, **more)


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


def png_bytes():
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 120, 0)).save(out, "PNG")
    return out.getvalue()


def test_intake_at_both_addresses_and_references_of_another_merchant_are_422(system, two):
    a, b = two
    owner = a["tokens"]["owner"]
    made = ok(system.post("/api/support", owner, json=ticket(store_id=a["store_id"])), 201)
    assert made["reference"].startswith("SUP-") and made["store_id"] == a["store_id"]
    ok(system.post(B + "/tickets", owner, json=ticket()), 201)
    before = len(ok(system.get(B + "/tickets", owner))["items"])
    for body in (ticket(store_id=b["store_id"]), ticket(refs={"store_id": b["store_id"]})):
        error = error_of(system.post(B + "/tickets", owner, json=body), 422)
        assert error["code"] == "store_not_found"
    theirs = ok(system.post("/api/v1/campaigns", b["tokens"]["owner"], json={"name": "Spring", "currency": "ZAR"}),
                201)
    error = error_of(system.post(B + "/tickets", owner, json=ticket(refs={"campaign_id": theirs["id"]})), 422)
    assert error["code"] == "campaign_not_found" and "refs.campaign_id" in error["fields"]
    voucher = ok(system.post("/api/v1/vouchers", b["tokens"]["owner"],
                             json={"kind": "discount_fixed", "currency": "ZAR", "value": 500}), 201)
    error = error_of(system.post(B + "/tickets", owner, json=ticket(refs={"voucher_code": voucher["display_code"]})),
                     422)
    assert error["code"] == "voucher_not_found"
    own = ok(system.post("/api/v1/vouchers", owner, json={"kind": "discount_fixed", "currency": "ZAR", "value": 500}),
             201)
    ok(system.post(B + "/tickets", owner, json=ticket(refs={"voucher_code": own["display_code"]})), 201)
    mine = ok(system.post("/api/v1/campaigns", owner, json={"name": "Autumn", "currency": "ZAR"}), 201)
    ok(system.post(B + "/tickets", owner, json=ticket(refs={"campaign_id": mine["id"]})), 201)
    error = error_of(system.post(B + "/tickets", owner, json=ticket(category="item", sub_category="FLM02")), 422)
    assert "sub_category" in error["fields"]
    assert len(ok(system.get(B + "/tickets", owner))["items"]) == before + 2  # nothing else was stored


def test_a_day_on_the_desk_with_the_roles_that_may_and_may_not(system, two, platform_login):
    a, b = two
    t = a["tokens"]
    ref = ok(system.post(B + "/tickets", t["store_user"], json=ticket()), 201)["reference"]
    path = B + "/tickets/" + ref

    agents = ok(system.get(B + "/agents", t["owner"]))["items"]
    by_role = {agent["role"]: agent for agent in agents}
    assert set(by_role) == {"owner", "support_agent"} and all(x["open_tickets"] == 0 for x in agents)
    agent_id = by_role["support_agent"]["user_id"]
    assert error_of(system.put(path + "/assignment", t["store_user"], json={"assignee_id": agent_id}), 403)
    assert error_of(system.put(path + "/assignment", t["finance"], json={"assignee_id": agent_id}), 403)
    someone_else = ok(system.get(B + "/agents", b["tokens"]["owner"]))["items"][0]["user_id"]
    assert error_of(system.put(path + "/assignment", t["owner"], json={"assignee_id": someone_else}),
                    422)["code"] == "not_an_agent"
    shown = ok(system.put(path + "/assignment", t["owner"], json={"assignee_id": agent_id}))
    assert shown["assignee_id"] == agent_id
    agents = {x["user_id"]: x for x in ok(system.get(B + "/agents", t["owner"]))["items"]}
    assert agents[agent_id]["open_tickets"] == 1
    mine = ok(system.get(B + "/tickets?mine=true", t["support_agent"]))["items"]
    assert [x["reference"] for x in mine] == [ref]
    assert [x["reference"] for x in ok(system.get(B + "/tickets?submitted_by_me=true", t["store_user"]))["items"]] \
        == [ref]

    ok(system.post(path + "/messages", t["support_agent"], json={"thread": "internal", "body": "Firmware?"}))
    assert error_of(system.post(path + "/messages", t["store_user"], json={"thread": "internal", "body": "hi"}),
                    403)["code"] == "role_not_allowed"
    as_store = ok(system.get(path, t["store_user"]))
    assert "Firmware?" not in [m["body"] for m in as_store["messages"]]
    ok(system.post(path + "/acknowledgement", t["support_agent"], json={"remarks": "Looking"}))
    error = error_of(system.post(path + "/acknowledgement", t["owner"], json={"remarks": "Again"}), 409)
    assert error["code"] == "illegal_transition" and "processing" in error["message"]

    ok(system.post(path + "/escalation", t["store_user"], json={"reason": "Owner please"}))
    ok(system.post(path + "/escalation", t["owner"], json={"reason": "Needs the platform"}))
    platform = platform_login("platform_support")
    queue = ok(system.get(B + "/tickets", platform))["items"]
    assert ref in [x["reference"] for x in queue if x["merchant_id"] == a["merchant"]["id"]]
    it = platform_login("it_support")
    assert ref not in [x["reference"] for x in ok(system.get(B + "/tickets", it))["items"]]
    shown = ok(system.post(path + "/resolution?merchant_id=" + a["merchant"]["id"], platform,
                           json={"action": "no_action", "resolution": "Firmware updated"}))
    assert shown["status"] == "resolved"

    history = ok(system.get(path + "/history", t["owner"]))["items"]
    assert [h["action"] for h in history] == ["created", "assigned", "message_posted", "acknowledged", "escalated",
                                              "escalated", "resolved"]
    assert history[-1]["actor"]["role"] == "platform_support"
    assert error_of(system.get(path + "/history", t["support_agent"]), 403)
    assert error_of(system.get(path, b["tokens"]["owner"]), 404)["code"] == "ticket_not_found"

    counts = ok(system.get(B + "/tickets/counts", t["owner"]))
    assert counts["resolved"] >= 1
    board = ok(system.get(B + "/dashboard", t["owner"]))
    assert {"open", "critical", "sla_attainment_percent", "avg_first_response_seconds",
            "avg_resolution_seconds"} <= set(board["overall"])


def test_attachments_are_checked_by_content_and_shown_only_to_who_may_see(system, two, s3):
    a, b = two
    owner = a["tokens"]["owner"]
    ref = ok(system.post(B + "/tickets", owner, json=ticket()), 201)["reference"]
    path = B + "/tickets/" + ref + "/attachments"
    fake = error_of(system.post(path, owner, files={"file": ("receipt.png", b"#!/bin/sh\nrm -rf /\n", "image/png")}),
                    415)
    assert fake["code"] == "attachment_type_refused"
    added = ok(system.post(path, owner, files={"file": ("../../etc/receipt.png", png_bytes(), "text/plain")}), 201)
    assert added["content_type"] == "image/png" and "/" not in added["filename"]
    got = system.get(path + "/" + added["id"], a["tokens"]["support_agent"])
    assert got.status_code == 200 and got.content == png_bytes()
    assert got.headers["Content-Type"] == "image/png" and got.headers["Content-Disposition"].startswith("attachment")
    stored = s3["client"].get_object(Bucket=BUCKET, Key=PREFIX + added["id"])["Body"].read()
    assert stored == png_bytes()  # in the bucket, under the configured prefix
    assert error_of(system.get(path + "/" + added["id"], b["tokens"]["owner"]), 404)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert ok(system.post(path, owner, files={"file": ("statement.pdf", pdf)}), 201)["content_type"] == \
        "application/pdf"
    big = b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024) + b"\n%%EOF\n"
    assert error_of(system.post(path, owner, files={"file": ("big.pdf", big)}), 413)
    # what was refused never reached the bucket
    assert s3["client"].list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["KeyCount"] == 2
    shown = ok(system.get(B + "/tickets/" + ref, owner))
    assert len(shown["attachments"]) == 2


def test_canned_responses_sla_policies_and_bad_input(system, two):
    a, _ = two
    t = a["tokens"]
    made = ok(system.post(B + "/canned-responses", t["support_agent"],
                          json={"title": "Thanks", "body": "Thanks for your patience."}), 201)
    assert error_of(system.post(B + "/canned-responses", t["support_agent"],
                                json={"title": "Thanks", "body": "Again"}), 409)["code"] == "title_taken"
    assert error_of(system.post(B + "/canned-responses", t["finance"], json={"title": "x", "body": "y"}), 403)
    assert [r["title"] for r in ok(system.get(B + "/canned-responses", t["store_user"]))["items"]] == ["Thanks"]
    # edited in place; a title another response has is refused; another merchant's is not found
    other = ok(system.post(B + "/canned-responses", t["owner"], json={"title": "Delay", "body": "Running late."}), 201)
    edited = ok(system.put(B + "/canned-responses/" + made["id"], t["support_agent"],
                           json={"title": "Thank you", "body": "Thank you for waiting."}))
    assert (edited["id"], edited["title"]) == (made["id"], "Thank you")
    assert error_of(system.put(B + "/canned-responses/" + made["id"], t["owner"],
                               json={"title": "Delay", "body": "x"}), 409)["code"] == "title_taken"
    assert error_of(system.put(B + "/canned-responses/" + made["id"], two[1]["tokens"]["owner"],
                               json={"title": "Mine now", "body": "x"}), 404)
    assert [(r["title"], r["body"]) for r in ok(system.get(B + "/canned-responses", t["owner"]))["items"]] == [
        ("Delay", "Running late."), ("Thank you", "Thank you for waiting.")]
    assert system.request("DELETE", B + "/canned-responses/" + other["id"], t["owner"]).status_code == 204
    assert system.request("DELETE", B + "/canned-responses/" + made["id"], t["owner"]).status_code == 204
    assert ok(system.get(B + "/canned-responses", t["owner"]))["items"] == []

    policy = {"timezone": "Africa/Johannesburg", "hours": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]},
              "holidays": ["2026-12-25"], "policies": [{"priority": "critical", "first_response_minutes": 30}],
              "assignment_mode": "least_loaded"}
    assert error_of(system.put(B + "/sla-policies", t["support_agent"], json=policy), 403)
    saved = ok(system.put(B + "/sla-policies", t["owner"], json=policy))
    assert saved["hours"]["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    bad = dict(policy, timezone="Nowhere/Else", assignment_mode="whoever")
    error = error_of(system.put(B + "/sla-policies", t["owner"], json=bad), 422)
    assert "assignment_mode" in error["fields"]
    assert ok(system.get(B + "/sla-policies", t["owner"]))["timezone"] == "Africa/Johannesburg"

    ref = ok(system.post(B + "/tickets", t["owner"], json=ticket()), 201)["reference"]
    for path, body in (("/resolution", {"action": "refund", "resolution": "x"}), ("/messages", {"thread": "side"}),
                       ("/escalation", {}), ("/merge", {"into": "nope"}), ("/closure", {"rating": 9})):
        error = error_of(system.post(B + "/tickets/" + ref + path, t["owner"], json=body), 422)
        assert error["fields"], path
    assert error_of(system.get(B + "/tickets?view_by=sideways", t["owner"]), 422)
    assert ok(system.get(B + "/tickets/" + ref, t["owner"]))["status"] == "open"


def test_every_support_route_is_in_the_openapi_document(system):
    paths = ok(system.get("/api/v1/openapi.json"))["paths"]
    for action in ("assignment", "acknowledgement", "messages", "attachments", "escalation", "cascade",
                   "resolution", "closure", "reopening", "merge", "rating", "history"):
        assert "/api/v1/support/tickets/{reference}/" + action in paths, action
    for path in ("agents", "dashboard", "conversations", "canned-responses", "sla-policies"):
        assert "/api/v1/support/" + path in paths
    assert "/api/support" in paths
    for path in ("/api/v1/support/conversations/{conversation_id}/attachments",
                 "/api/v1/support/conversations/{conversation_id}/attachments/{attachment_id}"):
        assert path in paths, path


def buyer_app_token(system, owner):
    client = ok(system.post("/api/v1/api-clients", owner, json={"kind": "buyer_app", "name": "Shop app"}), 201)
    return ok(system.post("/api/v1/auth/token", json={"grant_type": "client_credentials", "client_id":
                                                      client["client_id"], "client_secret": client["client_secret"]}))[
        "access_token"]


def test_one_customers_tickets_in_the_queue_and_on_their_page(system, two):
    a, b = two
    owner = a["tokens"]["owner"]
    thandi = ok(system.post("/api/v1/customers", owner, json={"name": "Thandi"}), 201)["id"]
    sipho = ok(system.post("/api/v1/customers", owner, json={"name": "Sipho"}), 201)["id"]
    app = buyer_app_token(system, owner)
    as_thandi, as_sipho = {"X-Customer-Id": thandi}, {"X-Customer-Id": sipho}
    hers = ok(system.post(B + "/tickets", app, headers=as_thandi, json=ticket(
        category="fulfilment", sub_category="FLM02", order_id="ORD-7")), 201)["reference"]
    his = ok(system.post(B + "/tickets", app, headers=as_sipho, json=ticket(category="agent")), 201)["reference"]
    ok(system.post(B + "/tickets", owner, json=ticket()), 201)  # nobody's: the merchant's own

    assert [x["reference"] for x in ok(system.get(B + "/tickets?customer_id=" + thandi, owner))["items"]] == [hers]
    assert [x["reference"] for x in ok(system.get(B + "/tickets?customer_id=" + sipho, owner))["items"]] == [his]
    # a buyer app naming another customer in the filter still sees only its own customer's
    assert ok(system.get(B + "/tickets?customer_id=" + sipho, app, headers=as_thandi))["items"] == []
    assert ok(system.get(B + "/tickets?customer_id=" + thandi, b["tokens"]["owner"]))["items"] == []
    assert "customer_id" in error_of(system.get(B + "/tickets?customer_id=nope", owner), 422)["fields"]

    page = ok(system.get("/api/v1/customers/" + thandi, owner))
    assert [x["reference"] for x in page["tickets"]] == [hers]
    assert page["tickets"][0]["sub_category"] == "FLM02"


def test_files_in_chat_are_checked_by_content_and_reach_only_the_conversations_participants(system, two, s3):
    a, b = two
    owner, agent = a["tokens"]["owner"], a["tokens"]["support_agent"]
    thandi = ok(system.post("/api/v1/customers", owner, json={"name": "Thandi"}), 201)["id"]
    sipho = ok(system.post("/api/v1/customers", owner, json={"name": "Sipho"}), 201)["id"]
    app = buyer_app_token(system, owner)
    as_thandi, as_sipho = {"X-Customer-Id": thandi}, {"X-Customer-Id": sipho}
    chat = ok(system.post(B + "/conversations", app, headers=as_thandi, json={"body": "My parcel came broken"}), 201)
    path = B + "/conversations/" + chat["id"]

    refused = system.post(path + "/attachments", app, headers=as_thandi,
                          files={"file": ("photo.png", b"<script>alert(1)</script>", "image/png")})
    assert error_of(refused, 415)["code"] == "attachment_type_refused"
    photo = ok(system.post(path + "/attachments", app, headers=as_thandi,
                           files={"file": ("photo.png", png_bytes(), "text/plain")}), 201)
    assert photo["content_type"] == "image/png"
    sent = ok(system.post(path + "/messages", app, headers=as_thandi, json={"attachment_ids": [photo["id"]]}))
    assert [f["id"] for f in sent["messages"][-1]["attachments"]] == [photo["id"]]
    # staff send their own files only, and a message says something or carries a file
    assert error_of(system.post(path + "/messages", agent, json={"body": "Yours?", "attachment_ids": [photo["id"]]}),
                    422)["code"] == "attachment_not_found"
    assert "body" in error_of(system.post(path + "/messages", agent, json={"body": " "}), 422)["fields"]
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    label = ok(system.post(path + "/attachments", agent, files={"file": ("label.pdf", pdf)}), 201)
    ok(system.post(path + "/messages", agent, json={"body": "A return label", "attachment_ids": [label["id"]]}))

    seen = ok(system.get(path, app, headers=as_thandi))
    assert [[f["filename"] for f in m["attachments"]] for m in seen["messages"]] == [[], ["photo.png"], ["label.pdf"]]
    for token, headers in ((owner, None), (agent, None), (app, as_thandi)):
        got = system.get(path + "/attachments/" + photo["id"], token, headers=headers)
        assert got.status_code == 200 and got.content == png_bytes(), got.text
        assert got.headers["Content-Disposition"].startswith("attachment")
    assert system.get(path + "/attachments/" + label["id"], app, headers=as_thandi).content == pdf
    assert s3["client"].get_object(Bucket=BUCKET, Key=PREFIX + photo["id"])["Body"].read() == png_bytes()

    # not a participant: the same app for another customer, another merchant; nor through a ticket's path
    assert error_of(system.get(path + "/attachments/" + photo["id"], app, headers=as_sipho), 404)
    assert error_of(system.get(path + "/attachments/" + photo["id"], b["tokens"]["owner"]), 404)
    assert error_of(system.post(path + "/attachments", b["tokens"]["owner"],
                                files={"file": ("x.png", png_bytes())}), 404)
    ref = ok(system.post(B + "/tickets", owner, json=ticket()), 201)["reference"]
    assert error_of(system.get(B + "/tickets/%s/attachments/%s" % (ref, photo["id"]), owner), 404)

    # the chat made a ticket: the files sent in it go with it, to the desk and to the customer
    made = ok(system.post(path + "/ticket", agent, json={"subject": "Broken parcel", "category": "item"}), 201)
    for token, headers in ((agent, None), (app, as_thandi)):
        shown = ok(system.get(B + "/tickets/" + made["reference"], token, headers=headers))
        assert sorted(f["filename"] for f in shown["attachments"]) == ["label.pdf", "photo.png"]
        got = system.get(B + "/tickets/%s/attachments/%s" % (made["reference"], photo["id"]), token, headers=headers)
        assert got.status_code == 200 and got.content == png_bytes(), got.text

