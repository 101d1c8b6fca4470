"""The support desk in a real container: buyer apps and logistics partners, the lifecycle, automatic
assignment under a burst, the SLA clock's timer, chat, email intake."""
import base64
import io
from datetime import datetime, timedelta, timezone

import eventlet
import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from PIL import Image

from plumbing.errors import Conflict, Forbidden, NotFound, UnsupportedMediaType, ValidationFailed
from services.notification.contract.events import EmailReceived
from services.support import sla
from services.support.service import SupportService
from tests.events import example
from tests.service.conftest import call, handling, new_id, started, wait_until


@pytest.fixture(scope="module")
def support(make_config, tmp_path_factory):
    config = make_config("support", SUPPORT_ATTACHMENTS_DIR=str(tmp_path_factory.mktemp("attachments")))
    with started(SupportService, config) as container:
        yield container


@pytest.fixture
def shop(as_user):
    merchant_id, store = new_id(), new_id()
    customer, other_customer, partner = new_id(), new_id(), new_id()

    def buyer(customer_id, merchant=merchant_id):
        return dict(as_user("buyer_app", merchant_id=merchant), acting_customer_id=customer_id)

    return {"id": merchant_id, "store": store, "customer": customer,
            "owner": as_user("owner", merchant_id=merchant_id),
            "agent": as_user("support_agent", merchant_id=merchant_id),
            "finance": as_user("finance", merchant_id=merchant_id),
            "store_user": as_user("store_user", merchant_id=merchant_id, store_id=store),
            "buyer": buyer(customer), "other_buyer": buyer(other_customer),
            "foreign_buyer": buyer(customer, new_id()),
            "partner_id": partner,
            "partner": as_user("logistics_partner", merchant_id=merchant_id, user_id=partner),
            "other_partner": as_user("logistics_partner", merchant_id=merchant_id),
            "platform_support": as_user("platform_support"), "it_support": as_user("it_support")}


def buyer_issue(**overrides):
    data = {"subject": "Two of three items missing", "description": "Only one jar arrived.",
            "category": "item", "sub_category": "ITM01", "order_id": "ORD-7731", "delivery_type": "on_network",
            "issue_items": [{"item": "Honey 500 g", "quantity": 2, "order_value": 15000}], "currency": "ZAR"}
    data.update(overrides)
    return data


def refused(error_type, fn, *args):
    with pytest.raises(error_type) as raised:
        fn(*args)
    return raised.value


def png():
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


# -- buyers ---------------------------------------------------------------------------------------

def test_a_buyer_app_raises_and_follows_its_customers_tickets_only(support, shop):
    mine = call(support, "create_ticket", shop["buyer"], buyer_issue())
    assert (mine["source"], mine["requester"], mine["customer_id"]) == (
        "buyer_app", {"kind": "customer", "id": shop["customer"]}, shop["customer"])
    assert (mine["sub_category"], mine["delivery_type"], mine["order_id"]) == ("ITM01", "on_network", "ORD-7731")
    assert mine["issue_items"] == [{"item": "Honey 500 g", "quantity": 2, "order_value": 15000}]
    assert "assignee" not in mine and "raised_by" not in mine
    call(support, "create_ticket", shop["owner"], {"subject": "Till", "description": "x", "category": "technical"})

    listed = call(support, "list_tickets", shop["buyer"], {})["items"]
    assert [t["reference"] for t in listed] == [mine["reference"]]
    assert call(support, "list_tickets", shop["other_buyer"], {})["items"] == []
    assert call(support, "list_tickets", shop["foreign_buyer"], {})["items"] == []
    for stranger in (shop["other_buyer"], shop["foreign_buyer"], shop["partner"]):
        assert refused(NotFound, call, support, "get_ticket", stranger, mine["reference"]).code == "ticket_not_found"
    # a buyer app acting for nobody is refused
    no_one = {"auth_token": shop["buyer"]["auth_token"]}
    assert refused(Forbidden, call, support, "list_tickets", no_one, {}).code == "customer_required"


def test_internal_messages_never_reach_a_buyer_app(support, shop, emitted):
    ticket = call(support, "create_ticket", shop["buyer"], buyer_issue())
    ref = ticket["reference"]
    call(support, "post_message", shop["agent"], ref, {"thread": "internal", "body": "Store says it was packed"})
    shown = call(support, "post_message", shop["agent"], ref, {"thread": "main", "body": "We are checking"})
    assert shown["status"] == "processing" and shown["first_response_at"]  # a direct reply acknowledges
    as_buyer = call(support, "get_ticket", shop["buyer"], ref)
    assert [m["body"] for m in as_buyer["messages"]] == ["Only one jar arrived.", "We are checking"]
    assert "audit" not in as_buyer
    assert refused(Forbidden, call, support, "post_message", shop["buyer"], ref,
                   {"thread": "internal", "body": "let me in"}).code == "role_not_allowed"
    posted = emitted("support", "message_posted", reference=ref, merchant_id=shop["id"])
    assert [(m["thread"], m["body"]) for m in posted] == [("internal", "Store says it was packed"),
                                                          ("main", "We are checking")]


def test_the_buyer_lifecycle_eta_resolution_closure_rating_and_reopening(support, shop, emitted):
    ref = call(support, "create_ticket", shop["buyer"], buyer_issue())["reference"]
    error = refused(ValidationFailed, call, support, "acknowledge_ticket", shop["agent"], ref, {"remarks": "On it"})
    assert error.code == "eta_required"
    eta = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    shown = call(support, "acknowledge_ticket", shop["agent"], ref, {"remarks": "On it", "eta": eta})
    assert shown["status"] == "processing" and shown["eta"]
    # closing is the buyer's: an agent may not close it for them
    assert refused(Forbidden, call, support, "close_ticket", shop["agent"], ref, {}).code == "role_not_allowed"
    too_much = {"action": "refund", "resolution": "Refunded", "refund_amount": 20000}
    assert "refund_amount" in refused(ValidationFailed, call, support, "resolve_ticket", shop["agent"], ref,
                                      too_much).fields
    shown = call(support, "resolve_ticket", shop["agent"], ref,
                 {"action": "refund", "resolution": "Refunded the missing jar", "refund_amount": 7500})
    assert shown["resolution"]["currency"] == "ZAR"
    closed = call(support, "close_ticket", shop["buyer"], ref, {"rating": 4, "remarks": "Quick"})
    assert (closed["status"], closed["rating"]) == ("closed", 4)
    error = refused(Conflict, call, support, "resolve_ticket", shop["agent"], ref,
                    {"action": "no_action", "resolution": "again"})
    assert error.fields == {"status": ["closed"]}
    reopened = call(support, "reopen_ticket", shop["buyer"], ref, {"reason": "The jar is broken too"})
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert [e["rating"] for e in emitted("support", "ticket_closed", reference=ref, merchant_id=shop["id"])] == [4]
    assert len(emitted("support", "ticket_reopened", reference=ref, merchant_id=shop["id"])) == 1


def test_reopening_is_refused_after_the_window(support, shop, query):
    ref = call(support, "create_ticket", shop["buyer"], buyer_issue())["reference"]
    call(support, "resolve_ticket", shop["agent"], ref, {"action": "replace", "resolution": "Sent another"})
    query("UPDATE support.tickets SET resolved_at = now() - interval '8 days' WHERE merchant_id = %s "
          "AND reference = %s", (shop["id"], ref))
    error = refused(Conflict, call, support, "reopen_ticket", shop["buyer"], ref, {"reason": "Still broken"})
    assert error.code == "reopen_window_passed"
    assert call(support, "get_ticket", shop["agent"], ref)["status"] == "resolved"


def test_images_are_required_for_itm02_and_checked_by_content(support, shop):
    error = refused(ValidationFailed, call, support, "create_ticket", shop["buyer"],
                    buyer_issue(sub_category="ITM02"))
    assert "attachment_ids" in error.fields
    fake = base64.b64encode(b"MZ\x90\x00 this is not a picture").decode()
    assert refused(UnsupportedMediaType, call, support, "upload_attachment", shop["buyer"], None, "photo.png",
                   fake).code == "attachment_type_refused"
    upload = call(support, "upload_attachment", shop["buyer"], None, "photo.png", png())
    assert upload["content_type"] == "image/png"
    # someone else's upload cannot be attached
    assert refused(ValidationFailed, call, support, "create_ticket", shop["other_buyer"],
                   buyer_issue(sub_category="ITM02", attachment_ids=[upload["id"]])).code == "attachment_not_found"
    ticket = call(support, "create_ticket", shop["buyer"], buyer_issue(sub_category="ITM02",
                                                                          attachment_ids=[upload["id"]]))
    got = call(support, "get_attachment", shop["agent"], ticket["reference"], upload["id"])
    assert base64.b64decode(got["content"]) == base64.b64decode(png())
    assert refused(NotFound, call, support, "get_attachment", shop["other_buyer"], ticket["reference"],
                   upload["id"]).code == "ticket_not_found"


# -- the logistics partner -------------------------------------------------------------------------

def test_cascade_to_the_logistics_partner_and_its_updates_on_the_trail(support, shop, emitted):
    ref = call(support, "create_ticket", shop["buyer"], buyer_issue(category="fulfilment",
                                                                     sub_category="FLM02"))["reference"]
    assert call(support, "list_tickets", shop["partner"], {})["items"] == []
    assert refused(Forbidden, call, support, "cascade_ticket", shop["store_user"], ref,
                   {"partner_client_id": shop["partner_id"]}).code == "role_not_allowed"
    shown = call(support, "cascade_ticket", shop["agent"], ref, {"partner_client_id": shop["partner_id"]})
    assert (shown["lsp_status"], shown["waiting_on"]) == ("pending", "partner")
    assert [t["reference"] for t in call(support, "list_tickets", shop["partner"], {})["items"]] == [ref]
    assert refused(NotFound, call, support, "get_ticket", shop["other_partner"], ref).code == "ticket_not_found"
    assert "status" in refused(ValidationFailed, call, support, "partner_update", shop["partner"], ref,
                               {"status": "lost"}).fields
    eta = (datetime.now(timezone.utc) + timedelta(hours=6)).isoformat()
    call(support, "partner_update", shop["partner"], ref, {"status": "processing", "eta": eta})
    done = call(support, "partner_update", shop["partner"], ref, {"status": "resolved", "remarks": "Delivered"})
    assert (done["lsp_status"], done["waiting_on"]) == ("resolved", None)
    assert done["messages"][-1]["body"] == "Logistics partner: resolved: Delivered"
    views = {v: [t["reference"] for t in call(support, "list_tickets", shop["agent"], {"view_by": v})["items"]]
             for v in ("lsp_pending", "lsp_resolved")}
    assert views == {"lsp_pending": [], "lsp_resolved": [ref]}
    [cascaded] = emitted("support", "ticket_cascaded", reference=ref, merchant_id=shop["id"])
    assert cascaded["partner_client_id"] == shop["partner_id"]
    off = call(support, "create_ticket", shop["buyer"], buyer_issue(delivery_type="off_network"))["reference"]
    assert refused(Conflict, call, support, "cascade_ticket", shop["agent"], off,
                   {"partner_client_id": shop["partner_id"]}).code == "not_on_network"


# -- escalation --------------------------------------------------------------------------------------

def test_escalation_up_the_chain_and_the_platform_queues(support, shop, emitted):
    ref = call(support, "create_ticket", shop["store_user"], {"subject": "Scanner broken", "description": "x",
                                                              "category": "technical"})["reference"]
    assert call(support, "list_tickets", shop["platform_support"], {})["items"] == []
    call(support, "escalate_ticket", shop["store_user"], ref, {"reason": "Needs the owner"})
    shown = call(support, "escalate_ticket", shop["owner"], ref, {"reason": "Beyond us"})
    assert shown["escalation_level"] == "platform_support"
    assert shown["messages"][-1]["thread"] == "internal"
    queue = call(support, "list_tickets", shop["platform_support"], {})["items"]
    assert [(t["reference"], t["merchant_id"]) for t in queue] == [(ref, shop["id"])]
    assert call(support, "list_tickets", shop["it_support"], {})["items"] == []
    assert refused(Forbidden, call, support, "escalate_ticket", shop["owner"], ref,
                   {"reason": "Hurry up"}).code == "role_not_allowed"
    as_platform = call(support, "get_ticket", shop["platform_support"], ref, shop["id"])
    assert "internal" in {m["thread"] for m in as_platform["messages"]}
    call(support, "escalate_ticket", shop["platform_support"], ref, {"reason": "Firmware bug"}, shop["id"])
    assert [t["reference"] for t in call(support, "list_tickets", shop["it_support"], {})["items"]] == [ref]
    assert refused(Conflict, call, support, "escalate_ticket", shop["it_support"], ref, {"reason": "nobody"},
                   shop["id"]).code == "escalation_exhausted"
    levels = [e["level"] for e in emitted("support", "ticket_escalated", reference=ref, merchant_id=shop["id"])]
    assert levels == ["owner", "platform_support", "it_support"]
    history = call(support, "ticket_history", shop["owner"], ref)["items"]
    assert [(h["action"], h["actor"]["role"]) for h in history if h["action"] == "escalated"] == [
        ("escalated", "store_user"), ("escalated", "owner"), ("escalated", "platform_support")]
    assert refused(Forbidden, call, support, "ticket_history", shop["agent"], ref).code == "role_not_allowed"


# -- automatic assignment ------------------------------------------------------------------------------

def test_a_burst_of_tickets_never_puts_an_agent_above_capacity(support, shop, query, make_config, amqp_uri):
    agents = [new_id() for _ in range(3)]
    for n, agent in enumerate(agents):
        query("INSERT INTO support.agents (merchant_id, user_id, username, capacity, available) VALUES "
              "(%s, %s, %s, %s, %s)", (shop["id"], agent, "agent-%d" % n, 15, n != 2))
    call(support, "set_sla_settings", shop["owner"], {"assignment_mode": "least_loaded"})

    def raise_some(n):
        with ServiceRpcProxy("support", make_config("support", AMQP_URI=amqp_uri), context_data=shop["owner"],
                             timeout=60) as proxy:
            return [proxy.create_ticket({"subject": "Burst %d-%d" % (n, i), "description": "x",
                                         "category": "other"})["reference"] for i in range(10)]

    pile = eventlet.GreenPile(8)
    for n in range(8):
        pile.spawn(raise_some, n)
    assert sum(len(refs) for refs in pile) == 80
    counts = {row["a"]: row["n"] for row in query(
        "SELECT assignee_id::text AS a, count(*) AS n FROM support.tickets WHERE merchant_id = %s GROUP BY 1",
        (shop["id"],))}
    assert counts == {agents[0]: 15, agents[1]: 15, None: 50}  # the unavailable agent gets none
    unassigned = call(support, "list_tickets", shop["agent"], {"unassigned": True, "limit": 200})["items"]
    assert len(unassigned) == 50


def test_round_robin_takes_turns(support, shop, query):
    agents = sorted(new_id() for _ in range(2))
    for agent in agents:
        query("INSERT INTO support.agents (merchant_id, user_id, username) VALUES (%s, %s, %s)",
              (shop["id"], agent, agent[:6]))
    call(support, "set_sla_settings", shop["owner"], {"assignment_mode": "round_robin"})
    got = [call(support, "create_ticket", shop["owner"], {"subject": "Turn %d" % n, "description": "x",
                                                          "category": "other"})["assignee_id"] for n in range(4)]
    assert got == [agents[0], agents[1], agents[0], agents[1]]


# -- the clock -------------------------------------------------------------------------------------------

def sweep(support):
    with entrypoint_hook(support, "flag_overdue_tickets") as hook:
        hook()


def test_the_timer_flags_a_breach_once_says_why_and_pauses_while_waiting(support, shop, query, emitted):
    call(support, "set_sla_settings", shop["owner"], {"policies": [
        {"priority": "high", "first_response_minutes": 30, "next_response_minutes": 60}]})
    high = call(support, "create_ticket", shop["owner"], {"subject": "Urgent", "description": "x",
                                                          "category": "other", "priority": "high"})
    assert datetime.fromisoformat(high["ack_due_at"]) - datetime.fromisoformat(high["created_at"]) == \
        timedelta(minutes=30)
    waiting = call(support, "create_ticket", shop["owner"], {"subject": "Waiting", "description": "x",
                                                             "category": "other", "priority": "high"})
    query("UPDATE support.tickets SET ack_due_at = now() - interval '1 minute', waiting_on = "
          "CASE WHEN reference = %s THEN 'requester' END WHERE merchant_id = %s",
          (waiting["reference"], shop["id"]))
    sweep(support)
    sweep(support)
    overdue = emitted("support", "ticket_overdue", merchant_id=shop["id"])
    assert [(e["reference"], e["reason"]) for e in overdue] == [(high["reference"], "first_response")]
    shown = call(support, "get_ticket", shop["agent"], high["reference"])
    assert (shown["status"], shown["overdue"], shown["overdue_reason"]) == ("open", True, "first_response")
    # acknowledging ends that breach
    call(support, "acknowledge_ticket", shop["agent"], high["reference"], {"remarks": "Sorry"})
    assert call(support, "get_ticket", shop["agent"], high["reference"])["overdue"] is False


def test_a_bad_sla_setting_is_refused_and_nothing_changes(support, shop):
    before = call(support, "get_sla_settings", shop["owner"])
    for bad in ({"timezone": "Mars/Olympus"}, {"hours": {"mon": [["09:00", "25:00"]]}},
                {"policies": [{"priority": "high", "first_response_minutes": 0}]}):
        refused(ValidationFailed, call, support, "set_sla_settings", shop["owner"], bad)
    assert call(support, "get_sla_settings", shop["owner"]) == before
    assert refused(Forbidden, call, support, "set_sla_settings", shop["agent"], {}).code == "role_not_allowed"


# -- duplicates, merge, CSAT, dashboard ----------------------------------------------------------------------

def test_duplicates_are_detected_and_merged(support, shop, emitted):
    first = call(support, "create_ticket", shop["buyer"], buyer_issue())
    again = call(support, "create_ticket", shop["buyer"], buyer_issue(description="Still missing!"))
    assert "duplicate_of" not in again  # buyers are not told: the desk is
    assert call(support, "get_ticket", shop["agent"], again["reference"])["duplicate_of"] == first["reference"]
    merged = call(support, "merge_ticket", shop["agent"], again["reference"], {"into": first["reference"]})
    assert (merged["status"], merged["merged_into"]) == ("closed", first["reference"])
    assert refused(Conflict, call, support, "merge_ticket", shop["agent"], again["reference"],
                   {"into": first["reference"]}).code == "illegal_transition"
    assert call(support, "get_ticket", shop["agent"], first["reference"])["status"] == "open"


def test_the_dashboard_counts_real_tickets(support, shop, query):
    critical = call(support, "create_ticket", shop["owner"], {"subject": "Down", "description": "x",
                                                              "category": "technical", "priority": "critical",
                                                              "store_id": shop["store"]})
    other = call(support, "create_ticket", shop["owner"], {"subject": "Card", "description": "x",
                                                           "category": "wallet"})
    call(support, "acknowledge_ticket", shop["agent"], other["reference"], {"remarks": "ok"})
    call(support, "resolve_ticket", shop["agent"], critical["reference"], {"action": "no_action",
                                                                           "resolution": "Rebooted"})
    board = call(support, "dashboard", shop["owner"], {})
    overall = board["overall"]
    assert (overall["open"], overall["critical"], overall["sla_attainment_percent"]) == (1, 0, 100.0)
    assert overall["avg_first_response_seconds"] is not None and overall["avg_resolution_seconds"] is not None
    by_store = {s["store_id"]: s for s in board["by_store"]}
    assert by_store[shop["store"]]["open"] == 0 and by_store[None]["open"] == 1
    assert {c["category"] for c in board["by_category"]} == {"technical", "wallet"}
    counts = call(support, "ticket_counts", shop["agent"], {})
    assert (counts["processing"], counts["resolved"], counts["open"]) == (1, 1, 0)
    # the counters the trigger keeps equal a count from scratch
    stats = "SELECT * FROM support.ticket_stats WHERE merchant_id = %s ORDER BY store_key, category"
    kept = query(stats, (shop["id"],))
    query("SELECT support.ticket_stats_rebuild()")
    assert query(stats, (shop["id"],)) == kept


# -- chat and email ------------------------------------------------------------------------------------------

def test_chat_from_the_buyer_app_to_a_ticket(support, shop, emitted):
    started_ = call(support, "start_conversation", shop["buyer"], {"body": "Is my voucher still valid?"})
    cid = started_["id"]
    assert [c["id"] for c in call(support, "list_conversations", shop["agent"], {})["items"]] == [cid]
    assert call(support, "list_conversations", shop["other_buyer"], {})["items"] == []
    assert refused(NotFound, call, support, "get_conversation", shop["other_buyer"], cid).code == \
        "conversation_not_found"
    call(support, "post_conversation_message", shop["agent"], cid, {"body": "Yes, until Friday"})
    said = emitted("support", "conversation_message", conversation_id=cid)
    assert [(m["author_kind"], m["customer_online"]) for m in said] == [("customer", True), ("staff", True)]
    photo = call(support, "upload_conversation_attachment", shop["buyer"], cid, "voucher.png", png())
    call(support, "post_conversation_message", shop["buyer"], cid, {"body": "", "attachment_ids": [photo["id"]]})
    unsent = call(support, "upload_conversation_attachment", shop["buyer"], cid, "draft.png", png())
    ticket = call(support, "conversation_to_ticket", shop["agent"], cid, {"subject": "Voucher validity",
                                                                           "category": "redemption"})
    assert ticket["source"] == "chat" and ticket["customer_id"] == shop["customer"]
    # the file the customer sent goes with the ticket (the one never sent does not), to both sides
    for reader in ("agent", "buyer"):
        shown = call(support, "get_ticket", shop[reader], ticket["reference"])
        assert [f["id"] for f in shown["attachments"]] == [photo["id"]]
        assert "customer: (sent a file)" in shown["messages"][0]["body"]
        got = call(support, "get_attachment", shop[reader], ticket["reference"], photo["id"])
        assert got["filename"] == "voucher.png" and got["content"] == png()
    assert refused(NotFound, call, support, "get_attachment", shop["agent"], ticket["reference"],
                   unsent["id"]).code == "attachment_not_found"
    assert [t["reference"] for t in call(support, "list_tickets", shop["buyer"], {})["items"]] == \
        [ticket["reference"]]
    assert refused(Conflict, call, support, "conversation_to_ticket", shop["agent"], cid,
                   {"subject": "Again", "category": "other"}).code == "already_a_ticket"


def test_mail_opens_a_ticket_or_lands_on_its_main_thread_once(support, shop, dispatch):
    def deliver(event):
        event_id = new_id()
        with handling(support, "take_in_email", event_id) as result:
            dispatch(event, event_id=event_id)
        result.get()

    mail = example(EmailReceived, merchant_id=shop["id"])
    deliver(mail)
    deliver(mail)  # the same mail again
    [opened] = call(support, "list_tickets", shop["agent"], {})["items"]
    assert (opened["source"], opened["subject"], opened["requester"]) == (
        "email", mail.subject, {"kind": "email", "id": mail.from_address})  # an address, not a customer id
    reply = example(EmailReceived, merchant_id=shop["id"], ticket_reference=opened["reference"],
                    body="Here is my receipt number 8812")
    deliver(reply)
    deliver(reply)
    shown = call(support, "get_ticket", shop["agent"], opened["reference"])
    assert [m["body"] for m in shown["messages"]] == [mail.body, "Here is my receipt number 8812"]


def test_deadlines_run_in_the_stores_time_zone_over_its_business_hours(support, shop):
    # the merchant's desk works 08:00-12:00 and 13:00-17:00 every day; this store is in Sydney
    every_day = {day: [["08:00", "12:00"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri",
                                                                            "sat", "sun")}
    call(support, "set_sla_settings", shop["owner"], {
        "timezone": "UTC", "store_timezones": {shop["store"]: "Australia/Sydney"}, "hours": every_day,
        "policies": [{"priority": "normal", "first_response_minutes": 5 * 60}]})
    at_store = call(support, "create_ticket", shop["store_user"], {"subject": "Till", "description": "x",
                                                                  "category": "technical"})
    elsewhere = call(support, "create_ticket", shop["owner"], {"subject": "Card", "description": "x",
                                                              "category": "wallet"})
    for shown, zone in ((at_store, "Australia/Sydney"), (elsewhere, "UTC")):
        calendar = sla.Calendar.of(zone, every_day)
        created = datetime.fromisoformat(shown["created_at"])
        assert datetime.fromisoformat(shown["ack_due_at"]) == sla.deadline(calendar, created, 5 * 3600)
        assert calendar.working(datetime.fromisoformat(shown["ack_due_at"]) - timedelta(seconds=1))


# -- canned responses -----------------------------------------------------------------------------
def test_two_responses_renamed_to_one_title_at_once_one_is_refused(support, shop, database_url, query):
    first = call(support, "create_canned_response", shop["agent"], {"title": "Thanks", "body": "Thank you."})
    second = call(support, "create_canned_response", shop["agent"], {"title": "Delay", "body": "Running late."})
    other_agent = psycopg2.connect(database_url)  # renames the first, and has not committed yet
    try:
        with other_agent.cursor() as cur:
            cur.execute("UPDATE support.canned_responses SET title = 'Sorry' WHERE id = %s", (first["id"],))
        renaming = eventlet.spawn(call, support, "update_canned_response", shop["agent"], second["id"],
                                  {"title": "Sorry", "body": "Sorry for the wait."})
        # the second rename waits on the title's unique index for the first to commit
        wait_until(lambda: query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'")[0]["n"])
        other_agent.commit()
        with pytest.raises(Conflict) as raised:
            renaming.wait()
        assert raised.value.code == "title_taken"
    finally:
        other_agent.close()
    assert sorted((r["title"], r["body"]) for r in call(
        support, "list_canned_responses", shop["agent"])["items"]) == [("Delay", "Running late."),
                                                                      ("Sorry", "Thank you.")]
